"""The README's results table: Set5/Set14 PSNR/SSIM (paper's protocol) for bicubic, the authors' SRCNN
9-5-5 weights and this project's bundled weights, with the published figures beside them.

    python benchmarks/results_table.py [--data-root DIR] [--json results.json]

The authors' rows need <root>/reference/srcnn_official (see ../shared/datasets/SOURCES.txt) and scipy;
a bundled row is left out for a scale whose weights are missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.checkpoint import load_model  # noqa: E402
from srcnn.datasets import data_root, resolve_set  # noqa: E402
from srcnn.evaluation import evaluate_set  # noqa: E402
from srcnn.inference import WEIGHTS_DIR  # noqa: E402

SETS, SCALES = ("Set5", "Set14"), (2, 3, 4)
PUBLISHED = {  # SRCNN, TPAMI 2015, Tables 2 and 3 (PSNR)
    "bicubic": {("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
                ("Set14", 2): 30.23, ("Set14", 3): 27.54, ("Set14", 4): 26.00},
    "SRCNN 9-5-5 ImageNet (authors' weights)": {
        ("Set5", 2): 36.66, ("Set5", 3): 32.75, ("Set5", 4): 30.48,
        ("Set14", 2): 32.45, ("Set14", 3): 29.30, ("Set14", 4): 27.50},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="datasets root (default $SRCNN_DATA, else ./datasets)")
    ap.add_argument("--json", help="also write the raw numbers here")
    args = ap.parse_args()
    root = data_root(args.data_root)
    official = root / "reference" / "srcnn_official" / "9-5-5_imagenet"
    methods = {"bicubic": {}, "SRCNN 9-5-5 ImageNet (authors' weights)": {}, "SRCNN 9-5-5 (this project, bundled)": {}}
    for scale in SCALES:
        sources = {"SRCNN 9-5-5 ImageNet (authors' weights)": official / f"x{scale}.mat",
                   "SRCNN 9-5-5 (this project, bundled)": WEIGHTS_DIR / f"srcnn_x{scale}.pt"}
        models = {name: load_model(p)[0] for name, p in sources.items() if p.is_file()}
        for set_name in SETS:
            folder = resolve_set(set_name, root)
            bic = None
            for name, model in models.items():
                bic, sr = evaluate_set(folder, scale, model, set_name=set_name, method=name)
                methods[name][set_name, scale] = (sr["psnr"], sr["ssim"])
            if bic is None:
                bic = evaluate_set(folder, scale, None, set_name=set_name)[0]
            methods["bicubic"][set_name, scale] = (bic["psnr"], bic["ssim"])
    cols = [(s, k) for s in SETS for k in SCALES]
    print("| PSNR dB / SSIM | " + " | ".join(f"{s} x{k}" for s, k in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, cells in methods.items():
        if not cells:
            continue
        pub = PUBLISHED.get(name, {})
        row = []
        for c in cols:
            if c not in cells:
                row.append("-")
                continue
            p, s = cells[c]
            row.append(f"{p:.2f} / {s:.4f}" + (f" ({pub[c]:.2f})" if c in pub else ""))
        print(f"| {name} | " + " | ".join(row) + " |")
    print("\n(in brackets: the published PSNR)")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {name: {f"{s}_x{k}": v for (s, k), v in cells.items()} for name, cells in methods.items()}, indent=1))


if __name__ == "__main__":
    main()
