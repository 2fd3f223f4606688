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
