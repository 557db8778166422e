"""srcnn.datasets: the datasets root, set lookup, and checksum verification (synthetic and real)."""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from srcnn import datasets
from srcnn.cli.datasets import main
from srcnn.datasets import KNOWN_SETS, data_root, read_checksums, resolve_set, verify
from srcnn.errors import SRCNNError

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"T91": 91, "BSD200": 200, "Set5": 5, "Set14": 14}


@pytest.fixture
def fake_set(tmp_path, monkeypatch):
    """<tmp>/root/Set5 with three files and a matching <tmp>/sums/Set5.sha256 used as CHECKSUM_DIR."""
    root, sums = tmp_path / "root", tmp_path / "sums"
    (root / "Set5").mkdir(parents=True)
    sums.mkdir()
    lines = []
    for name in ["a.png", "b.png", "c.png"]:
        (root / "Set5" / name).write_bytes(name.encode() * 10)
        lines.append(f"{hashlib.sha256(name.encode() * 10).hexdigest()}  Set5/{name}\n")
    (sums / "Set5.sha256").write_text("# comment\n" + "".join(lines))
    monkeypatch.setattr(datasets, "CHECKSUM_DIR", sums)
    return root


# ---------------------------------------------------------------- root and set lookup

def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SRCNN_DATA", str(tmp_path / "env"))
    assert data_root(str(tmp_path / "arg")) == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("SRCNN_DATA")
    assert data_root() == Path("datasets")


def test_resolve_set(tmp_path):
    (tmp_path / "Set5").mkdir()
    (tmp_path / "mine").mkdir()
    assert resolve_set("Set5", tmp_path) == tmp_path / "Set5"
    assert resolve_set("set5", tmp_path) == tmp_path / "Set5"          # known names: any case
    assert resolve_set(str(tmp_path / "mine"), "/nowhere") == tmp_path / "mine"
    with pytest.raises(SRCNNError) as e:
        resolve_set("Set14", tmp_path)
    msg = str(e.value)
    assert msg.startswith("Set14: ") and str(tmp_path / "Set14") in msg and "datasets/README.md" in msg
    with pytest.raises(SRCNNError) as e:  # an absolute path is named once
        resolve_set(str(tmp_path / "gone"), tmp_path)
    assert f"(looked at {tmp_path / 'gone'}; " in str(e.value)


# ---------------------------------------------------------------- checksum files

def test_read_checksums_formats_and_errors(tmp_path):
    h = "ab" * 32
    p = tmp_path / "x.sha256"
    p.write_text(f"# c\n\n{h}  Set5/a b.png\n{h.upper()} *Set5/c.png\n")
    assert read_checksums(p) == {"Set5/a b.png": h, "Set5/c.png": h}
    p.write_text(f"{h}  Set5/a.png\nnot a line\n")
    with pytest.raises(SRCNNError, match=r"x\.sha256:2: not a sha256sum line"):
        read_checksums(p)


@pytest.mark.parametrize("name,count", SHIPPED.items())
def test_shipped_checksum_files(name, count):
    sums = read_checksums(REPO / "datasets" / f"{name}.sha256")
    assert len(sums) == count == KNOWN_SETS[name][0]
    assert all(rel.startswith(f"{name}/") for rel in sums)
    assert list(sums) == sorted(sums)


def test_only_text_shipped_in_datasets_folder():
    """datasets/ holds README.md and *.sha256; set folders there are the user's data, never committed."""
    files = [p.name for p in (REPO / "datasets").iterdir() if p.is_file()]
    assert "README.md" in files and all(f == "README.md" or f.endswith(".sha256") for f in files)


# ---------------------------------------------------------------- verify (synthetic)

def test_verify_clean(fake_set):
    assert verify("Set5", fake_set) == []


