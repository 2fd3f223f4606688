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


def _random_w2c(generator: torch.Generator) -> torch.Tensor:
    from realcam.geometry.se3 import quat_wxyz_to_matrix

    q = torch.randn(4, generator=generator, dtype=torch.float64)
    w2c = torch.eye(4, dtype=torch.float64)
    w2c[:3, :3] = quat_wxyz_to_matrix(q / q.norm())
    w2c[:3, 3] = 2 * torch.randn(3, generator=generator, dtype=torch.float64)
    return w2c


def _re10k_rows(path) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Timestamps, normalised intrinsics (f 4) and w2c (f 4 4) of an RE10K file."""
    rows = [line.split() for line in path.read_text().splitlines()[1:]]
    w2c = torch.eye(4, dtype=torch.float64).repeat(len(rows), 1, 1)
    w2c[:, :3, :4] = torch.tensor([[float(x) for x in r[7:]] for r in rows], dtype=torch.float64).reshape(-1, 3, 4)
    intr = torch.tensor([[float(x) for x in r[1:5]] for r in rows], dtype=torch.float64)
    return [int(r[0]) for r in rows], intr, w2c


def test_convert_chain_keeps_every_frame_of_a_per_frame_file(tmp_path):
    # 20 rows, uneven timestamps, random poses, non-square nominal aspect (fy_n/fx_n = 1.776: 1918.08 px wide at the
    # nominal 1080 px height, so the nominal width is rounded).
    generator = torch.Generator().manual_seed(3)
    w2c = torch.stack([_random_w2c(generator) for _ in range(20)])
    stamps = [0]
    for _ in range(19):
        stamps.append(stamps[-1] + int(torch.randint(20_000, 200_000, (1,), generator=generator)))
    intr = (0.5, 0.888, 0.5, 0.5)
    lines = ["https://www.youtube.com/watch?v=example"]
    for stamp, pose in zip(stamps, w2c):
        numbers = [*intr, 0.0, 0.0, *pose[:3, :4].reshape(-1).tolist()]
        lines.append(" ".join([str(stamp)] + [repr(x) for x in numbers]))
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")

    assert main(["trajectory", "convert", str(src), str(tmp_path / "a.json")]) == 0
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["frames"]["source"] == "keyframes" and data["frames"]["num_frames"] == 20
    assert data["frames"]["time"] == pytest.approx([s * 1e-6 for s in stamps], abs=1e-12)
    c2w_frames = torch.tensor(data["frames"]["c2w"], dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.inv(c2w_frames), w2c, atol=1e-6, rtol=0)

    # realcam JSON -> RE10K keeps poses, intrinsics and timestamps.
    assert main(["trajectory", "convert", str(tmp_path / "a.json"), str(tmp_path / "direct.txt")]) == 0
    back_stamps, back_intr, back_w2c = _re10k_rows(tmp_path / "direct.txt")
    assert back_stamps == stamps
    torch.testing.assert_close(back_w2c, w2c, atol=1e-6, rtol=0)
    torch.testing.assert_close(back_intr, torch.tensor([intr] * 20, dtype=torch.float64), atol=1e-9, rtol=0)

    # ... -> nerfstudio JSON -> RE10K: poses and intrinsics (nerfstudio holds FOV and aspect) come back.
    ns = tmp_path / "b.json"
    assert main(["trajectory", "convert", str(tmp_path / "a.json"), str(ns), "--format", "nerfstudio"]) == 0
    assert len(json.loads(ns.read_text())["camera_path"]) == 20
    assert main(["trajectory", "convert", str(ns), str(tmp_path / "c.txt")]) == 0
    _, back_intr, back_w2c = _re10k_rows(tmp_path / "c.txt")
    torch.testing.assert_close(back_w2c, w2c, atol=1e-6, rtol=0)
    torch.testing.assert_close(back_intr, torch.tensor([intr] * 20, dtype=torch.float64), atol=1e-9, rtol=0)

    # --frames N resamples; the realcam JSON then holds N sampled frames and passes them on.
    assert main(["trajectory", "convert", str(src), str(tmp_path / "r.json"), "--frames", "8"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["frames"]["source"] == "sampled"
    assert main(["trajectory", "convert", str(tmp_path / "r.json"), str(tmp_path / "r.txt")]) == 0
    assert len(_re10k_rows(tmp_path / "r.txt")[0]) == 8


def test_convert_frames_keys_differs_from_default(tmp_path, capsys):
    path = tmp_path / "dolly.json"  # 5 keyframes, 16 sampled frames
    assert main(["trajectory", "preset", "truck-right", "--keyframes", "5", "-o", str(path)]) == 0
    for frames, rows in ((None, 16), ("keys", 5), ("7", 7)):
        out = tmp_path / f"out_{frames}.txt"
        extra = [] if frames is None else ["--frames", frames]
        assert main(["trajectory", "convert", str(path), str(out), *extra]) == 0
        assert len(_re10k_rows(out)[0]) == rows
    keys_w2c = _re10k_rows(tmp_path / "out_keys.txt")[2]
    torch.testing.assert_close(keys_w2c[:, 0, 3], torch.tensor([-0.0, -0.25, -0.5, -0.75, -1.0], dtype=torch.float64))
    assert "5 frames (the keyframes)" in capsys.readouterr().out


def test_info_prints_keyframe_segments(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["trajectory", "preset", "dolly-forward", "--distance", "1.0", "--keyframes", "3", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["trajectory", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "segments:          2 between keyframes" in text
    # Constant speed: 1 m over 15 frames at 8 fps is 0.533 m/s, each half taking half of the 1.875 s.
    assert "  0 -> 1:          0.500 m, 0.00 deg, 0.000-0.938 s: 0.533 m/s, 0.00 deg/s" in text
    assert "  1 -> 2:          0.500 m, 0.00 deg, 0.938-1.875 s: 0.533 m/s, 0.00 deg/s" in text
    assert main(["trajectory", "info", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    segments = record["keyframe_segments"]
    assert [(s["start"], s["end"]) for s in segments] == [(0, 1), (1, 2)]
    assert [s["length_m"] for s in segments] == pytest.approx([0.5, 0.5])
    assert [s["speed_mps"] for s in segments] == pytest.approx([8 / 15, 8 / 15])
    assert sum(s["duration_s"] for s in segments) == pytest.approx(record["duration_s"])
    assert record["spline_length_m"] == pytest.approx(1.0)


def test_unknown_output_extension_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "z.xyz"
    assert main(["trajectory", "preset", "dolly-forward", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "extension '.xyz'" in err and ".json (realcam)" in err and ".txt (re10k)" in err and "--format" in err
    assert "Traceback" not in err and not out.exists()
    src = tmp_path / "t.json"
    assert main(["trajectory", "preset", "dolly-forward", "-o", str(src)]) == 0
    assert main(["trajectory", "convert", str(src), str(out)]) == 1
    assert "--format" in capsys.readouterr().err and not out.exists()
    # With --format any name works, and info reads it back given the format.
    assert main(["trajectory", "preset", "dolly-forward", "-o", str(out), "--format", "re10k"]) == 0
    assert main(["trajectory", "info", str(out), "--format", "re10k"]) == 0


def test_preset_zoom_to_a_target_fov(tmp_path, capsys):
    out = tmp_path / "zoom.json"
    assert main(["trajectory", "preset", "zoom-in", "--fov", "70", "--fov-end", "30", "-o", str(out)]) == 0
    fov = load_trajectory(out).sample(16).fov_deg
    assert float(fov[0]) == pytest.approx(70.0, abs=1e-9) and float(fov[-1]) == pytest.approx(30.0, abs=1e-9)
    assert json.loads(out.read_text())["frames"]["fov_deg"][-1] == pytest.approx(30.0, abs=1e-9)
    assert main(["trajectory", "preset", "zoom-out", "--fov-end", "190", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "fov_end_deg: expected a vertical FOV in (0, 180) degrees, got 190" in err and "Traceback" not in err
