"""The README's results table: Set5/Set14 PSNR/SSIM (the paper's protocol) for bicubic, the authors'
SRCNN 9-5-5 weights and every model bundled in srcnn/weights, with the published figures beside them,
and each model's size and cost: parameters, multiply-adds per output pixel, CPU speed.

    python benchmarks/results_table.py [--data-root DIR] [--weights DIR] [--json FILE] [--self-ensemble [NAME ...]]

The authors' row needs <root>/reference/srcnn_official (see ../shared/datasets/SOURCES.txt) and scipy;
a bundled model is shown at the scales it has weights for ("-" elsewhere). Params, mult-adds and speed
are those of the x3 network (for a model without x3 weights: its architecture built for x3). Speed:
super_resolve of a 171x171 RGB image to 513x513 on the CPU (whatever torch.get_num_threads() says),
median of SPEED_RUNS runs after one warm-up. Markdown on stdout, ready for the README.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from srcnn import weightfiles  # noqa: E402
from srcnn.datasets import data_root, resolve_set  # noqa: E402
from srcnn.cli.common import run  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.evaluation import evaluate_set  # noqa: E402
from srcnn.files import atomic_text  # noqa: E402
from srcnn.inference import super_resolve  # noqa: E402
from srcnn.models import build_model, count_parameters, macs_per_pixel  # noqa: E402
from srcnn.weightfiles import REAL, bundled_file, bundled_models, load_file  # noqa: E402

SETS, SCALES = ("Set5", "Set14"), (2, 3, 4)
SPEED_SCALE, SPEED_LR_SIDE, SPEED_RUNS = 3, 171, 5
AUTHORS = "SRCNN 9-5-5 ImageNet (authors' weights)"
TITLES = {"fsrcnn": "FSRCNN", "fsrcnn-s": "FSRCNN-s", "espcn": "ESPCN", "vdsr": "VDSR"}
FAMILIES = ("srcnn", "fsrcnn", "espcn", "vdsr")  # row order

# Published PSNR (dB, Y channel, the same protocol), keyed by model name. The SRCNN, bicubic and VDSR
# figures were checked against the papers (SRCNN's also by running the authors' weights here); the FSRCNN
# and ESPCN ones are quoted from the papers' tables as cited below and were not re-checked in this project.
PUBLISHED = {
    # SRCNN: Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2015, Tables 2
    # and 3 (bicubic, and SRCNN 9-5-5 trained on ImageNet: the authors' released weights)
    "bicubic": {("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
                ("Set14", 2): 30.23, ("Set14", 3): 27.54, ("Set14", 4): 26.00},
    "srcnn": {("Set5", 2): 36.66, ("Set5", 3): 32.75, ("Set5", 4): 30.48,
              ("Set14", 2): 32.45, ("Set14", 3): 29.30, ("Set14", 4): 27.50},
    # FSRCNN: Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network", ECCV 2016,
    # Table 3 (d=56, s=12, m=4, trained on 91 images + General-100)
    "fsrcnn": {("Set5", 2): 37.00, ("Set5", 3): 33.16, ("Set5", 4): 30.71,
               ("Set14", 2): 32.63, ("Set14", 3): 29.43, ("Set14", 4): 27.59},
    # ESPCN: Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
    # Convolutional Neural Network", CVPR 2016, comparison table (trained on ImageNet; no x2 in the paper)
    "espcn": {("Set5", 3): 33.13, ("Set5", 4): 30.90, ("Set14", 3): 29.49, ("Set14", 4): 27.73},
    # VDSR: Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks",
    # CVPR 2016, Table 3 (one network for x2, x3, x4, trained on 291 images)
    "vdsr": {("Set5", 2): 37.53, ("Set5", 3): 33.66, ("Set5", 4): 31.35,
             ("Set14", 2): 33.03, ("Set14", 3): 29.77, ("Set14", 4): 28.01},
}
PUBLISHED[AUTHORS] = PUBLISHED["srcnn"]


def title(name: str, cfg: dict) -> str:
    """"SRCNN 9-5-5", "FSRCNN", ... (the registry name for the SRCNN variants)."""
    if name == "srcnn":
        return f"SRCNN {cfg.get('f1', 9)}-{cfg.get('f2', 5)}-{cfg.get('f3', 5)}"
    return TITLES.get(name, name)


def speed(model, ensemble: bool = False) -> float:
    """Output megapixels per second of super_resolve at x3 on the CPU (median of SPEED_RUNS)."""
    r = np.random.default_rng(0)
    lr = r.integers(0, 256, (SPEED_LR_SIDE, SPEED_LR_SIDE, 3), dtype=np.uint8)
    model = model.cpu().eval()
    super_resolve(lr, model, SPEED_SCALE, ensemble=ensemble)  # warm-up
    times = []
    for _ in range(SPEED_RUNS):
        t0 = time.perf_counter()
        super_resolve(lr, model, SPEED_SCALE, ensemble=ensemble)
        times.append(time.perf_counter() - t0)
    return (SPEED_LR_SIDE * SPEED_SCALE) ** 2 / 1e6 / statistics.median(times)


def x3_network(path: Path):
    """The x3 network of a weights file: itself if it serves x3, else its architecture built for x3."""
    model, meta = load_file(path)
    if getattr(model, "upscale", 1) in (1, SPEED_SCALE):
        return model
    return build_model(**{**meta["model"], "scale": SPEED_SCALE}).eval()


def cost(model, ensemble: bool = False) -> dict:
    n = 8 if ensemble else 1
    return {"params": count_parameters(model), "macs_per_pixel": n * macs_per_pixel(model, SPEED_SCALE),
            "cpu_mp_per_s": speed(model, ensemble)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", help="datasets root (default $SRCNN_DATA, else ./datasets)")
    ap.add_argument("--weights", metavar="DIR", help="folder of <name>_x<s>.pt files to show instead of "
                                                     "srcnn/weights (e.g. before copying new ones there)")
    ap.add_argument("--self-ensemble", nargs="*", metavar="NAME",
                    help="also a '+se' row (8 flips/rotations averaged; 8x the time) for the named bundled "
                         "models, or for every one when no name is given")
    ap.add_argument("--json", help="also write the raw numbers here")
    args = ap.parse_args()
    if args.weights:
        weightfiles.WEIGHTS_DIR = Path(args.weights)
    root = data_root(args.data_root)
    folders = {s: resolve_set(s, root) for s in SETS}
    official = root / "reference" / "srcnn_official" / "9-5-5_imagenet"

    # rows: label -> {"name": registry name for PUBLISHED, "cells": {(set, scale): (psnr, ssim)}, "cost"}
    rows = {"bicubic": {"name": "bicubic", "cells": {}, "cost": None}}
    if (official / f"x{SPEED_SCALE}.mat").is_file():
        rows[AUTHORS] = {"name": AUTHORS, "cells": {}, "cost": cost(load_file(official / f"x{SPEED_SCALE}.mat")[0])}
    def order(name):
        family = name.split("-")[0]
        return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), name

    for name in sorted({b.name for b in bundled_models() if not b.name.endswith(REAL)}, key=order):  # -real: real_photos.py
        files = [b for b in bundled_models() if b.name == name]
        cfg = load_file(files[0].path)[1]["model"]
        label = f"{title(name, cfg)} (this project, bundled)"
        net = x3_network(next((b.path for b in files if SPEED_SCALE in b.scales), files[0].path))
        rows[label] = {"name": name, "cells": {}, "cost": cost(net), "file": name}
        if args.self_ensemble is not None and (not args.self_ensemble or name in args.self_ensemble):
            rows[label + " +se"] = {"name": name, "cells": {}, "cost": cost(net, ensemble=True), "file": name,
                                    "se": True}
        print(f"{label}: {', '.join(b.path.name for b in files)}", file=sys.stderr, flush=True)

    for scale in SCALES:
        nets = {}  # label -> its network at this scale
        if AUTHORS in rows and (official / f"x{scale}.mat").is_file():
            nets[AUTHORS] = load_file(official / f"x{scale}.mat")[0]
        for label, row in rows.items():
            if "file" in row and not row.get("se"):
                try:
                    nets[label] = load_file(bundled_file(row["file"], scale))[0]
                except SRCNNError:  # no weights for this scale: "-"
                    pass
        for set_name, folder in folders.items():
            bic = evaluate_set(folder, scale, None, set_name=set_name)[0]
            rows["bicubic"]["cells"][set_name, scale] = (bic["psnr"], bic["ssim"])
            for label, net in nets.items():
                se = label + " +se" in rows
                res = evaluate_set(folder, scale, net, set_name=set_name, self_ensemble=se)
                rows[label]["cells"][set_name, scale] = (res[1]["psnr"], res[1]["ssim"])
                if se:
                    rows[label + " +se"]["cells"][set_name, scale] = (res[2]["psnr"], res[2]["ssim"])
            print(f"done {set_name} x{scale}", file=sys.stderr, flush=True)

    cols = [(s, k) for s in SETS for k in SCALES]
    print("| PSNR dB / SSIM | " + " | ".join(f"{s} x{k}" for s, k in cols)
          + f" | params | mult-adds / px | CPU MP/s (x{SPEED_SCALE}) |")
    print("|---|" + "---|" * len(cols) + "---:|---:|---:|")
    for label, row in rows.items():
        pub = {} if row.get("se") else PUBLISHED.get(row["name"], {})
        cells = []
        for c in cols:
            if c not in row["cells"]:
                cells.append("-")
                continue
            p, s = row["cells"][c]
            cells.append(f"{p:.2f} / {s:.4f}" + (f" ({pub[c]:.2f})" if c in pub else ""))
        k = row["cost"]
        extra = ["-", "-", "-"] if k is None else [
            f"{k['params']:,}", f"{k['macs_per_pixel'] / 1e3:,.1f}k", f"{k['cpu_mp_per_s']:.2f}"]
        print(f"| {label} | " + " | ".join(cells + extra) + " |")
    print(f"\n(in brackets: the published PSNR of the architecture, trained on the paper's data; mult-adds "
          f"per output pixel at x{SPEED_SCALE}; CPU speed: {SPEED_LR_SIDE}x{SPEED_LR_SIDE} RGB -> "
          f"{SPEED_LR_SIDE * SPEED_SCALE}x{SPEED_LR_SIDE * SPEED_SCALE}, median of {SPEED_RUNS}, "
          f"{torch.get_num_threads()} threads)")
    if args.json:
        atomic_text(args.json, json.dumps({
            label: {"cells": {f"{s}_x{k}": v for (s, k), v in row["cells"].items()}, "cost": row["cost"],
                    "published": {} if row.get("se") else
                    {f"{s}_x{k}": v for (s, k), v in PUBLISHED.get(row["name"], {}).items()}}
            for label, row in rows.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
