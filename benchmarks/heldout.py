"""Held-out PSNR/SSIM of weight files on the /val images of a prepare_data.py file: the figure that selects
bundled weights (Set5/Set14 are for reporting only). Uses the validation of train.py itself
(srcnn.evaluation.score_model on the validation_items of srcnn.data.read_val), so a checkpoint scores what its training log says.

    python benchmarks/heldout.py --data t91_lr_x3.h5 srcnn/weights/fsrcnn_x3.pt runs/fsrcnn_x3/checkpoint.best
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.data import open_patches, read_val  # noqa: E402
from srcnn.cli.common import run  # noqa: E402
from srcnn.cli.train_model import check_fits_data  # noqa: E402
from srcnn.evaluation import score_model, validation_items  # noqa: E402
from srcnn.weightfiles import load_file  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", help="checkpoints or exported .pt files (a checkpoint's EMA weights when it has them)")
    ap.add_argument("--data", required=True, help="the prepare_data.py file whose /val images score")
    a = ap.parse_args()
    pf = open_patches(a.data)
    val = validation_items(read_val(pf))
    models = {w: load_file(w)[0] for w in a.weights}  # every file checked before the table starts
    for w, model in models.items():
        check_fits_data(pf, model, where=f"{w}: ")
    print(f"{len(val)} held-out image(s) of {pf.name}")
    print("| weights | held-out PSNR dB | SSIM |\n|---|---:|---:|")
    for w, model in models.items():
        p, s = score_model(model, val)
        print(f"| {w} | {p:.3f} | {s:.4f} |" if s is not None else f"| {w} | {p:.3f} | - |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
