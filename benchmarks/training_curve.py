"""Held-out PSNR against training samples seen, from the histories saved in checkpoints and weight
files, and a rough estimate of what more training would bring.

Each file holds the per-epoch history of the run that made it (epoch, validation PSNR, seconds,
samples/s) and the patch count of its data. Files given in order are chained as successive stages of
one lineage (a run, then a warm restart from it with --init-from, ...): samples seen accumulate. A
file whose history starts with the previous file's is that run resumed: only its new epochs count,
at its own data's patch count.
A ``REV:PATH`` argument reads the file as it was at a git revision, so the first stage of a bundled
file's lineage is still at hand after it is replaced. ``--bundled NAME`` chains every committed version
of srcnn/weights/NAME.pt, oldest first (and the working tree's file when it differs from HEAD's).
A run started with --init-from records its starting weights' history and patch count in its recipe
(their own parent's too, up the chain): the first file's recorded ancestors come before it, and a stage
started from an intermediate run that was never kept (B from A via a dropped A') counts A' as well. An
ancestor recorded before this was kept is named in a note: pass it as a stage, or its samples are missed.

    python benchmarks/training_curve.py d91ade9:srcnn/weights/fsrcnn_x3.pt srcnn/weights/fsrcnn_x3.pt
    python benchmarks/training_curve.py --bundled fsrcnn_x3 --gain 0.12

The estimate fits held-out PSNR = a + b * log2(samples) to the best-so-far values of the last half of
the chained curve (the slope of diminishing returns: dB per doubling of the samples seen) and
extrapolates it; ``--gain DB`` asks how many samples (and CPU hours at the last stage's speed) a
further DB would take on that line. It is a straight line through a concave curve: read it as a lower
bound on the compute needed, not a promise.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from srcnn.checkpoint import load_checkpoint  # noqa: E402
from srcnn.cli.common import number, run  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402


def _git(*args: str, text: bool = True) -> subprocess.CompletedProcess:
    """``git -C REPO ARGS`` with its output captured (bytes with text=False); SRCNNError without git."""
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=text)
    except FileNotFoundError:
        raise SRCNNError("git is not installed: give checkpoint files, not REV:PATH or --bundled") from None


def read(arg: str) -> dict:
    """A checkpoint dict from a path, or from REV:PATH as the file was at a git revision; read with
    srcnn.checkpoint.load_checkpoint, so a missing, corrupt or foreign file is an SRCNNError naming
    ``arg``."""
    rev, sep, path = arg.partition(":")
    if not sep or Path(arg).exists():
        return load_checkpoint(arg)
    git = _git("show", f"{rev}:{path}", text=False)
    if git.returncode:
        why = git.stderr.decode(errors="replace").strip().splitlines() or [f"git exited with {git.returncode}"]
        raise SRCNNError(f"{arg}: not a file, and not readable as REV:PATH from git ({why[0]})")
    return load_checkpoint(arg, data=git.stdout)


def lineage(name: str) -> list[str]:
    """``REV:srcnn/weights/NAME.pt`` for each commit that added or changed that file, oldest first, then
    the working tree's file if it differs from HEAD's: a bundled file's whole lineage for stages()."""
    path = f"srcnn/weights/{name}.pt"
    log = _git("log", "--reverse", "--format=%h", "--diff-filter=AMR", "--", path)
    if log.returncode:
        raise SRCNNError(f"--bundled {name}: git log failed ({(log.stderr.strip().splitlines() or ['?'])[0]})")
    files = [f"{rev}:{path}" for rev in log.stdout.split()]
    if not files:
        raise SRCNNError(f"--bundled {name}: {path} has no git history here (names: the files in srcnn/weights/)")
    if (REPO / path).is_file() and _git("diff", "--quiet", "HEAD", "--", path).returncode:
        files.append(str(REPO / path))
    return files


def _ancestors(ck: dict) -> list[dict]:
    """The --init-from parents recorded in ``ck``'s recipe (train_model.lineage), oldest first."""
    out, r = [], ck.get("recipe") or {}
    while isinstance(r.get("parent"), dict):
        out.append(r["parent"])
        r = r["parent"].get("recipe") or {}
    return out[::-1]


def _recorded(p: dict) -> bool:
    """Whether a parent record carries what stages() counts: its history and its data's patch count."""
    return isinstance(p.get("history"), list) and isinstance(p.get("count"), int) and not isinstance(p["count"], bool)


def _is(p: dict, ck: dict) -> bool:
    """Whether parent record ``p`` is the file ``ck`` (the same epoch and best validation)."""
    return p.get("epoch") == ck.get("epoch") and p.get("best") == ck.get("best")


