"""The README's results table: PSNR/SSIM under the paper's protocol of bicubic, the SRCNN authors' 9-5-5
weights and every clean model bundled in srcnn/weights (alone and with self-ensemble) on Set5, Set14 and
B100 at x2/x3/x4, beside the published figures, with each network's parameters and multiply-adds.

    python benchmarks/results_table.py table [--data-root DIR] [--json FILE] [--only NAME[,NAME...]]
    python benchmarks/results_table.py render [--json FILE] [--readme [FILE]]
    python benchmarks/results_table.py speed

table: scores every row with srcnn.evaluation.evaluate_set (evaluate.py's code), writes the results file
(default srcnn/weights/results.json, shipped with the package: srcnn.list_models() reads its Set5
figures) and prints the README table. Each row records the command that scored it and, per scale, its
weights file with the file's SHA-256 (tests/test_bundled.py compares them with the shipped files).
--only NAME: re-score those rows (a bundled model's "+se" row with it), keep the others from the file:
after a weight update, its rows alone. The authors' row (name "authors") needs
<root>/reference/srcnn_official/9-5-5_imagenet/x<s>.mat (../shared/datasets/SOURCES.txt) and scipy.
render: the README table of a results file on stdout; --readme rewrites the README's section between
its two RESULTS markers with it instead (the README's table is generated, never edited by hand).
speed: CPU megapixels of output per second at x3 (171x171 RGB -> 513x513, median of SPEED_RUNS after a
warm-up, torch.get_num_threads() threads) of each row's network, alone and with self-ensemble. Not in
the results file: it depends on the machine and its load (benchmarks/README.md keeps the figures).
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

from srcnn import __version__  # noqa: E402
from srcnn.cli.common import run  # noqa: E402
from srcnn.datasets import data_root, resolve_set, sha256_file  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.evaluation import evaluate_set, protocol  # noqa: E402
from srcnn.files import atomic_text, read_regular  # noqa: E402
from srcnn.inference import super_resolve  # noqa: E402
from srcnn.models import count_parameters, macs_per_pixel  # noqa: E402
from srcnn.weightfiles import REAL, WEIGHTS_DIR, bundled_file, bundled_models, load_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = WEIGHTS_DIR / "results.json"
README = REPO / "README.md"
MARKERS = ("<!-- RESULTS: python benchmarks/results_table.py render --readme (from srcnn/weights/results.json; "
           "do not edit by hand) -->", "<!-- /RESULTS -->")
SETS, SCALES = ("Set5", "Set14", "B100"), (2, 3, 4)
COST_SCALE = 3  # the README's params and mult-adds columns: the x3 network
SPEED_LR_SIDE, SPEED_RUNS = 171, 5
AUTHORS = "authors"  # the row of the authors' released weights
AUTHORS_DIR = Path("reference") / "srcnn_official" / "9-5-5_imagenet"  # under the datasets root
SE = "+se"  # suffix of a self-ensemble row (8 flips/rotations averaged)
TITLES = {"bicubic": "bicubic", AUTHORS: "SRCNN 9-5-5 ImageNet (authors' weights)", "srcnn": "SRCNN 9-5-5",
          "fsrcnn": "FSRCNN", "fsrcnn-s": "FSRCNN-s", "espcn": "ESPCN", "vdsr": "VDSR"}
FAMILIES = ("srcnn", "fsrcnn", "espcn", "vdsr")  # row order of the bundled models

# Published PSNR (dB, Y channel, the same protocol). The SRCNN, bicubic and VDSR figures were checked
# against the papers (SRCNN's also by running the authors' weights here, ../shared/datasets/SOURCES.txt);
# the FSRCNN and ESPCN ones are quoted from the papers' tables as cited below and were not re-checked.
PUBLISHED = {
    # SRCNN: Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2015, Tables 2
    # and 3 (bicubic, and SRCNN 9-5-5 trained on ImageNet: the authors' released weights); B100, which the
    # SRCNN paper does not report: Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep
    # Convolutional Networks" (VDSR), CVPR 2016, Table 3
    "bicubic": {"Set5 x2": 33.66, "Set5 x3": 30.39, "Set5 x4": 28.42, "Set14 x2": 30.23, "Set14 x3": 27.54,
                "Set14 x4": 26.00, "B100 x2": 29.56, "B100 x3": 27.21, "B100 x4": 25.96},
    "srcnn": {"Set5 x2": 36.66, "Set5 x3": 32.75, "Set5 x4": 30.48, "Set14 x2": 32.45, "Set14 x3": 29.30,
              "Set14 x4": 27.50, "B100 x2": 31.36, "B100 x3": 28.41, "B100 x4": 26.90},
    # FSRCNN: Dong, Loy, Tang, "Accelerating the Super-Resolution Convolutional Neural Network", ECCV 2016,
    # Table 3 (d=56, s=12, m=4, trained on 91 images + General-100; no B100 in the paper)
    "fsrcnn": {"Set5 x2": 37.00, "Set5 x3": 33.16, "Set5 x4": 30.71, "Set14 x2": 32.63, "Set14 x3": 29.43,
               "Set14 x4": 27.59},
    # ESPCN: Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
    # Convolutional Neural Network", CVPR 2016, comparison table (trained on ImageNet; no x2, no B100)
    "espcn": {"Set5 x3": 33.13, "Set5 x4": 30.90, "Set14 x3": 29.49, "Set14 x4": 27.73},
    # VDSR: Table 3 of its paper (one network for x2, x3, x4, trained on 291 images)
    "vdsr": {"Set5 x2": 37.53, "Set5 x3": 33.66, "Set5 x4": 31.35, "Set14 x2": 33.03, "Set14 x3": 29.77,
             "Set14 x4": 28.01, "B100 x2": 31.90, "B100 x3": 28.82, "B100 x4": 27.29},
}
PUBLISHED[AUTHORS] = PUBLISHED["srcnn"]


def cell(set_name: str, scale: int) -> str:
    """The key of one figure in the results file: "Set5 x2"."""
    return f"{set_name} x{scale}"


def clean_names() -> list[str]:
    """The bundled models trained on the paper's degradation (not the -real ones: real_photos.py), in the
    table's order: by family (FAMILIES), then by name."""
    def order(name):
        family = name.split("-")[0]
        return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), name
    return sorted({b.name for b in bundled_models() if not b.name.endswith(REAL)}, key=order)


