"""DeepSpeed runs without DeepSpeed installed: the launch-time check and how realcam's clipping reaches the engine.

Under DeepSpeed, accelerate's `clip_grad_norm_` does not clip and a `gradient_clipping: auto` config is filled with
1.0 at `prepare`; `configure_deepspeed` puts the recipe's 0.5 in the config before that. The fill is accelerate's
own code (`DeepSpeedPlugin.deepspeed_config_process`, as `Accelerator.prepare` calls it), which needs no deepspeed.
"""

import pytest
from accelerate.utils import DeepSpeedPlugin
from train_synthetic import small_config

from realcam.train import loop
from realcam.train.config import OptimizerConfig, TrainConfig


def _prepare_fill(plugin: DeepSpeedPlugin) -> dict:
    """What `Accelerator.prepare` does to the plugin's config for a batch of 1 on 1 process."""
    accum = plugin.deepspeed_config["gradient_accumulation_steps"]
    plugin.deepspeed_config_process(
        must_match=False, gradient_clipping=1.0, train_micro_batch_size_per_gpu=1, train_batch_size=accum
    )
    return plugin.deepspeed_config


def test_auto_clipping_becomes_the_recipe_value_not_accelerates_default(tmp_path):
    config = small_config(tmp_path, grad_accum=8)
    untouched = DeepSpeedPlugin(zero_stage=2, gradient_accumulation_steps=8, gradient_clipping="auto")
    assert _prepare_fill(untouched)["gradient_clipping"] == 1.0  # the trap this guards against
    plugin = DeepSpeedPlugin(zero_stage=2, gradient_accumulation_steps=8, gradient_clipping="auto")
    loop.configure_deepspeed(plugin.deepspeed_config, config)
    assert _prepare_fill(plugin)["gradient_clipping"] == 0.5
    missing = {"zero_optimization": {"stage": 1}}  # a DeepSpeed JSON without the key: DeepSpeed would not clip
    loop.configure_deepspeed(missing, config)
    assert missing["gradient_clipping"] == 0.5 and "gradient_accumulation_steps" not in missing
    explicit = DeepSpeedPlugin(zero_stage=2, gradient_accumulation_steps=8, gradient_clipping=0.5)
    loop.configure_deepspeed(explicit.deepspeed_config, config)
    assert _prepare_fill(explicit)["gradient_clipping"] == 0.5
    no_clip = TrainConfig(model=config.model, output_dir=config.output_dir, loop=config.loop,
                          optimizer=OptimizerConfig(grad_clip_norm=0.0))  # fmt: skip
    ds = {"gradient_clipping": "auto"}
    loop.configure_deepspeed(ds, no_clip)
    assert ds["gradient_clipping"] == 0.0


def test_conflicting_deepspeed_settings_raise(tmp_path):
    config = small_config(tmp_path, grad_accum=8)
    with pytest.raises(ValueError, match="gradient_clipping 1.0 but .*grad_clip_norm is 0.5"):
        loop.configure_deepspeed({"gradient_clipping": 1.0}, config)
    with pytest.raises(ValueError, match="gradient_accumulation_steps 4 but --grad-accum is 8"):
        loop.configure_deepspeed({"gradient_clipping": "auto", "gradient_accumulation_steps": 4}, config)


def test_deepspeed_launch_without_the_package_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "_deepspeed_installed", lambda: False)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    assert loop.deepspeed_requested()
    with pytest.raises(ImportError, match="pip install deepspeed"):
        loop.make_accelerator(small_config(tmp_path))
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    assert not loop.deepspeed_requested()


def test_a_launcher_accumulation_that_overrides_grad_accum_is_refused(tmp_path, monkeypatch):
    """accelerate lets ACCELERATE_GRADIENT_ACCUMULATION_STEPS (exported by a DeepSpeed launch config) override the
    Accelerator's argument; the loop's step counting would then be wrong, so `train` stops first."""
    from accelerate.state import AcceleratorState
    from train_synthetic import SyntheticClips, make_model

    from realcam.data.dataset import collate
    from realcam.pipeline.tiny import tiny_tokenizer

    AcceleratorState._reset_state(reset_partial_state=True)
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "4")
    config = small_config(tmp_path, grad_accum=1)
    try:
        accelerator = loop.make_accelerator(config, cpu=True)
        with pytest.raises(ValueError, match="accumulates 4 micro-batches but --grad-accum is 1"):
            loop.train(config, make_model(), SyntheticClips(1), tokenizer=tiny_tokenizer(), collate_fn=collate,
                       accelerator=accelerator)  # fmt: skip
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
