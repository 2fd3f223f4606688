"""The viser app without a browser: operations, preview, read-outs, export and the Generate message; the CLI."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from realcam.cli.main import build_parser, main
from realcam.editor.app import AppConfig, EditorApp, c2w_from_view, nice_length, view_from_c2w
from realcam.editor.feedback import scene_from_image
from realcam.editor.state import make_c2w, rotation_from_pan_tilt_roll


@pytest.fixture(scope="module")
def wall_scene():
    generator = torch.Generator().manual_seed(0)
    image = (torch.rand(64, 96, 3, generator=generator) * 200 + 40).to(torch.uint8).numpy()
    K = torch.tensor([[60.0, 0.0, 48.0], [0.0, 60.0, 32.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return scene_from_image(image, torch.full((64, 96), 3.0), K, name="wall")


@pytest.fixture()
def app(wall_scene, tmp_path):
    app = EditorApp(wall_scene, AppConfig(port=0, output_dir=tmp_path))
    yield app
    app.stop()


def test_nice_length():
    assert [nice_length(x) for x in (0.7, 1.0, 1.9, 3.2, 7.5, 12.0)] == [0.5, 1.0, 1.0, 2.0, 5.0, 10.0]
    with pytest.raises(ValueError):
        nice_length(0.0)


def test_viser_pose_round_trip():
    c2w = make_c2w(rotation_from_pan_tilt_roll(20.0, -35.0, 10.0), (0.1, -0.2, 0.3))
    wxyz, position = view_from_c2w(c2w)
    torch.testing.assert_close(c2w_from_view(wxyz, position), c2w)


def test_app_binds_to_localhost_and_runs_the_editing_loop(app, tmp_path):
    assert app.url.startswith("http://127.0.0.1:")
    app.apply_preset("dolly-forward", distance=0.5)
    assert len(app.state) >= 2 and app.selected == 0
    assert app.wait_idle(60.0)
    assert app.preview is not None and app.preview.coverage.shape == (16,)
    assert "Total** 0.500 m" in app.readout_text.content
    assert "coverage" in app.coverage_text.content
    app.mask_input.value = True  # the mask overlay path of the preview
    app.frame_input.value = 15
    path = app.export(tmp_path / "path.txt", "re10k")
    assert path.read_text().count("\n") == 17  # URL line + 16 frames
    app.import_file(path)
    assert len(app.state) == 16


def test_generate_without_weights_says_what_to_run(app, tmp_path, monkeypatch):
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    app.apply_preset("pan-left")
    app.generate()
    assert app.wait_idle(60.0)
    assert "weights not installed" in app.last_message
    assert "realcam weights download" in app.last_message


def test_cli_registers_edit_and_demo():
    parser = build_parser()
    args = parser.parse_args(["demo", "--port", "0", "--size", "64x96"])
    assert args.size == (64, 96) and args.host == "127.0.0.1" and not args.open
    args = parser.parse_args(["edit", "photo.png", "--depth", "d.npy", "--fov", "50"])
    assert args.depth.name == "d.npy" and args.fov == 50.0


def test_cli_edit_errors(tmp_path, capsys, monkeypatch):
    from PIL import Image

    assert main(["edit", str(tmp_path / "missing.png")]) == 1
    assert "no such image" in capsys.readouterr().err
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "thumb.png")
    assert main(["edit", str(tmp_path / "thumb.png")]) == 1
    assert "16x24 pixels is too small" in capsys.readouterr().err
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(tmp_path / "photo.png")
    np.save(tmp_path / "depth.npy", np.ones((8, 8), np.float32))
    assert main(["edit", str(tmp_path / "photo.png"), "--depth", str(tmp_path / "depth.npy")]) == 1
    assert "depth is (8, 8)" in capsys.readouterr().err
    monkeypatch.setenv("REALCAM_CACHE", str(tmp_path / "empty-cache"))
    assert main(["edit", str(tmp_path / "photo.png")]) == 1
    err = capsys.readouterr().err
    assert "realcam weights download" in err and "--depth" in err


@pytest.mark.slow
def test_generate_with_the_tiny_pipeline_saves_video_and_sidecar(wall_scene, tmp_path):
    from realcam.io.video import read_video
    from realcam.pipeline.i2v import RealCamPipeline
    from realcam.pipeline.tiny import tiny_model, tiny_tokenizer

    app = EditorApp(
        wall_scene,
        AppConfig(port=0, output_dir=tmp_path),
        pipeline_factory=lambda: RealCamPipeline(tiny_model("256"), tiny_tokenizer()),
    )
    try:
        app.apply_preset("dolly-forward", distance=0.3)
        app.steps_input.value = 2
        app.generate()
        assert app.wait_idle(300.0)
        assert app.generated is not None, app.last_message
        assert app.generated.video.is_file() and app.generated.sidecar.is_file()
        assert read_video(app.generated.video).shape == (16, 64, 64, 3)
        assert "video saved" in app.last_message and app.result_input.value
    finally:
        app.stop()


def test_playback_steps_through_frames(app):
    app.apply_preset("truck-right", distance=0.2)
    assert app.wait_idle(60.0)
    start = int(app.frame_input.value)
    app.play_input.value = True
    deadline = time.monotonic() + 10.0
    while int(app.frame_input.value) == start and time.monotonic() < deadline:
        time.sleep(0.05)
    app.play_input.value = False
    assert int(app.frame_input.value) != start
    assert app.preview_image.image.shape[:2] == app.preview.rgb.shape[1:3]


def test_zoom_preset_by_factor_or_by_target_fov(app):
    app.preset_select.value = "zoom-in"
    app._show_preset_parameters()
    assert app.preset_inputs["fov_end_deg"].visible and app.preset_inputs["fov_end_deg"].value == 0.0
    assert "fov_end_deg" not in app._preset_values() and "zoom" in app._preset_values()  # 0 = by the factor
    app.preset_inputs["fov_end_deg"].value = 30.0
    values = app._preset_values()
    assert values["fov_end_deg"] == 30.0 and "zoom" not in values
    app.apply_preset("zoom-in", **values)
    assert app.state.keyframes[-1].fov_deg == pytest.approx(30.0)
    app.preset_select.value = "dolly-forward"
    app._show_preset_parameters()
    assert not app.preset_inputs["fov_end_deg"].visible
