"""Training checkpoints with non-tensor extras (Lightning's hyper-parameter dict, enums, callback objects) load their
tensors without ever importing or running the classes they name."""

from __future__ import annotations

import enum
import logging
import os
import pickle

import pytest
import torch

from realcam.checkpoints.load import load_pickle_tensors_only, read_dynamicrafter_base, read_state_dict
from realcam.errors import InputError


class AttributeDict(dict):  # like lightning.fabric.utilities.data.AttributeDict, the type of `hyper_parameters`
    pass


class TrainerStage(enum.Enum):
    FIT = "fit"


class CallbackState:
    def __init__(self):
        self.best_model_score = torch.tensor(0.25)
        self.monitor = "val/loss"


class RunsCode:
    """A pickle that runs a command when loaded without restrictions."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _state_dict() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "model.diffusion_model.framestride_embed.0.weight": torch.randn(4, 3, generator=generator),
        "model.diffusion_model.out.2.bias": torch.randn(4, generator=generator),
        "scale_arr": torch.linspace(0.7, 1.0, 5, dtype=torch.float64),
    }


def _lightning_checkpoint(path, extras):
    torch.save({"state_dict": _state_dict(), "epoch": 3, "global_step": 1200, **extras}, path)


def test_lightning_extras_are_left_as_placeholders_and_tensors_load(tmp_path, caplog):
    path = tmp_path / "model.ckpt"
    hyper = AttributeDict(lr=1e-4, config={"unet": {"channels": 320}})
    _lightning_checkpoint(path, {"hyper_parameters": hyper, "stage": TrainerStage.FIT, "callbacks": CallbackState()})
    with pytest.raises(pickle.UnpicklingError):  # torch's own weights-only loader refuses this file
        torch.load(path, weights_only=True)

    with caplog.at_level(logging.WARNING, logger="realcam.checkpoints.load"):
        state = read_dynamicrafter_base(path)
    expected = _state_dict()
    assert set(state) == {k.replace("framestride_embed", "fps_embedding") for k in expected}
    for key, value in expected.items():
        torch.testing.assert_close(state[key.replace("framestride_embed", "fps_embedding")], value, rtol=0, atol=0)
    assert "AttributeDict" in caplog.text and "never imported" in caplog.text

    obj, skipped = load_pickle_tensors_only(path)
    assert {name.rsplit(".", 1)[1] for name in skipped} == {"AttributeDict", "TrainerStage", "CallbackState"}
    assert obj["epoch"] == 3 and not isinstance(obj["hyper_parameters"], AttributeDict)
    assert obj["hyper_parameters"].items["lr"] == 1e-4  # recorded as data, the class itself never built


def test_a_code_running_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "created-by-the-pickle"
    path = tmp_path / "model.ckpt"
    _lightning_checkpoint(path, {"payload": RunsCode(marker)})
    try:
        state = read_state_dict(path)
    except InputError:
        state = None  # refusing the file is fine too; running its code is not
    assert not marker.exists()
    if state is not None:
        assert set(state) == set(_state_dict())


def test_a_file_that_is_no_checkpoint_still_gets_the_clear_error(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(InputError, match="cannot be read as a weights-only PyTorch checkpoint"):
        read_state_dict(path)
