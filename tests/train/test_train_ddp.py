"""Two optimisation steps of the tiny model with accelerate in 2 CPU processes (gloo, launched by torchrun), each
step accumulating 2 micro-batches per process (so DDP's no-sync path and an epoch boundary are crossed).

Checks (issue #10): the run really is distributed (MULTI_CPU, 2 processes: accelerate's silent single-process traps),
the loss is finite, only camera-plugin parameters changed, both processes hold identical weights, and the saved add-on
loads strictly into a full model assembled the released way (DynamiCrafter base ∪ add-on ∪ depth), by hand and through
the pipeline's loader `load_realcam_weights`.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_synthetic import make_model, released_weight_files

from realcam.checkpoints.assemble import merge_realcam_state_dicts, realcam_file_kind
from realcam.checkpoints.keys import DC_BASE, REALCAM, is_camera_key, source_of
from realcam.checkpoints.load import load_state_dict_strict, read_state_dict
from realcam.models.realcam_i2v import RealCamI2V
from realcam.pipeline.i2v import load_realcam_weights
from realcam.pipeline.tiny import tiny_config, tiny_model
from realcam.train.checkpoint import ADDON_FILE, list_checkpoints, read_training_state

SCRIPT = Path(__file__).parent / "ddp_train_script.py"


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(SCRIPT)]
    done = subprocess.run([*command, str(out), "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [torch.load(out / f"rank{k}.pt", weights_only=True) for k in range(2)]
    return out, ranks


def test_distributed_for_real_and_loss_finite(ddp_run):
    _, ranks = ddp_run
    for k, rank in enumerate(ranks):
        assert rank["distributed_type"] == "DistributedType.MULTI_CPU"
        assert rank["num_processes"] == 2 and rank["process_index"] == k
        assert rank["step"] == 2
        assert math.isfinite(rank["loss"])
    assert ranks[0]["loss"] == ranks[1]["loss"]  # the logged loss is reduced over both processes


def test_only_the_plugin_changed_and_ranks_agree(ddp_run):
    _, ranks = ddp_run
    initial = make_model().state_dict()
    final0, final1 = ranks[0]["state"], ranks[1]["state"]
    assert set(final0) == set(initial)
    changed = {k for k in initial if not torch.equal(initial[k], final0[k])}
    camera_params = {k for k, _ in make_model().named_parameters() if is_camera_key(k)}
    assert changed == camera_params  # every trainable tensor moved; nothing else did (buffers included)
    for key in final0:
        assert torch.equal(final0[key], final1[key]), key


def test_checkpoint_is_an_addon_that_loads_strictly(ddp_run, tmp_path):
    out, ranks = ddp_run
    final = ranks[0]["state"]
    for path in (out / "run" / ADDON_FILE, list_checkpoints(out / "run")[-1][1] / ADDON_FILE):
        addon = read_state_dict(path)
        assert realcam_file_kind(addon) == "addon"
        assert sorted(addon) == ranks[0]["addon_keys"]
        assert all(source_of(k) == REALCAM for k in addon)
        # The released way: DynamiCrafter base ∪ add-on ∪ Depth-Anything, into the full (depth-carrying) model.
        donor = tiny_model("256", seed=99).state_dict()
        base = {k: v for k, v in donor.items() if source_of(k) == DC_BASE}
        depth = {k.removeprefix("depth_predictor."): v for k, v in donor.items() if k.startswith("depth_predictor.")}
        merged = merge_realcam_state_dicts(base, addon, depth)
        pipeline_model = RealCamI2V(tiny_config("256"))
        load_state_dict_strict(pipeline_model, merged, what="trained checkpoint")
        loaded = pipeline_model.state_dict()
        for key in addon:
            assert torch.equal(loaded[key], final[key]), key
        # The pipeline's own loader, from the released file kinds (.ckpt base, the add-on as written, .pth depth).
        files, _ = released_weight_files(tmp_path, path)
        loaded = load_realcam_weights(tiny_config("256"), files, model="256", depth="indoor").state_dict()
        for key in addon:
            assert torch.equal(loaded[key], final[key]), key
    step, directory = list_checkpoints(out / "run")[-1]
    assert step == 2
    names = [k for k, _ in make_model().named_parameters() if is_camera_key(k)]
    state = read_training_state(directory, names)
    assert state["step"] == 2 and len(state["optimizer"]["state"]) == len(names)
