"""Resuming: 1 step + resume to 2 steps ends with exactly the weights of an uninterrupted 2-step run (optimiser
moments, data position, generator and dropout RNG restored), with gradient accumulation 2. Single process, in-process
accelerate on CPU."""

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
    torch.set_num_threads(1)
    straight, result = _run(small_config(tmp_path / "a", max_steps=2, grad_accum=2, checkpoint_every=1))
    assert result.step == 2
    lines = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]

    _, first = _run(small_config(tmp_path / "b", max_steps=1, grad_accum=2, checkpoint_every=1))
    assert first.step == 1 and latest_checkpoint(tmp_path / "b").name == "step-0000001"
    resumed, second = _run(small_config(tmp_path / "b", max_steps=2, grad_accum=2, checkpoint_every=1), "latest")
    assert second.step == 2
    expected, got = camera_plugin_state_dict(straight), camera_plugin_state_dict(resumed)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=0, rtol=0, msg=key)
    assert second.last_loss == pytest.approx(result.last_loss, abs=0, rel=1e-6)
