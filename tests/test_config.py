"""srcnn.config: the options' checks, and the hparams of checkpoints written before an option existed."""
import pytest

from srcnn.config import DEFAULTS, TrainConfig, stored_hparams
from srcnn.errors import SRCNNError


def test_checks():
    for bad in (dict(last_layer_lr=0), dict(lr=-1), dict(ema=1.0), dict(batch_size=0), dict(loss="l3")):
        with pytest.raises(SRCNNError):
            TrainConfig(**bad)
    assert TrainConfig.from_dict(TrainConfig(last_layer_lr=0.1).as_dict()).last_layer_lr == 0.1
    with pytest.raises(SRCNNError, match="unknown training option"):
        TrainConfig.from_dict({"lr_last": 1})


def test_stored_hparams_keep_what_an_older_run_trained_with():
    """A key missing from an old checkpoint means the behaviour of the time (no EMA, no on-the-fly
    augmentation; SRCNN's last layer at lr/10), not today's default; a key it has is kept."""
    assert DEFAULTS["ema"] > 0 and DEFAULTS["last_layer_lr"] == 1.0 and DEFAULTS["augment"] is True
    old = {k: v for k, v in DEFAULTS.items() if k not in ("ema", "last_layer_lr", "augment")}
    got = stored_hparams(old)
    assert got.keys() == DEFAULTS.keys() and got["ema"] == 0.0 and got["last_layer_lr"] == 0.1
    assert got["augment"] is False and stored_hparams({**old, "augment": True})["augment"] is True
    assert stored_hparams({**old, "model": "fsrcnn"})["last_layer_lr"] == 1.0
    assert stored_hparams({**old, "ema": 0.99, "last_layer_lr": 0.5})["ema"] == 0.99
    assert stored_hparams({"lr": 0.5})["batch_size"] == DEFAULTS["batch_size"]