def row_names() -> list[str]:
    """Every row of a full table, in order: bicubic, the authors', then each bundled model and its +se."""
    return ["bicubic", AUTHORS, *(n + s for n in clean_names() for s in ("", SE))]


def title(name: str) -> str:
    """The README label of a row: "SRCNN 9-5-5 (this project, bundled) +se", "bicubic", ..."""
    base, se = name.removesuffix(SE), name.endswith(SE)
    if base in ("bicubic", AUTHORS):
        return TITLES[base]
    return f"{TITLES.get(base, base)} (this project, bundled)" + (f" {SE}" if se else "")


def weight_files(name: str, root: Path) -> dict[int, Path]:
    """{scale: the weights file a row scores at that scale}: the authors' .mat files (SRCNNError naming
    the folder when one is missing), a bundled model's files (its scales only)."""
    if name == AUTHORS:
        files = {s: root / AUTHORS_DIR / f"x{s}.mat" for s in SCALES}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise SRCNNError(f"the authors' weights are missing ({', '.join(missing)}; "
                             f"see ../shared/datasets/SOURCES.txt), or leave their row out with --only")
        return files
    files = {}
    for s in SCALES:
        try:
            files[s] = bundled_file(name, s)
        except SRCNNError:  # no weights for this scale: "-" in the table
            pass
    return files


def cost(model, scale: int, ensemble: bool = False) -> dict:
    """Parameters and multiply-adds per output pixel of ``model`` at ``scale`` (8x with self-ensemble)."""
    return {"params": count_parameters(model),
            "macs_per_pixel": round((8 if ensemble else 1) * macs_per_pixel(model, scale), 1)}


def score(name: str, root: Path, folders: dict, command: str) -> dict[str, dict]:
    """The rows of ``name`` (bicubic; the authors'; a bundled model and its +se row): {row name: row}."""
    if name == "bicubic":
        scores = {}
        for s in SCALES:
            for set_name, folder in folders.items():
                r = evaluate_set(folder, s, None, set_name=set_name)[0]
                scores[cell(set_name, s)] = [round(r["psnr"], 4), round(r["ssim"], 4)]
        return {name: {"title": title(name), "kind": "reference", "command": command,
                       "srcnn_version": __version__, "scores": scores}}
    se = name != AUTHORS
    kinds = {name: "bundled", name + SE: "self-ensemble"} if se else {name: "reference"}
    rows = {n: {"title": title(n), "kind": kind, "command": command, "srcnn_version": __version__,
                "files": {}, "cost": {}, "scores": {}} for n, kind in kinds.items()}
    for s, path in weight_files(name, root).items():
        model = load_file(path)[0]
        ref = {"file": str(path.relative_to(WEIGHTS_DIR if se else root)), "sha256": sha256_file(path)}
        for n, row in rows.items():
            row["files"][f"x{s}"] = ref
            row["cost"][f"x{s}"] = cost(model, s, ensemble=n.endswith(SE))
        for set_name, folder in folders.items():
            res = evaluate_set(folder, s, model, set_name=set_name, self_ensemble=se)
            for n, r in zip(rows, res[1:]):
                rows[n]["scores"][cell(set_name, s)] = [round(r["psnr"], 4), round(r["ssim"], 4)]
        print(f"{name} x{s}: " + ", ".join(f"{k} {v[0]:.2f}" for k, v in rows[name]["scores"].items()
                                           if k.endswith(f"x{s}")), file=sys.stderr, flush=True)
    return rows


