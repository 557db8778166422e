"""Every command that README.md, docs/*.md and benchmarks/README.md show for one of the project's CLIs
parses with the current argparse parser (nothing is run): a renamed or removed flag breaks this test,
not the reader.

Commands are taken from fenced code blocks (every line; ```python blocks skipped) and from inline code
spans that start with ``python`` or ``torchrun`` (after ``VAR=value`` and ``nice -n N``). A line is
split with shlex (``#`` comments, redirections and ``...`` dropped, backslash continuations joined) into
simple commands at ``|``, ``&&``, ``||``, ``;`` and ``&``; each that runs one of the four scripts with
``python``, ``python -m srcnn.cli.datasets``, ``torchrun ... train.py``, a ``srcnn-*`` console script or
``python benchmarks/NAME.py`` is parsed: the scripts and the datasets CLI with their ``build_parser()``
(train.py's default sub-command inserted as its ``main`` does), a benchmark by running its ``main()``
up to its ``parse_args`` call.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import sys
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "README.md"]
SCRIPTS = {"prepare_data.py": "prepare", "train.py": "train", "evaluate.py": "evaluate",
           "super_resolve.py": "super_resolve", "srcnn-prepare": "prepare", "srcnn-train": "train",
           "srcnn-evaluate": "evaluate", "srcnn-super-resolve": "super_resolve", "srcnn-datasets": "datasets"}
FENCE = re.compile(r"^ {0,3}```([^\n`]*)\n(.*?)^ {0,3}```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`((?:[A-Z_]+=\S+ |nice (?:-n )?-?\d+ )*(?:python3?|torchrun) [^`]+?)`(?!`)")
SEPARATORS = {"|", "||", "&&", ";", "&"}


# ---------------------------------------------------------------------------------------- extraction
def _code_lines(text: str):
    """(line number, command text) of every shell line in fenced blocks (continuations joined) and of
    every inline ``python ...`` span; Python blocks are skipped."""
    out = []
    for m in FENCE.finditer(text):
        if m.group(1).strip().lower() in ("python", "py", "pycon", "json", "text", "output"):
            continue
        first = text.count("\n", 0, m.start(2)) + 1
        pending, start = "", None
        for i, line in enumerate(m.group(2).splitlines()):
            if start is None:
                start = first + i
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((start, pending + line))
            pending, start = "", None
        if pending:
            out.append((start, pending))
    fenced = [(m.start(), m.end()) for m in FENCE.finditer(text)]
    for m in INLINE.finditer(text):
        if not any(a <= m.start() < b for a, b in fenced):
            out.append((text.count("\n", 0, m.start()) + 1, " ".join(m.group(1).split())))
    return out


def _tokens(line: str) -> list[str] | None:
    """shlex tokens with comments dropped and shell operators as separate tokens; None if the line is
    not shell (an unbalanced quote in prose or output)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lex.whitespace_split, lex.commenters = True, "#"
    try:
        return list(lex)
    except ValueError:
        return None


def _cli(words: list[str]):
    """(cli name, argv) for one simple command, or None when it runs none of the project's CLIs."""
    while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] in ("time", "exec")):
        words = words[1:]
    if words[:1] == ["nice"]:
        words = words[1:]
        if words[:1] == ["-n"]:
            words = words[2:]
        elif words and re.fullmatch(r"-n?\d+", words[0]):
            words = words[1:]
    if not words:
        return None
    head = words[0]
    if head.startswith("srcnn-") and head in SCRIPTS:   # console scripts
        return SCRIPTS[head], words[1:]
    if head.startswith("./") and head[2:] in SCRIPTS:
        return SCRIPTS[head[2:]], words[1:]
    if head == "torchrun":  # torchrun's own options, then the script and its arguments
        for i, w in enumerate(words[1:], 1):
            if Path(w).name in SCRIPTS:
                return SCRIPTS[Path(w).name], words[i + 1:]
        return None
    if Path(head).name not in ("python", "python3"):
        return None
    rest = words[1:]
    while rest and rest[0] in ("-u", "-O", "-B"):
        rest = rest[1:]
    if not rest:
        return None
    if rest[0] == "-m":
        return ("datasets", rest[2:]) if rest[1:2] == ["srcnn.cli.datasets"] else None
    if rest[0] in SCRIPTS and not rest[0].startswith("srcnn-"):
        return SCRIPTS[rest[0]], rest[1:]
    m = re.fullmatch(r"(?:\./)?benchmarks/(\w+)\.py", rest[0])
    if m:
        return "bench:" + m.group(1), rest[1:]
    return None


def commands(text: str) -> list[tuple[int, str, list[str], str]]:
    """(line, cli, argv, source text) of every CLI command shown in a markdown text."""
    found = []
    for line_no, line in _code_lines(text):
        if not re.search(r"\.py\b|srcnn\.cli\.datasets|srcnn-", line):
            continue
        tokens = _tokens(line)
        if tokens is None:
            continue
        part: list[str] = []
        target = False  # the next token is a redirection's file
        for tok in tokens + [";"]:
            if target:
                target = False
            elif tok in SEPARATORS:
                hit = _cli(part)
                if hit:
                    found.append((line_no, hit[0], hit[1], line.strip()))
                part = []
            elif re.fullmatch(r"\d?>>?|<", tok):
                target = True
            elif tok not in ("...", "\u2026"):   # "..." stands for elided arguments
                part.append(tok)
    return found


# ---------------------------------------------------------------------------------------- parsing
class _Parsed(Exception):
    pass