def expand(args: list[str]) -> list[tuple[str, dict]]:
    """(label, checkpoint dict) per stage: each file of ``args`` read, preceded by its recorded ancestors
    that are not already stages: all of them for the first file (when every one is recorded, up to a run
    trained from scratch), those after the previous stage for the others. Where the record falls short
    (an ancestor kept without its history) a note on stderr says which samples are not counted."""
    out: list[tuple[str, dict]] = []
    for arg in args:
        ck = read(arg)
        anc = _ancestors(ck)
        if out:
            k = next((i for i in range(len(anc) - 1, -1, -1) if _is(anc[i], out[-1][1])), None)
            anc = anc[k + 1:] if k is not None else []
        elif not all(_recorded(p) for p in anc):
            print(f"note: {arg} was started from {anc[-1].get('weights')}, and its lineage is not fully recorded: "
                  "samples seen count from its own run; pass the earlier files first (or use --bundled)", file=sys.stderr)
            anc = []
        for p in anc:
            if _recorded(p):
                out.append((f"{p.get('weights')} (recorded in {arg})",
                            {"history": p["history"], "data": {"count": p["count"]}, "epoch": p.get("epoch"),
                             "best": p.get("best")}))
            else:
                print(f"note: {arg} descends from {p.get('weights')} (epoch {p.get('epoch')}), whose history is not "
                      "recorded: its samples are not counted; pass that file as a stage before it", file=sys.stderr)
        out.append((arg, ck))
    return out


def stages(args: list[str]) -> list[dict]:
    """One row per validated epoch across the chained files (and their recorded ancestors: expand()):
    stage, epoch, samples seen, PSNR, best so far, hours spent, samples/s."""
    rows, seen, hours, best, prev = [], 0, 0.0, -math.inf, []
    for i, (arg, ck) in enumerate(expand(args), 1):
        count = (ck.get("data") or {}).get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise SRCNNError(f"{arg}: no patch count of its training data ('data': {{'count': N}}); "
                             "only files written by train.py carry the history this needs")
        hist = [h for h in ck.get("history", []) if isinstance(h, dict) and h.get("val_psnr") is not None]
        if prev and hist and hist[:len(prev)] == prev:  # the same run continued (resumed, maybe on more data)
            prev, hist = hist, hist[len(prev):]
        else:
            prev = hist
        first = hist[0]["epoch"] - 1 if hist else 0
        for h in hist:  # "time": seconds of that epoch (validation included)
            best = max(best, h["val_psnr"])
            hours += h.get("time", 0.0) / 3600
            rows.append({"stage": i, "file": arg, "epoch": h["epoch"], "samples": seen + (h["epoch"] - first) * count,
                         "psnr": h["val_psnr"], "best": best, "hours": hours, "speed": h.get("samples_per_s")})
        if hist:
            seen += (hist[-1]["epoch"] - first) * count
    return rows


def fit(rows: list[dict]) -> tuple[float, float]:
    """(a, b) of best = a + b * log2(samples), least squares over the last half of the rows."""
    tail = rows[len(rows) // 2:]
    xs = [math.log2(r["samples"]) for r in tail]
    ys = [r["best"] for r in tail]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="checkpoints / weight files (or REV:PATH), oldest stage first")
    ap.add_argument("--bundled", metavar="NAME", help="the lineage of srcnn/weights/NAME.pt from git "
                    "(e.g. fsrcnn_x3), then FILES as later stages (a run warm-started from it)")
    ap.add_argument("--gain", type=number(float, 0, lo_open=True, unit=" dB"), default=None, metavar="DB",
                    help="estimate the samples and CPU hours that DB more held-out PSNR would take")
    ap.add_argument("--every", type=number(int, 1), default=1, metavar="N", help="print every Nth epoch (the last always)")
    a = ap.parse_args()
    if not a.files and not a.bundled:
        ap.error("give FILES, --bundled NAME, or both")
    rows = stages((lineage(a.bundled) if a.bundled else []) + a.files)
    if len(rows) < 2:
        raise SRCNNError("fewer than two validated epochs in these files")
    print("| stage | epoch | samples seen | held-out PSNR dB | best so far | hours |\n|---:|---:|---:|---:|---:|---:|")
    for k, r in enumerate(rows):
        if k % a.every == 0 or k == len(rows) - 1:
            print(f"| {r['stage']} | {r['epoch']} | {r['samples'] / 1e6:.2f} M | {r['psnr']:.3f} | {r['best']:.3f} | "
                  f"{r['hours']:.2f} |")
    a0, b = fit(rows)
    last = rows[-1]
    print(f"\nfit over the last {len(rows) - len(rows) // 2} epochs: {b:+.3f} dB per doubling of the samples seen "
          f"({last['samples'] / 1e6:.2f} M seen, best {last['best']:.3f} dB)")
    if a.gain is not None:
        if b <= 0:
            print(f"+{a.gain} dB: the curve is flat; no estimate")
        else:
            need = last["samples"] * 2 ** (a.gain / b)
            speed = next((r["speed"] for r in reversed(rows) if r["speed"]), None)
            hours = f", about {(need - last['samples']) / speed / 3600:.0f} more hours at {speed:,.0f} samples/s" if speed else ""
            print(f"+{a.gain} dB: about {need / 1e6:,.0f} M samples in all on this line{hours}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