def test_verify_names_every_problem(fake_set):
    (fake_set / "Set5" / "a.png").write_bytes(b"changed")
    (fake_set / "Set5" / "b.png").unlink()
    (fake_set / "Set5" / "sub").mkdir()
    (fake_set / "Set5" / "sub" / "new.png").write_bytes(b"x")
    problems = verify("Set5", fake_set)
    assert problems == [
        f"{fake_set / 'Set5/a.png'}: content differs (sha256 {hashlib.sha256(b'changed').hexdigest()[:12]}..., "
        f"expected {hashlib.sha256(b'a.png' * 10).hexdigest()[:12]}...)",
        f"{fake_set / 'Set5/b.png'}: missing",
        f"{fake_set / 'Set5/sub/new.png'}: extra file (not listed in Set5.sha256)",
    ]


def test_verify_missing_folder_is_a_problem(fake_set):
    shutil.rmtree(fake_set / "Set5")
    [problem] = verify("Set5", fake_set)
    assert "set folder not found" in problem and "README" in problem


def test_verify_unknown_or_without_checksums(tmp_path):
    with pytest.raises(SRCNNError, match="^Foo: unknown set"):
        verify("Foo", tmp_path)
    for name in ["B100", "Urban100"]:
        with pytest.raises(SRCNNError, match=f"^{name}: no checksums shipped .* cannot be verified"):
            verify(name, tmp_path)


# ---------------------------------------------------------------- CLI

def test_cli_verify_ok_problems_and_error(fake_set, capsys):
    assert main(["verify", "set5", "--data-root", str(fake_set)]) == 0
    assert capsys.readouterr().out == "Set5: 3 files OK\n"
    (fake_set / "Set5" / "c.png").unlink()
    assert main(["verify", "Set5", "--data-root", str(fake_set)]) == 1
    out = capsys.readouterr().out
    assert "c.png: missing" in out and out.endswith("Set5: 1 problem(s)\n")
    assert main(["verify", "Set5", "B100", "--data-root", str(fake_set)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: B100: no checksums shipped")


def test_cli_uses_env_root(fake_set, capsys, monkeypatch):
    monkeypatch.setenv("SRCNN_DATA", str(fake_set))
    assert main(["verify", "Set5"]) == 0


def test_cli_list(fake_set, capsys):
    assert main(["list", "--data-root", str(fake_set)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"datasets root: {fake_set} (--data-root)"
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == set(KNOWN_SETS)
    assert "present, 3 files (expected 5)" in rows["Set5"] and "checksums" in rows["Set5"]
    assert "missing" in rows["Set14"] and "no checksums" in rows["Urban100"]


def test_cli_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main(["verify", "--help"])
    assert e.value.code == 0 and "--data-root" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["verify"])
    assert e.value.code == 2


# ---------------------------------------------------------------- real data

def test_real_sets_verify(data_root):
    assert verify("Set5", data_root) == []
    assert verify("Set14", data_root) == []


def test_real_tampered_copy(data_root, tmp_path):
    shutil.copytree(data_root / "Set5", tmp_path / "Set5")
    with open(tmp_path / "Set5" / "bird.png", "r+b") as f:   # flip one byte
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    (tmp_path / "Set5" / "head.png").unlink()
    (tmp_path / "Set5" / "extra.png").write_bytes(b"not part of Set5")
    problems = verify("Set5", tmp_path)
    assert len(problems) == 3
    assert problems[0].startswith(f"{tmp_path / 'Set5' / 'bird.png'}: content differs")
    assert problems[1] == f"{tmp_path / 'Set5' / 'extra.png'}: extra file (not listed in Set5.sha256)"
    assert problems[2] == f"{tmp_path / 'Set5' / 'head.png'}: missing"


def test_real_cli_module(data_root):
    r = subprocess.run([sys.executable, "-m", "srcnn.cli.datasets", "verify", "Set5", "Set14",
                        "--data-root", str(data_root)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "Set5: 5 files OK\nSet14: 14 files OK\n"


def test_shipped_checksums_agree_with_shared_manifest(data_root):
    manifest = data_root / "SHA256SUMS"
    if not manifest.is_file():
        pytest.skip(f"no {manifest}")
    full = read_checksums(manifest)
    for name in SHIPPED:
        sums = read_checksums(REPO / "datasets" / f"{name}.sha256")
        assert sums == {k: v for k, v in full.items() if k.startswith(f"{name}/")}
