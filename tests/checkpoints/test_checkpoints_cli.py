"""`realcam weights` and `realcam info` against a local hub cache made here (no network), in the real file formats."""

import io
import shutil
from contextlib import redirect_stdout

import pytest
import torch
from hubcache import add_to_hub_cache
from parity import micro_model_config, variant_state_dict

from realcam.checkpoints import hub
from realcam.checkpoints.coverage import file_coverage_report
from realcam.checkpoints.keys import source_of
from realcam.checkpoints.load import read_state_dict, save_safetensors
from realcam.cli.main import main


def run_cli(*argv) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def subdir(root, name):
    (root / name).mkdir()
    return root / name


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


def test_weights_path_says_where_a_missing_file_would_go(tmp_path):
    cache = tmp_path / "cache"
    code, out = run_cli("weights", "path", "--model", "512", "--cache", str(cache))
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith("base-512\t"))
    assert "missing: Doubiiu/DynamiCrafter_512/model.ckpt would be downloaded to" in line
    assert str(cache / "models--Doubiiu--DynamiCrafter_512" / "snapshots" / "<revision>" / "model.ckpt") in line
    assert "realcam weights download --model 512 --depth indoor" in out


def _hub_errors():
    """(error, words the message must contain) for each way hf_hub_download fails."""
    import httpx2
    from huggingface_hub import errors

    def response(status):
        return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/x/resolve/main/y"))

    return [
        (errors.LocalEntryNotFoundError("offline mode is enabled"), "cannot be fetched (offline"),
        (errors.GatedRepoError("403 gated", response=response(403)), "gated repository"),
        (errors.RepositoryNotFoundError("404 repo", response=response(404)), "not found (or private"),
        (errors.RevisionNotFoundError("404 rev", response=response(404)), "revision"),
        (errors.RemoteEntryNotFoundError("404 entry", response=response(404)), "has no file"),
        (errors.HfHubHTTPError("503 busy", response=response(503)), "HTTP 503"),
        (httpx2.ConnectError("Name or service not known"), "network or disk problem"),
        (OSError(28, "No space left on device"), "network or disk problem"),
    ]


@pytest.mark.parametrize(
    ("error", "words"), _hub_errors(), ids=lambda v: type(v).__name__ if isinstance(v, Exception) else ""
)
def test_weights_download_turns_hub_errors_into_one_message(tmp_path, monkeypatch, capsys, error, words):
    import huggingface_hub

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
    code = main(["weights", "download", "--cache", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("realcam weights: error: ") and words in captured.err
    assert type(error).__name__ in captured.err  # the underlying cause is named too


def test_weights_check_prints_the_diagnose_hints(tmp_path, monkeypatch):
    """`weights check` on the micro model (preset patched): a 256 base in the 512 slot, then a partial add-on."""
    from realcam.models.realcam_i2v import RealCamI2VConfig

    monkeypatch.setattr(
        RealCamI2VConfig, "preset", classmethod(lambda cls, name, depth="indoor": micro_model_config(name))
    )
    cache = tmp_path / "cache"
    base_256, _, _ = micro_files(subdir(tmp_path, "f256"), "256")
    _, addon, depth = micro_files(subdir(tmp_path, "f512"), "512")
    renamed = tmp_path / "f512" / "512_realcam-i2v_50k.safetensors"
    addon.rename(renamed)
    sources = {"base-512": base_256, "realcam-512": renamed, "depth-indoor": depth}
    for file in hub.files_for("512"):
        source = sources.get(file.key)
        add_to_hub_cache(cache, file.repo_id, file.filename, source.read_bytes() if source else b"{}")
    code, out = run_cli("weights", "check", "--model", "512", "--cache", str(cache))
    assert code == 1 and "INCOMPLETE" in out
    assert "hint: this looks like the 256 DynamiCrafter base" in out and "Doubiiu/DynamiCrafter_512" in out
    # The right base, but a camera plugin with keys missing.
    micro_files(subdir(tmp_path, "g512"), "512")
    add_to_hub_cache(cache, "Doubiiu/DynamiCrafter_512", "model.ckpt", (tmp_path / "g512" / "model.ckpt").read_bytes())
    partial = {k: v for k, v in read_state_dict(renamed).items() if not k.startswith("pose_encoder.")}
    save_safetensors(partial, tmp_path / "partial.safetensors")
    add_to_hub_cache(
        cache, "MuteApo/CamI2V", "512_realcam-i2v_50k.safetensors", (tmp_path / "partial.safetensors").read_bytes()
    )
    code, out = run_cli("weights", "check", "--model", "512", "--cache", str(cache))
    assert code == 1 and "camera_plugin" in out
    assert "hint: only the camera plugin is missing" in out


def test_weights_check_flags_a_camera_plugin_of_the_other_resolution(tmp_path):
    base, addon, depth = micro_files(tmp_path, "256")
    wrong = tmp_path / "512_realcam-i2v_50k.safetensors"
    addon.rename(wrong)
    text, ok = file_coverage_report(micro_model_config("256"), base=base, realcam=wrong, depth=depth, model="256")
    assert not ok and "WRONG CAMERA PLUGIN: it is for the 512 model" in text and "--model 256" in text
    text, ok = file_coverage_report(micro_model_config("256"), base=base, realcam=wrong, depth=depth)
    assert ok  # without the model name the file name cannot be compared: the keys alone match
