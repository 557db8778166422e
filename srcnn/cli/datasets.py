"""srcnn-datasets (python -m srcnn.cli.datasets): list the known image sets under the datasets root, or
verify them against the checksums shipped in datasets/ (srcnn.datasets holds the root, the set lookup and
the checks).

    python -m srcnn.cli.datasets list   [--data-root DIR]
    python -m srcnn.cli.datasets verify Set5 Set14 [--data-root DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import datasets
from ..datasets import KNOWN_SETS, checksum_file, data_root, read_checksums, verify
from ..errors import SRCNNError
from .common import run


def _cmd_list(root: Path, source: str) -> int:
    print(f"datasets root: {root} ({source})")
    for name, (count, desc) in KNOWN_SETS.items():
        folder = root / name
        if folder.is_dir():
            n = sum(1 for p in folder.rglob("*") if p.is_file())
            state = f"present, {n} files" + ("" if n == count else f" (expected {count})")
        else:
            state = "missing"
        sums = "checksums" if (datasets.CHECKSUM_DIR / f"{name}.sha256").is_file() else "no checksums"
        print(f"  {name:<9} {state:<28} {sums:<13} {desc}")
    return 0


def _cmd_verify(names: list[str], root: Path) -> int:
    rc = 0
    for name in names:
        try:
            problems = verify(name, root)
        except SRCNNError as e:
            print(f"error: {e}", file=sys.stderr)
            rc = 2
            continue
        sums = checksum_file(name)
        known = sums.stem  # the set's own spelling
        if problems:
            for p in problems:
                print(p)
            print(f"{known}: {len(problems)} problem(s)")
            rc = max(rc, 1)
        else:
            print(f"{known}: {len(read_checksums(sums))} files OK")
    return rc


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", metavar="DIR",
                        help="datasets root (default: $SRCNN_DATA, else ./datasets)")
    parser = argparse.ArgumentParser(prog="python -m srcnn.cli.datasets",
                                     description=datasets.__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[common], help="show the known sets and whether they are present")
    p = sub.add_parser("verify", parents=[common],
                       help="check sets against datasets/<Name>.sha256 (exit 0 all good, 1 problems, 2 error)")
    p.add_argument("names", nargs="+", metavar="NAME", help=f"set name: {', '.join(KNOWN_SETS)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = data_root(args.data_root)
    if args.command == "list":
        source = ("--data-root" if args.data_root else "from $SRCNN_DATA" if os.environ.get("SRCNN_DATA")
                  else "default; set --data-root or SRCNN_DATA")
        return run(lambda: _cmd_list(root, source))
    return run(lambda: _cmd_verify(args.names, root))


if __name__ == "__main__":
    sys.exit(main())
