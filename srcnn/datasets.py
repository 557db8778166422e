"""Where the image sets live, and checking them against the checksums shipped in datasets/.

The datasets root is --data-root, else $SRCNN_DATA, else ./datasets. Each set is a folder of HR
images under it (<root>/Set5/baby.png, ...). datasets/<Name>.sha256 lists every file of a set in
sha256sum format with root-relative paths ("<hex>  Set5/baby.png"), so `cd <root> && sha256sum -c
<repo>/datasets/Set5.sha256` checks the same thing without Python. See datasets/README.md. The
command line (``srcnn-datasets list|verify``, or ``python -m srcnn.cli.datasets``) is srcnn.cli.datasets.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from srcnn.errors import SRCNNError

CHECKSUM_DIR = Path(__file__).resolve().parents[1] / "datasets"   # datasets/ of the source checkout
README = "datasets/README.md"

# name -> (number of files, description). Sets without a .sha256 file cannot be verified.
KNOWN_SETS = {
    "T91": (91, "Yang et al. 2010 training images (BMP)"),
    "BSD200": (200, "BSD300 training split, 200 images (PNG)"),
    "Set5": (5, "Bevilacqua et al. 2012 test set, HR (PNG)"),
    "Set14": (14, "Zeyde et al. 2010 test set, HR (PNG)"),
    "B100": (100, "BSD100 = BSD300 test split (not shipped, no checksums)"),
    "Urban100": (100, "Huang et al. 2015 urban scenes (not shipped, no checksums)"),
}


def data_root(arg: str | os.PathLike | None = None) -> Path:
    """The datasets root: `arg` if given, else $SRCNN_DATA, else ./datasets (not checked to exist)."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("SRCNN_DATA")
    if env:
        return Path(env).expanduser()
    return Path("datasets")


def _canonical(name: str) -> str | None:
    """The known set called `name` (case-insensitive), or None."""
    for known in KNOWN_SETS:
        if known.lower() == name.lower():
            return known
    return None


def resolve_set(name_or_path: str | os.PathLike, root: str | os.PathLike) -> Path:
    """An existing folder given as a path, else <root>/<name> (known set names case-insensitive).

    Raises SRCNNError naming both places it looked and pointing at datasets/README.md.
    """
    given = Path(name_or_path)
    if given.is_dir():
        return given
    candidates = [Path(root) / given]
    known = _canonical(str(name_or_path))
    if known and known != str(name_or_path):
        candidates.append(Path(root) / known)
    for c in candidates:
        if c.is_dir():
            return c
    looked = " and ".join(dict.fromkeys(str(c) for c in (given, *candidates)))  # an absolute path once
    raise SRCNNError(f"{name_or_path}: image folder not found (looked at {looked}; "
                     f"set --data-root or SRCNN_DATA, see {README})")


def checksum_file(name: str) -> Path:
    """datasets/<Name>.sha256 for a known set; SRCNNError for an unknown set or one without checksums."""
    known = _canonical(name)
    if known is None:
        raise SRCNNError(f"{name}: unknown set (known: {', '.join(KNOWN_SETS)})")
    path = CHECKSUM_DIR / f"{known}.sha256"
    if not path.is_file():
        raise SRCNNError(f"{known}: no checksums shipped ({path} does not exist), so it cannot be "
                         f"verified; see {README} for where it comes from")
    return path


def read_checksums(path: Path) -> dict[str, str]:
    """Parse a sha256sum file ("<64 hex>  <path>" or "<hex> *<path>"; '#' comments) -> {path: hex}."""
    sums = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, rel = line.partition(" ")
        rel = rel[1:] if rel[:1] in (" ", "*") else rel
        if len(digest) != 64 or not sep or not rel or any(c not in "0123456789abcdef" for c in digest.lower()):
            raise SRCNNError(f"{path}:{n}: not a sha256sum line: {line!r}")
        sums[rel] = digest.lower()
    return sums


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(name: str, root: str | os.PathLike) -> list[str]:
    """Compare <root>/<Name>/ with datasets/<Name>.sha256; return one line per problem ([] = all good).

    Problems: the set folder is missing, a listed file is missing, a file differs, a file is not listed
    (extra). Raises SRCNNError if the set is unknown or has no checksum file.
    """
    sums = read_checksums(checksum_file(name))
    known = _canonical(name)
    root = Path(root)
    folder = root / known
    if not folder.is_dir():
        return [f"{folder}: set folder not found (download {known} there, or set --data-root / "
                f"SRCNN_DATA; see {README})"]
    present = {p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()}
    problems = []
    for rel in sorted(set(sums) | present):
        if rel not in present:
            problems.append(f"{root / rel}: missing")
        elif rel not in sums:
            problems.append(f"{root / rel}: extra file (not listed in {known}.sha256)")
        else:
            got = sha256_file(root / rel)
            if got != sums[rel]:
                problems.append(f"{root / rel}: content differs (sha256 {got[:12]}..., "
                                f"expected {sums[rel][:12]}...)")
    return problems

