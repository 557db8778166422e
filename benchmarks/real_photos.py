"""The README's "Real photos" table and picture: the bundled models on degraded inputs.

    python benchmarks/real_photos.py table [--data-root DIR] [--json FILE] [--only NAMES]
    python benchmarks/real_photos.py picture [--out docs/real_compare.png]

table: Y PSNR/SSIM (border shaved, the paper's metric) of bicubic, the clean bundled models and the
``-real`` ones on Set14 and B100 at x2/x3/x4 degraded by ``evaluate.py --degradation real`` (the default
ranges, seeded per image name and scale: srcnn.degradation), and of each ``-real`` model beside its
clean namesake on Set5/Set14 under the paper's protocol (what a -real model costs on clean inputs).
Writes the JSON (the one source of the README table and of srcnn.list_models()'s Set5 figures of the
-real models, shipped beside their weights; tests/test_real_photos.py checks the README against it) and
prints the markdown table.

picture: a JPEG the way photos reach users (the bundled test chart, srcnn/sample.py, shrunk x3 with
OpenCV's area resize, Gaussian noise of 4 grey levels, JPEG quality 40, written and read back as a
file) through bicubic | the clean FSRCNN | FSRCNN-real, at x3, crops side by side.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))   # results_table.py beside it
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from srcnn import __version__  # noqa: E402
from srcnn.cli.common import run  # noqa: E402
from srcnn.datasets import data_root, resolve_set  # noqa: E402
from srcnn.degradation import RealDegradation  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.evaluation import evaluate_set, side_by_side  # noqa: E402
from srcnn.files import atomic_text  # noqa: E402
from srcnn.images import read_image, write_image  # noqa: E402
from srcnn.resize import imresize  # noqa: E402
from srcnn.weightfiles import REAL, architecture, bundled_models, load_weights  # noqa: E402
from results_table import read_results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEGRADED_SETS, CLEAN_SETS, SCALES = ("Set14", "B100"), ("Set5", "Set14"), (2, 3, 4)
CLEAN = ("srcnn", "fsrcnn", "espcn")  # the paper-trained bundled names, in the table's order
TITLES = {"bicubic": "bicubic", "srcnn": "SRCNN", "fsrcnn": "FSRCNN", "espcn": "ESPCN"}


def real_names() -> list[str]:
    """The bundled -real names (fsrcnn-real, ...), sorted."""
    return sorted({b.name for b in bundled_models() if b.name.endswith(REAL)})


def title(name: str) -> str:
    base = architecture(name)
    return TITLES.get(base, base) + (REAL if name.endswith(REAL) else "")


def _score(folder: Path, scale: int, name: str | None, degradation) -> list[float]:
    model = None
    if name is not None:
        model = load_weights(name, scale).model
    r = evaluate_set(folder, scale, model, degradation=degradation)[-1]
    return [round(r["psnr"], 4), round(r["ssim"], 4)]


def table(args) -> int:
    """Score every row (or with --only, those rows, the others kept from --json) and write --json."""
    root = data_root(args.data_root)
    real = real_names()
    if not real:
        raise SRCNNError("no -real weights are bundled (srcnn/weights/<name>-real_x<s>.pt)")
    d = RealDegradation()
    old = {}
    if args.only:
        if not Path(args.json).is_file():
            raise SRCNNError(f"{args.json}: --only updates an existing results file; there is none")
        old = read_results(args.json, "degraded")
    todo = set(args.only or ["bicubic", *CLEAN, *real])
    out = {"degradation": d.params(), "degraded": {}, "clean": {}, "srcnn_version": __version__,
           "command": "python benchmarks/real_photos.py table"}
    plan = [("degraded", DEGRADED_SETS, ["bicubic", *CLEAN, *real], d),
            ("clean", CLEAN_SETS, [*sorted({architecture(r) for r in real}), *real], None)]
    for part, sets, names, degradation in plan:
        for set_name in sets:
            folder = resolve_set(set_name, root)
            for s in SCALES:
                key = f"{set_name} x{s}"
                cell = out[part][key] = {}
                for n in names:
                    if n in todo:
                        cell[n] = _score(folder, s, None if n == "bicubic" else n, degradation)
                    elif n in old.get(part, {}).get(key, {}):
                        cell[n] = old[part][key][n]
                    else:
                        raise SRCNNError(f"{args.json}: no {part} {key} figure for {n}; score it (--only {n})")
                print(f"{part} {key}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in cell.items()),
                      file=sys.stderr, flush=True)
    atomic_text(args.json, json.dumps(out, indent=1) + "\n", "results")
    print(markdown(out))
    return 0


def markdown(res: dict) -> str:
    """The README table of a results file (the rows: bicubic, the clean models, the -real ones)."""
    cols = list(res["degraded"])
    names = list(next(iter(res["degraded"].values())))
    lines = ["| Y PSNR dB / SSIM, degraded inputs | " + " | ".join(cols) + " |",
             "|---|" + "---|" * len(cols)]
    for n in names:
        cells = []
        for c in cols:
            p, q = res["degraded"][c][n]
            best = p == max(v[0] for v in res["degraded"][c].values())
            cells.append(f"**{p:.2f}** / {q:.4f}" if best else f"{p:.2f} / {q:.4f}")
        lines.append(f"| {title(n)} | " + " | ".join(cells) + " |")
    ccols = list(res["clean"])
    lines += ["", "| Y PSNR dB, clean inputs (the paper's protocol) | " + " | ".join(ccols) + " |",
              "|---|" + "---|" * len(ccols)]
    for n in next(iter(res["clean"].values())):
        lines.append(f"| {title(n)} | " + " | ".join(f"{res['clean'][c][n][0]:.2f}" for c in ccols) + " |")
    return "\n".join(lines)


def picture(args) -> int:
    from srcnn.api import load
    from srcnn.sample import sample_image
    scale, crop, zoom = 3, 144, 2
    hr = sample_image()
    small = cv2.resize(hr, (hr.shape[1] // scale, hr.shape[0] // scale), interpolation=cv2.INTER_AREA)
    noisy = np.clip(small + np.random.default_rng(0).normal(0, 4, small.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        jpg = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(jpg), noisy[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 40])
        lr = read_image(jpg)
    real = next((n for n in real_names() if n.startswith("fsrcnn")), None)
    if real is None:
        raise SRCNNError("no fsrcnn-real weights are bundled")
    views = [np.clip(imresize(lr, scale), 0, 255).astype(np.uint8), load("fsrcnn", scale=scale)(lr),
             load(real, scale=scale)(lr)]
    labels = [f"bicubic x{scale}", f"FSRCNN x{scale} (clean)", f"FSRCNN-real x{scale}"]
    boxes = [(8, 198), (24, 408)]  # the text and the Siemens star of the chart (top, left; HR pixels)
    rows = [side_by_side([v[y:y + crop, x:x + crop] for v in views], labels, zoom=zoom) for y, x in boxes]
    pic = np.concatenate([rows[0], np.full((6, rows[0].shape[1], 3), 255, np.uint8), rows[1]], axis=0)
    write_image(args.out, pic)
    print(f"wrote {args.out} ({pic.shape[1]}x{pic.shape[0]})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="score the models on degraded and clean sets; write the JSON")
    t.add_argument("--data-root", metavar="DIR", help="datasets root (default: $SRCNN_DATA, else ./datasets)")
    t.add_argument("--json", default=str(REPO / "srcnn" / "weights" / "results_real.json"), metavar="FILE",
                   help="results file (default: srcnn/weights/results_real.json)")
    t.add_argument("--only", type=lambda v: v.split(","), metavar="NAME[,NAME...]",
                   help="score only these rows (bicubic, srcnn, fsrcnn, espcn, fsrcnn-real, ...) and keep the "
                        "others from --json: after a weight update, its rows alone")
    q = sub.add_parser("picture", help="the README's picture: a JPEG through bicubic | FSRCNN | FSRCNN-real")
    q.add_argument("--out", default=str(REPO / "docs" / "real_compare.png"), metavar="PNG",
                   help="output (default: docs/real_compare.png)")
    args = p.parse_args(argv)
    return run(lambda: table(args) if args.cmd == "table" else picture(args))


if __name__ == "__main__":
    sys.exit(main())