def read_results(path, key: str = "rows") -> dict:
    """A results file as written by ``table`` (or real_photos.py's, whose figures are under ``key``
    "degraded" and "clean"); SRCNNError for a missing or unreadable one, or one without ``key``."""
    try:
        res = json.loads(read_regular(path, "results file"))
    except (ValueError, UnicodeDecodeError) as e:
        raise SRCNNError(f"{path}: not a results file ({e})") from None
    if not isinstance(res, dict) or not isinstance(res.get(key), dict):
        raise SRCNNError(f"{path}: not a results file (no \"{key}\")")
    return res


def table(args) -> int:
    """Score every row (or with --only those, the others kept from --json), write --json, print markdown."""
    names = row_names()
    bases = [n for n in names if not n.endswith(SE)]
    only = args.only or bases
    unknown = [n for n in only if n not in bases]
    if unknown:
        raise SRCNNError(f"--only {','.join(unknown)}: not a row; one of {', '.join(bases)}")
    old = {}
    if args.only:
        if not Path(args.json).is_file():
            raise SRCNNError(f"{args.json}: --only updates an existing results file; there is none")
        old = read_results(args.json)["rows"]
    root = data_root(args.data_root)
    folders = {s: resolve_set(s, root) for s in SETS}
    for n in only:   # every file there before the first minute of scoring
        if n != "bicubic":
            weight_files(n, root)
    command = "python benchmarks/results_table.py table" + (f" --only {','.join(args.only)}" if args.only else "")
    scored = {}
    for n in only:
        scored.update(score(n, root, folders, command))
    rows = {}
    for n in names:
        if n in scored:
            rows[n] = scored[n]
        elif n in old:
            rows[n] = old[n]
        else:
            raise SRCNNError(f"{args.json}: no figures for {n}; score it (--only {n.removesuffix(SE)})")
        rows[n]["published"] = {} if n.endswith(SE) else PUBLISHED.get(n, {})
    out = {"command": command, "srcnn_version": __version__, "protocol": protocol()["name"],
           "sets": list(SETS), "scales": list(SCALES),
           "about": "scores: {\"<set> x<scale>\": [PSNR dB, SSIM]} (means over the set's images); files: "
                    "the weights scored at each scale and their SHA-256; cost: parameters and multiply-adds "
                    "per output pixel (8x for self-ensemble); published: the papers' PSNR (results_table.py)",
           "rows": rows}
    atomic_text(args.json, json.dumps(out, indent=1) + "\n", "results")
    print(markdown(out))
    return 0


def _mark(p: float, pub: float | None, bold: bool) -> str:
    text = f"{p:.2f}"
    return f"**{text}**" if bold and pub is not None and float(text) >= pub else text


def markdown(res: dict) -> str:
    """The README section of a results file: the table, its key, and how the bundled models compare."""
    rows = res["rows"]
    cols = [cell(s, k) for s in res["sets"] for k in res["scales"]]
    lines = ["| PSNR dB / SSIM | " + " | ".join(cols) + f" | params | mult-adds / px (x{COST_SCALE}) |",
             "|---|" + "---|" * len(cols) + "---:|---:|"]
    for name, row in rows.items():
        pub, cells = row["published"], []
        for c in cols:
            if c not in row["scores"]:
                cells.append("-")
                continue
            p, q = row["scores"][c]
            cells.append(f"{_mark(p, pub.get(c), row['kind'] == 'bundled')} / {q:.4f}"
                         + (f" ({pub[c]:.2f})" if c in pub else ""))
        k = row.get("cost", {}).get(f"x{COST_SCALE}")
        extra = ["-", "-"] if k is None else [f"{k['params']:,}", f"{k['macs_per_pixel'] / 1e3:,.1f}k"]
        lines.append(f"| {row['title']} | " + " | ".join(cells + extra) + " |")
    lines += ["", "(in brackets: the published PSNR of the architecture, trained by its authors on their data; "
                  "**bold**: a bundled file at or above it; params and mult-adds per output pixel of the "
                  f"x{COST_SCALE} network)"]
    compare = comparison(rows)
    return "\n".join(lines + ([""] + compare if compare else []))


def _gaps(a: dict, b: dict) -> list[float]:
    return [a["scores"][c][0] - b["scores"][c][0] for c in a["scores"] if c in b["scores"]]


