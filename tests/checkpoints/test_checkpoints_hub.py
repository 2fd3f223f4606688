import pytest
from hubcache import add_to_hub_cache

from realcam.checkpoints import hub
from realcam.errors import WeightsMissingError


def test_require_names_the_download_command(tmp_path):
    with pytest.raises(WeightsMissingError) as info:
        hub.require(hub.files_for("512"), model="512", cache=tmp_path)
    message = str(info.value)
    assert "realcam weights download --model 512" in message
    assert "Doubiiu/DynamiCrafter_512/model.ckpt" in message


def test_locate_and_download_from_local_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    file = hub.WEIGHT_FILES["realcam-256"]
    add_to_hub_cache(tmp_path, file.repo_id, file.filename, b"payload")
    assert hub.locate(file, cache=tmp_path).read_bytes() == b"payload"
    assert hub.download(file, cache=tmp_path).read_bytes() == b"payload"
    with pytest.raises(WeightsMissingError, match="cannot be fetched"):
        hub.download(hub.WEIGHT_FILES["base-256"], cache=tmp_path)


def test_require_returns_all_paths(tmp_path):
    for file in hub.files_for("256"):
        add_to_hub_cache(tmp_path, file.repo_id, file.filename, file.key.encode())
    found = hub.require(hub.files_for("256"), cache=tmp_path)
    assert set(found) == {"base-256", "realcam-256", "depth-indoor", "clip-vocab", "clip-merges"}
    assert found["base-256"].read_bytes() == b"base-256"


def test_bad_variant_is_rejected():
    with pytest.raises(ValueError, match="model must be one of"):
        hub.files_for("1024")


def test_only_selects_components_and_the_message_names_just_the_missing_ones(tmp_path):
    assert [f.key for f in hub.files_for("512", "outdoor", only=["depth"])] == ["depth-outdoor"]
    chosen = hub.files_for("256", only=["base", "tokenizer"])
    assert [f.key for f in chosen] == ["base-256", "clip-vocab", "clip-merges"]
    with pytest.raises(ValueError, match="unknown weight component"):
        hub.files_for("256", only=["vae"])
    assert hub.download_command("256", "indoor", ["depth"]) == "realcam weights download --depth indoor --only depth"
    assert hub.download_command("512", "indoor", ["camera"]) == "realcam weights download --model 512 --only camera"
    assert hub.download_command("512", "indoor", list(hub.COMPONENTS)) == (
        "realcam weights download --model 512 --depth indoor"
    )
    # Everything but the depth model is cached: the message asks for the depth model only, not the 10 GB base.
    for file in hub.files_for("256", only=["base", "camera", "tokenizer"]):
        add_to_hub_cache(tmp_path, file.repo_id, file.filename, b"x")
    with pytest.raises(WeightsMissingError) as info:
        hub.require(hub.files_for("256"), cache=tmp_path)
    assert "`realcam weights download --depth indoor --only depth`" in str(info.value)
    assert "model.ckpt" not in str(info.value)


def test_cli_download_only_depth_fetches_just_that_file(tmp_path, monkeypatch, capsys):
    from realcam.cli.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    file = hub.WEIGHT_FILES["depth-indoor"]
    add_to_hub_cache(tmp_path, file.repo_id, file.filename, b"depth")
    assert main(["weights", "download", "--only", "depth", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert file.filename in out and "model.ckpt" not in out and "safetensors" not in out
