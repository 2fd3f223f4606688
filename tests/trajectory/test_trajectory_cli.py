import json

import pytest
import torch

from realcam.cli.main import main
from realcam.trajectory.io import load_trajectory


def test_preset_then_info_reports_one_metre(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["trajectory", "preset", "dolly-forward", "--distance", "1.0", "-o", str(out)]) == 0
    assert main(["trajectory", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "length:            1.000 m between frames (1.000 m along the spline" in text
    assert "frames:            16 at 8 fps" in text
    assert "warnings:          none" in text


def test_preset_orbit_to_re10k_and_convert(tmp_path, capsys):
    txt = tmp_path / "orbit.txt"
    args = ["trajectory", "preset", "orbit-left", "--angle", "90", "--radius", "2", "-o", str(txt)]
    assert main(args) == 0
    lines = txt.read_text().splitlines()
    assert lines[0].startswith("https://") and len(lines) == 17 and all(len(x.split()) == 19 for x in lines[1:])
    c2w = load_trajectory(txt).c2w()
    distance = (c2w[:, :3, 3] - torch.tensor([0, 0, 2.0], dtype=torch.float64)).norm(dim=-1)
    assert float((distance - 2).abs().max()) < 1e-6
    ns = tmp_path / "orbit_ns.json"
    assert main(["trajectory", "convert", str(txt), str(ns), "--format", "nerfstudio"]) == 0
    assert "camera_path" in json.loads(ns.read_text())
    assert main(["trajectory", "info", str(ns), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.split("\n", 2)[-1])
    assert record["format"] == "nerfstudio"
    assert record["max_angular_speed_dps"] == pytest.approx(90 / 15 * 8, rel=1e-6)


def test_reference_name_and_errors(tmp_path, capsys):
    assert main(["trajectory", "preset", "look left", "--frames", "keys", "-o", str(tmp_path / "l.txt")]) == 0
    assert len((tmp_path / "l.txt").read_text().splitlines()) == 1 + 5
    assert main(["trajectory", "preset", "pan-left", "--distance", "2", "-o", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "does not take distance" in err and "Traceback" not in err
    (tmp_path / "bad.txt").write_text("https://x\n1 2 3\n")
    assert main(["trajectory", "info", str(tmp_path / "bad.txt")]) == 1
    assert "bad.txt: line 2: expected 19 numbers, got 3" in capsys.readouterr().err


def test_presets_listing(capsys):
    assert main(["trajectory", "presets"]) == 0
    text = capsys.readouterr().out
    assert "dolly-zoom-in" in text and "'rotate anti-clockwise'" in text
