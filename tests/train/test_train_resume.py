"""Resuming: 1 step + resume to 2 steps ends with exactly the weights of an uninterrupted 2-step run (optimiser
moments, data position, generator and dropout RNG restored), with gradient accumulation 2. Single process, in-process
accelerate on CPU."""

import functools
import json

import pytest
import torch
from train_synthetic import SyntheticClips, make_model, small_config

from realcam.data.dataset import collate
from realcam.pipeline.tiny import tiny_tokenizer
from realcam.train.checkpoint import camera_plugin_state_dict, latest_checkpoint
from realcam.train.loop import make_accelerator, train


def _run(config, resume=None):
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    model = make_model()
    accelerator = make_accelerator(config, cpu=True)
    result = train(
        config,
        model,
        SyntheticClips(n=3),
        tokenizer=tiny_tokenizer(),
        collate_fn=collate,
        resume=resume,
        accelerator=accelerator,
    )
    return model, result


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(tmp_path):
    """3 clips, accumulation 2: an epoch is a 2-micro-batch step then a 1-micro-batch step. Interrupting after step 1
    (mid-epoch) and after step 2 (epoch boundary) must not change anything."""
    torch.set_num_threads(1)
    config = functools.partial(small_config, grad_accum=2, checkpoint_every=1)
    straight, result = _run(config(tmp_path / "a", max_steps=3))
    assert result.step == 3
    lines = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3]

    _, first = _run(config(tmp_path / "b", max_steps=1))
    assert first.step == 1 and latest_checkpoint(tmp_path / "b").name == "step-0000001"
    _, second = _run(config(tmp_path / "b", max_steps=2), "latest")
    resumed, third = _run(config(tmp_path / "b", max_steps=3), "latest")
    assert (second.step, third.step) == (2, 3)
    expected, got = camera_plugin_state_dict(straight), camera_plugin_state_dict(resumed)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=0, rtol=0, msg=key)
    assert third.last_loss == pytest.approx(result.last_loss, abs=0, rel=1e-6)
