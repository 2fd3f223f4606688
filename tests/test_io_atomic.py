import json

import pytest

from realcam.io.atomic import atomic_path, write_text_atomic
from realcam.io.sidecar import write_sidecar


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_sidecar_records_versions_and_settings(tmp_path):
    path = write_sidecar(tmp_path / "video.mp4", {"seed": 7, "settings": {"steps": 25}})
    assert path.name == "video.json"
    record = json.loads(path.read_text())
    assert record["seed"] == 7 and record["settings"]["steps"] == 25
    assert "torch" in record["versions"] and record["output"] == "video.mp4"