def comparison(rows: dict) -> list[str]:
    """How each bundled model fares against the bundled SRCNN on every set and scale, and what
    self-ensemble adds: one paragraph (no line when there is nothing to compare)."""
    bundled = [n for n, r in rows.items() if r["kind"] == "bundled"]
    parts = []
    if "srcnn" in bundled:
        ref = rows["srcnn"]
        for n in bundled:
            g = _gaps(rows[n], ref)
            if n == "srcnn" or not g:
                continue
            key = f"x{COST_SCALE}"
            ratio = ref["cost"][key]["macs_per_pixel"] / rows[n]["cost"][key]["macs_per_pixel"]
            parts.append(f"{TITLES.get(n, n)} scores {min(g):+.2f} to {max(g):+.2f} dB against the bundled SRCNN "
                         f"at 1/{ratio:.0f} of its multiply-adds")
    se = [x for n in bundled if n + SE in rows for x in _gaps(rows[n + SE], rows[n])]
    if se:
        parts.append(f"self-ensemble adds {min(se):.2f} to {max(se):.2f} dB to every model at 8 times the cost")
    return [f"On every set and scale above, {'; '.join(parts)}."] if parts else []


def render(args) -> int:
    text = markdown(read_results(args.json))
    if args.readme is None:
        print(text)
        return 0
    readme = Path(args.readme)
    old = read_regular(readme, "README").decode()
    start, end = old.find(MARKERS[0]), old.find(MARKERS[1])
    if start < 0 or end < start:
        raise SRCNNError(f"{readme}: no results section (the lines {MARKERS[0]} and {MARKERS[1]})")
    new = old[:start] + MARKERS[0] + "\n" + text + "\n" + old[end:]
    if new != old:
        atomic_text(readme, new, "README")
    print(f"{readme}: results section {'rewritten' if new != old else 'already current'}")
    return 0


def speed(args) -> int:
    """Print output megapixels per second at x3 of each row's network, alone and with self-ensemble."""
    lr = np.random.default_rng(0).integers(0, 256, (SPEED_LR_SIDE, SPEED_LR_SIDE, 3), dtype=np.uint8)
    root = data_root(args.data_root)
    paths = {n: weight_files(n, root).get(COST_SCALE) for n in clean_names()}
    if (root / AUTHORS_DIR / f"x{COST_SCALE}.mat").is_file():
        paths = {AUTHORS: root / AUTHORS_DIR / f"x{COST_SCALE}.mat", **paths}
    nets = {n: load_file(p)[0] for n, p in paths.items() if p is not None}
    print(f"| x{COST_SCALE}, {SPEED_LR_SIDE}x{SPEED_LR_SIDE} RGB -> {SPEED_LR_SIDE * COST_SCALE}x"
          f"{SPEED_LR_SIDE * COST_SCALE}, threads: {torch.get_num_threads()} | CPU MP/s | +se MP/s |\n|---|---:|---:|")
    for name, model in nets.items():
        mps = []
        for ensemble in (False, True):
            super_resolve(lr, model, COST_SCALE, ensemble=ensemble)  # warm-up
            times = []
            for _ in range(SPEED_RUNS):
                t0 = time.perf_counter()
                super_resolve(lr, model, COST_SCALE, ensemble=ensemble)
                times.append(time.perf_counter() - t0)
            mps.append((SPEED_LR_SIDE * COST_SCALE) ** 2 / 1e6 / statistics.median(times))
        print(f"| {TITLES.get(name, name)} | {mps[0]:.2f} | {mps[1]:.2f} |", flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="score the rows on Set5, Set14 and B100; write the results file")
    t.add_argument("--data-root", metavar="DIR", help="datasets root (default: $SRCNN_DATA, else ./datasets)")
    t.add_argument("--json", default=str(RESULTS), metavar="FILE",
                   help="results file (default: srcnn/weights/results.json)")
    t.add_argument("--only", type=lambda v: v.split(","), metavar="NAME[,NAME...]",
                   help="score only these rows (bicubic, authors, srcnn, fsrcnn, espcn, ...; a model's +se row "
                        "with it) and keep the others from --json: after a weight update, its rows alone")
    r = sub.add_parser("render", help="the README table of a results file")
    r.add_argument("--json", default=str(RESULTS), metavar="FILE",
                   help="results file (default: srcnn/weights/results.json)")
    r.add_argument("--readme", nargs="?", const=str(README), metavar="FILE",
                   help="rewrite the results section of this README (default: the repository's) instead of "
                        "printing the table")
    s = sub.add_parser("speed", help="CPU speed of each row's x3 network (not in the results file)")
    s.add_argument("--data-root", metavar="DIR", help="datasets root, for the authors' weights (default: "
                                                      "$SRCNN_DATA, else ./datasets)")
    args = p.parse_args(argv)
    return run(lambda: {"table": table, "render": render, "speed": speed}[args.cmd](args))


if __name__ == "__main__":
    sys.exit(main())
