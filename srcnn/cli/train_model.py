"""The model a train.py run trains, from its options: --model with --model-arg KEY=VALUE strings (or
SRCNN's --filters --n1 --n2 --padding), channels and (LR-input models) scale from the training data,
--seed, --init paper and --init-from's starting weights; or the model of a checkpoint to resume. The
data's input kind (upscaled or LR image) must be the model's: the error names the prepare_data.py
command that makes the right data."""
from __future__ import annotations

import shlex
from pathlib import Path

import torch

from ..checkpoint import build_from_checkpoint
from ..config import TrainConfig
from ..errors import SRCNNError
from ..models import SRModel, build_model, check_upscale, model_summary
from ..models import input_kind as model_input_kind

DATA_KWARGS = ("channels", "scale")   # model kwargs that come from the data


def parse_filters(text: str) -> tuple[int, int, int]:
    """ "9-5-5" -> (9, 5, 5); odd positive sizes."""
    try:
        f = tuple(int(v) for v in text.split("-"))
    except ValueError:
        f = ()
    if len(f) != 3 or any(v < 1 or v % 2 == 0 for v in f):
        raise ValueError(f"filters must look like 9-5-5 (three odd sizes), got {text!r}")
    return f


def parse_model_args(items) -> dict:
    """["depth=8", "act=prelu", "residual=true"] -> {"depth": 8, "act": "prelu", "residual": True}:
    each value an int, else a float, else true/false (any case), else the string. ValueError for an item
    without "KEY=", a key that is not an identifier, or a key given twice."""
    out = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--model-arg wants KEY=VALUE (e.g. depth=8), got {item!r}")
        if key in out:
            raise ValueError(f"--model-arg {key} is given twice")
        out[key] = _parse_value(text.strip())
    return out


def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    low = text.lower()
    return True if low == "true" else False if low == "false" else text


def new_model(cfg: TrainConfig, pf) -> tuple[SRModel, dict | None]:
    """(model, parent): the model of the options for the data ``pf``, seeded with --seed, with --init
    paper's initialisation or --init-from's weights (parent: their ``lineage``, else None)."""
    torch.manual_seed(cfg.seed)
    model = _build(cfg, pf)
    if cfg.init == "paper":
        model.init_paper()
    return model, (init_from(model, cfg.init_from) if cfg.init_from else None)


def _build(cfg: TrainConfig, pf) -> SRModel:
    """build_model(--model, channels and (LR-input models) scale from the data, SRCNN's --filters
    --n1 --n2 --padding, --model-arg ...), before initialisation."""
    name = cfg.model
    try:
        args = parse_model_args(cfg.model_arg)
    except ValueError as e:
        raise SRCNNError(str(e)) from None
    for k in DATA_KWARGS:
        if k in args:
            raise SRCNNError(f"--model-arg {k}: set by the training data ({pf.name}: channels {pf.mode!r}, "
                             f"scale {pf.scale}); leave it out")
    kwargs = {}
    if name == "srcnn":
        flags = {"f1": "--filters", "f2": "--filters", "f3": "--filters", "n1": "--n1", "n2": "--n2",
                 "padding": "--padding"}
        for k in args:
            if k in flags:
                raise SRCNNError(f"--model-arg {k}: use {flags[k]} for --model srcnn")
        f1, f2, f3 = parse_filters(cfg.filters)
        kwargs = dict(f1=f1, f2=f2, f3=f3, n1=cfg.n1, n2=cfg.n2, padding=cfg.padding)
    kwargs.update(args, channels=pf.channels)
    try:
        lr_input = model_input_kind(name, **args) == "lr"
    except ValueError as e:
        raise SRCNNError(str(e)) from None
    if lr_input:  # the model upsamples by the data's (single) scale
        if len(pf.scales) > 1:
            raise SRCNNError(f"{pf.name}: has scales {pf.scales}, but {name} takes the LR image of one "
                             f"scale; prepare one file per scale (prepare_data.py --model {name} --scale S)")
        kwargs["scale"] = pf.scales[0]
    try:
        return build_model(name, **kwargs)
    except (TypeError, ValueError) as e:
        raise SRCNNError(f"--model {name}: {e} (check --model-arg)") from None


def resumed_model(ckpt: dict, path, cfg: TrainConfig, pf) -> SRModel:
    """The checkpoint's model, which must fit the data (channels, scale) and be --model."""
    if ckpt["channels"] != pf.mode or ckpt["scale"] != pf.scale:
        raise SRCNNError(f"{path}: trained on channels {ckpt['channels']!r} scale {ckpt['scale']}, but "
                         f"{pf.name} has channels {pf.mode!r} scale {pf.scale}")
    model = build_from_checkpoint(ckpt, path)
    if model.name != cfg.model:
        raise SRCNNError(f"{path}: holds a {model.name} model, not --model {cfg.model}")
    return model


