"""`realcam weights` and `realcam info` against a local hub cache made here (no network), in the real file formats."""

import io
import shutil
from contextlib import redirect_stdout

import torch
from hubcache import add_to_hub_cache
from parity import micro_model_config, variant_state_dict

from realcam.checkpoints import hub
from realcam.checkpoints.coverage import file_coverage_report
from realcam.checkpoints.keys import source_of
from realcam.checkpoints.load import save_safetensors
from realcam.cli.main import main


def run_cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def micro_files(tmp_path, variant="256"):
    """The micro model split into the three released formats: DC base .ckpt, RealCam add-on, DA-V2 .pth."""
    state = variant_state_dict(variant)
    base = {k.replace("fps_embedding", "framestride_embed"): v for k, v in state.items() if source_of(k) == "DC_BASE"}
    torch.save({"state_dict": base}, tmp_path / "model.ckpt")
    save_safetensors({k: v for k, v in state.items() if source_of(k) == "REALCAM"}, tmp_path / "addon.safetensors")
    depth = {k.removeprefix("depth_predictor."): v for k, v in state.items() if k.startswith("depth_predictor.")}
    torch.save(depth, tmp_path / "depth.pth")
    return tmp_path / "model.ckpt", tmp_path / "addon.safetensors", tmp_path / "depth.pth"


def test_file_coverage_complete_and_incomplete(tmp_path):
    base, addon, depth = micro_files(tmp_path)
    text, ok = file_coverage_report(micro_model_config("256"), base=base, realcam=addon, depth=depth)
    assert ok, text
    assert "complete, loads strictly" in text
    save_safetensors({"pose_encoder.encoder_conv_in.weight": torch.zeros(1)}, tmp_path / "partial.safetensors")
    text, ok = file_coverage_report(
        micro_model_config("256"), base=base, realcam=tmp_path / "partial.safetensors", depth=depth
    )
    assert not ok and "INCOMPLETE" in text and "camera_plugin" in text


def test_weights_check_path_and_download_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "cache"
    code, out = run_cli("weights", "check", "--cache", str(cache))
    assert code == 1 and "MISSING" in out and "realcam weights download --model 256" in out
    base, addon, depth = micro_files(tmp_path)
    for file in hub.files_for("256"):
        source = {"base-256": base, "realcam-256": addon, "depth-indoor": depth}.get(file.key)
        add_to_hub_cache(cache, file.repo_id, file.filename, source.read_bytes() if source else b"{}")
    code, out = run_cli("weights", "check", "--cache", str(cache), "--no-keys")
    assert code == 0 and out.count("  ok ") == 5
    # Full key coverage against the full-size 256 model: the micro files are (correctly) reported incomplete.
    code, out = run_cli("weights", "check", "--cache", str(cache))
    assert code == 1 and "INCOMPLETE" in out and "wrong shapes" in out
    code, out = run_cli("weights", "path", "--cache", str(cache))
    assert code == 0 and str(cache) in out and "missing" not in out
    code, out = run_cli("weights", "download", "--cache", str(cache))  # everything cached: no network needed
    assert code == 0 and out.count("->") == 5
    shutil.rmtree(cache / "models--MuteApo--CamI2V")
    code, _ = run_cli("weights", "download", "--cache", str(cache))
    assert code == 1  # offline and missing: one clear error, not a hang


def test_info_prints_components_and_keys():
    code, out = run_cli("info", "--model", "256")
    assert code == 0
    assert "camera_plugin       261,289,280    278" in out
    assert "total" in out and " 3222" in out
    code, out = run_cli("info", "--model", "512", "--keys")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3207
    assert "model.diffusion_model.input_blocks.0.0.weight\t(320, 8, 3, 3)\tDC_BASE" in lines