def _parser_factory(name: str):
    """build_parser of a CLI module (srcnn.cli.NAME)."""
    modules = (f"srcnn.cli.{name}",)
    for mod in modules:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        if hasattr(m, "build_parser"):
            return m.build_parser
    raise AssertionError(f"no build_parser() for the {name} CLI in {', '.join(modules)}")


def _bench_main(name: str):
    path = REPO / "benchmarks" / f"{name}.py"
    assert path.is_file(), f"benchmarks/{name}.py does not exist"
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"_docs_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def parse_error(cli: str, argv: list[str]) -> str | None:
    """None when the CLI's parser accepts ``argv`` (``--help`` included), else argparse's message."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            if cli.startswith("bench:"):  # no parser factory: run main() up to its parse_args, then stop
                original = argparse.ArgumentParser.parse_args

                def parse_only(self, args=None, namespace=None):
                    original(self, args, namespace)
                    raise _Parsed

                with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_only), \
                        mock.patch.object(sys, "argv", [cli.split(":")[1] + ".py", *argv]):
                    main = _bench_main(cli.split(":")[1])
                    try:
                        main()
                    except _Parsed:
                        return None
                return "main() returned without parsing its arguments"
            args = list(argv)
            if cli == "train" and (not args or (args[0].startswith("-") and args[0] not in ("-h", "--help"))):
                args.insert(0, "train")  # train.py's default sub-command (srcnn.cli.train.main)
            _parser_factory(cli)().parse_args(args)
        except SystemExit as e:
            if e.code in (0, None):
                return None
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {e.code}"
    return None


DOC_COMMANDS = [(path, *c) for path in DOCS for c in commands(path.read_text())]


@pytest.mark.parametrize("path,line,cli,argv,text", DOC_COMMANDS,
                         ids=[f"{p.relative_to(REPO)}:{ln}" for p, ln, *_ in DOC_COMMANDS])
def test_documented_command_parses(path, line, cli, argv, text):
    problem = parse_error(cli, argv)
    assert problem is None, f"{path.relative_to(REPO)}:{line}: {text}\n  {problem}"


def test_every_cli_is_shown():
    shown = {cli for _, _, cli, _, _ in DOC_COMMANDS}
    assert {"prepare", "train", "evaluate", "super_resolve", "datasets"} <= shown, shown
    readme = {cli for p, _, cli, _, _ in DOC_COMMANDS if p.name == "README.md" and p.parent == REPO}
    assert {"prepare", "train", "evaluate", "super_resolve"} <= readme, readme


def test_extraction():
    text = "\n".join([
        "Run `python evaluate.py --set Set5` or `python train.py inspect FILE`; not `train.py --data x`.",
        "```",
        "python prepare_data.py --scale 3 \\",
        "    --out train.h5        # a comment with 'quote",
        "SRCNN_DATA=d OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_large.py --images 2 > log.txt",
        "pip install -e . && python super_resolve.py --sample -o s/ | tee out",
        "torchrun --standalone --nproc_per_node=2 train.py resume c/checkpoint.last --cuda",
        "python -m srcnn.cli.datasets verify Set5   # ok",
        "python -m pytest -q; python -X importtime -c 'import srcnn'",
        "model  PyTorch MP/s (train.py's output)",
        "```",
        "```python",
        "python train.py --not-shell",
        "```",
    ])
    got = [(ln, cli, argv) for ln, cli, argv, _ in commands(text)]
    assert got == [
        (3, "prepare", ["--scale", "3", "--out", "train.h5"]),
        (5, "bench:bench_large", ["--images", "2"]),
        (6, "super_resolve", ["--sample", "-o", "s/"]),
        (7, "train", ["resume", "c/checkpoint.last", "--cuda"]),
        (8, "datasets", ["verify", "Set5"]),
        (1, "evaluate", ["--set", "Set5"]),
        (1, "train", ["inspect", "FILE"]),
    ]


@pytest.mark.parametrize("cli,good", [
    ("prepare", ["--scale", "3", "--out", "t.h5"]),
    ("train", ["--data", "t.h5", "--lr", "1e-3"]),
    ("train", ["resume", "c/checkpoint.last", "--num-epoch", "5"]),
    ("evaluate", ["--set", "Set5", "--scale", "2,3,4"]),
    ("super_resolve", ["--model", "fsrcnn", "lr.png"]),
    ("datasets", ["verify", "Set5", "--data-root", "d"]),
    ("bench:bench_onnx", ["--models", "srcnn"]),
])
def test_a_misspelled_flag_is_caught(cli, good):
    assert parse_error(cli, good) is None
    flag = next(i for i, a in enumerate(good) if a.startswith("--"))
    bad = list(good)
    bad[flag] = bad[flag][:3] + bad[flag][4:] + bad[flag][3]   # --scale -> --salec
    problem = parse_error(cli, bad)
    assert problem is not None and "unrecognized arguments" in problem, problem


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation except - and _ dropped, spaces -> -."""
    return {re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            for m in re.finditer(r"^#{1,6} (.+)$", FENCE.sub("", text), re.M)}


def test_relative_links_resolve():
    """[text](path#anchor) links between the project's markdown files point at files and headings
    that exist."""
    bad = []
    for path in DOCS:
        for m in re.finditer(r"\]\(([^)\s]+)\)", FENCE.sub("", path.read_text())):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            if not dest.exists():
                bad.append(f"{path.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
                bad.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)