def check_fits_data(pf, model: SRModel, where: str = "") -> None:
    """SRCNNError (prefixed by ``where``) when ``model`` cannot train on the data ``pf``: other channels, an
    LR-input model of another scale, another input kind ("upscaled" | "lr"; files without the attribute
    are "upscaled"; the message gives the prepare_data.py command to run), or outputs of the input patches
    (pf.input_size px) that cannot be centre-aligned with the labels."""
    if model.channels != pf.channels:
        raise SRCNNError(f"{where}the model has {model.channels} channel(s), but {pf.name} has channels "
                         f"{pf.mode!r}")
    if model.input_kind == "lr":
        check_upscale(model, pf.scales[0], where=f"{where}{pf.name}: ")
    data_kind = getattr(pf, "input", "upscaled")
    if data_kind != model.input_kind:
        what = {"upscaled": "bicubic-upscaled input", "lr": "LR input"}
        takes = {"upscaled": "the bicubic-upscaled image", "lr": "the LR image"}
        raise SRCNNError(f"{where}{pf.name} was prepared for {what[data_kind]}; {model.name} takes "
                         f"{takes[model.input_kind]}: run {_prepare_for(pf, model.name)}")
    out, lab = model.out_size(pf.input_size), pf.label_size
    if out < 1 or (lab - out) % 2:
        raise SRCNNError(f"{where}{pf.path}: {pf.input_size} px input patches give {out} px outputs with "
                         f"{model_summary(model)}, which cannot be centre-aligned with the {lab} px labels")


def _prepare_for(pf, name: str) -> str:
    """The data's prepare_data.py command with ``--model name`` instead of its own and a new --out,
    <stem>_<name>.h5 beside the old one (a hint: the existing file is not to be replaced)."""
    cmd = str(pf.attrs.get("command", "")) or f"prepare_data.py --scale {pf.scales[0]} --out {pf.path.name}"
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    words = [w for w in words if w != "python"]
    renamed = False

    def new_out(path: str) -> str:
        nonlocal renamed
        renamed = True
        p = Path(path)
        return str(p.with_name(f"{p.stem}_{name}{p.suffix or '.h5'}"))
    out, skip = [], None
    for w in words:
        if skip == "--model":
            skip = None
        elif skip == "--out":
            out.append(new_out(w))
            skip = None
        elif w in ("--model", "--out"):
            skip = w
            if w == "--out":
                out.append(w)
        elif w.startswith("--out="):
            out.append("--out=" + new_out(w[len("--out="):]))
        elif not w.startswith("--model="):
            out.append(w)
    if not renamed:
        out += ["--out", new_out(pf.path.name)]
    i = next((j + 1 for j, w in enumerate(out) if w.endswith("prepare_data.py")), None)
    if i is None:
        out, i = ["prepare_data.py", *out], 1
    return "python " + shlex.join(out[:i] + ["--model", name] + out[i:])


def weights_source(source: str):
    """(model, meta) of an --init-from source: a path, else the name of a bundled weights file
    ("fsrcnn_x3": srcnn.weightfiles.bundled_models)."""
    from ..weightfiles import bundled_models, load_file
    path = Path(source)
    bundled = {b.path.stem: b.path for b in bundled_models()}
    if not path.is_file() and "/" not in source and source in bundled:  # a name, even beside a folder of that name
        path = bundled[source]
    elif not path.exists():
        raise SRCNNError(f"--init-from {source}: no such file, and not a bundled weights name "
                         f"({', '.join(sorted(bundled))})")
    return load_file(path)


def lineage(meta: dict) -> dict:
    """What a run started with --init-from records of its starting weights (recipe["parent"]): their file,
    epoch, best validation, per-epoch history, training patch count ("count") and recipe, which holds their
    own parent: the whole chain, shown by inspect and counted by benchmarks/training_curve.py even after
    the intermediate files are gone."""
    return {"weights": meta.get("path"), "epoch": meta.get("epoch"), "best": meta.get("best"),
            "history": list(meta.get("history") or []), "count": (meta.get("data") or {}).get("count"),
            "recipe": meta.get("recipe")}


def init_from(model: SRModel, source: str) -> dict:
    """Load the weights of ``source`` into ``model`` (fine-tuning / a warm restart with a fresh optimizer):
    a bundled name ("srcnn_x3", "fsrcnn_x3", "espcn_x4"), an exported .pt, a train.py checkpoint (its EMA
    weights when it has them) or the authors' .mat. The architecture, channels and (LR-input models) scale
    must match; SRCNN's padding may differ (it has no weights). Returns their ``lineage``."""
    src, meta = weights_source(source)
    path = meta.get("path", source)
    mine, theirs = dict(model.config()), dict(src.config())
    mine.pop("padding", None), theirs.pop("padding", None)
    if mine != theirs:
        raise SRCNNError(f"--init-from {path}: holds {model_summary(src)}, which does not match the model to "
                         f"train, {model_summary(model)}; pick weights of the same architecture, channels "
                         "and scale")
    model.load_state_dict(src.state_dict())
    return lineage(meta)
