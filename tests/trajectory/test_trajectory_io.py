import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realcam.errors import InputError
from realcam.geometry.se3 import invert_se3, quat_wxyz_to_matrix
from realcam.trajectory import InterpolationSettings, Intrinsics, Keyframe, Trajectory, make_preset
from realcam.trajectory.io import load_trajectory, save_trajectory, trajectory_from_json, trajectory_to_json

F64 = torch.float64
coord = st.floats(-5, 5, allow_nan=False)
quat = st.tuples(coord, coord, coord, coord).filter(lambda q: sum(x * x for x in q) > 1e-2)
poses = st.lists(st.tuples(quat, st.tuples(coord, coord, coord)), min_size=1, max_size=8)
fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _w2c(q, t) -> torch.Tensor:
    w2c = torch.eye(4, dtype=F64)
    w2c[:3, :3] = quat_wxyz_to_matrix(torch.tensor(q, dtype=F64))
    w2c[:3, 3] = torch.tensor(t, dtype=F64)
    return w2c


def _re10k_text(w2cs, intr=(0.5, 0.5, 0.5, 0.5), stamps=None) -> str:
    lines = ["https://www.youtube.com/watch?v=example"]
    for i, w2c in enumerate(w2cs):
        stamp = stamps[i] if stamps else 114514  # the reference demo files' constant timestamp
        numbers = list(intr) + [0.0, 0.0] + w2c[:3, :4].reshape(-1).tolist()
        lines.append(" ".join([str(stamp)] + [repr(x) for x in numbers]))
    return "\n".join(lines) + "\n"


def _read_re10k_w2c(path) -> torch.Tensor:
    rows = [line.split() for line in path.read_text().splitlines()[1:]]
    w2c = torch.eye(4, dtype=F64).repeat(len(rows), 1, 1)
    w2c[:, :3, :4] = torch.tensor([[float(x) for x in r[7:]] for r in rows], dtype=F64).reshape(-1, 3, 4)
    return w2c


def _read_re10k_intrinsics(path) -> torch.Tensor:
    rows = [line.split() for line in path.read_text().splitlines()[1:]]
    return torch.tensor([[float(x) for x in r[1:5]] for r in rows], dtype=F64)


@fast
@given(
    poses,
    st.sampled_from(
        [(0.5, 0.5, 0.5, 0.5), (0.5, 0.8888888888888888, 0.5, 0.5), (0.9, 0.6, 0.5, 0.5), (0.5, 0.888, 0.5, 0.5)]
    ),
)
def test_re10k_realcam_nerfstudio_re10k_round_trip(tmp_path_factory, data, intr):
    folder = tmp_path_factory.mktemp("rt")
    w2cs = [_w2c(q, t) for q, t in data]
    src = folder / "in.txt"
    src.write_text(_re10k_text(w2cs, intr))
    trajectory = load_trajectory(src)
    assert trajectory.settings.timing == "keys" and len(trajectory.keyframes) == len(w2cs)
    save_trajectory(trajectory, folder / "a.json", num_frames=None)
    from_json = load_trajectory(folder / "a.json")
    save_trajectory(from_json, folder / "b.json", "nerfstudio", num_frames=None)
    from_ns = load_trajectory(folder / "b.json")
    save_trajectory(from_ns, folder / "c.txt", num_frames=None)
    back = _read_re10k_w2c(folder / "c.txt")
    torch.testing.assert_close(back, torch.stack(w2cs), atol=1e-6, rtol=0)
    # Square pixels and a centred principal point: nerfstudio (fov + aspect) holds the intrinsics too.
    torch.testing.assert_close(
        _read_re10k_intrinsics(folder / "c.txt"), torch.tensor([intr] * len(w2cs), dtype=F64), atol=1e-9, rtol=0
    )


def test_normalised_intrinsics_survive_a_rounded_nominal_width(tmp_path):
    # fy_n/fx_n = 1.776: the nominal image is 1918.08 px wide at 1080 px, rounded to 1918. Before the fix, fx came
    # back from nerfstudio as 0.5000209 (square pixels on the rounded width).
    w2cs = [_w2c((1, 0, 0, 0), (0, 0, -z)) for z in (0.0, 0.5, 1.0)]
    intr = (0.5, 0.888, 0.5, 0.5)
    (tmp_path / "in.txt").write_text(_re10k_text(w2cs, intr, stamps=[0, 100000, 300000]))
    trajectory = load_trajectory(tmp_path / "in.txt")
    assert (trajectory.intrinsics.width, trajectory.intrinsics.height) == (1918, 1080)
    assert float(trajectory.intrinsics.K[0, 0]) / 1918 == 0.5
    save_trajectory(trajectory, tmp_path / "a.json", num_frames=None)
    save_trajectory(load_trajectory(tmp_path / "a.json"), tmp_path / "b.json", "nerfstudio", num_frames=None)
    assert json.loads((tmp_path / "b.json").read_text())["camera_path"][0]["aspect"] == pytest.approx(1.776, abs=1e-12)
    from_ns = load_trajectory(tmp_path / "b.json")
    assert float(from_ns.intrinsics.K[0, 0]) / 1918 == pytest.approx(0.5, abs=1e-14)
    save_trajectory(from_ns, tmp_path / "c.txt", num_frames=None)
    torch.testing.assert_close(
        _read_re10k_intrinsics(tmp_path / "c.txt"), torch.tensor([intr] * 3, dtype=F64), atol=1e-14, rtol=0
    )


def test_nerfstudio_aspect_far_from_the_render_size_is_ignored(tmp_path):
    trajectory = make_preset("dolly-forward", fov_deg=50.0)
    save_trajectory(trajectory, tmp_path / "ns.json", "nerfstudio")
    data = json.loads((tmp_path / "ns.json").read_text())
    for frame in data["camera_path"]:
        frame["aspect"] = 1.6  # a viewer window's aspect, not the 256×256 render size: pixels stay square
    (tmp_path / "ns.json").write_text(json.dumps(data))
    K = load_trajectory(tmp_path / "ns.json").intrinsics.K
    assert float(K[0, 0]) == float(K[1, 1])


def test_per_frame_fov_keeps_the_pixel_aspect_of_the_intrinsics(tmp_path):
    # RE10K rows that zoom (fx_n, fy_n both change) on a 640×360 video with non-square pixels.
    w2cs = [_w2c((1, 0, 0, 0), (0, 0, -z)) for z in (0.0, 0.5)]
    text = _re10k_text(w2cs, (0.55, 0.97, 0.5, 0.5)).splitlines()
    text[2] = text[2].replace("0.55 0.97", "0.66 1.164", 1)
    (tmp_path / "in.txt").write_text("\n".join(text) + "\n")
    trajectory = load_trajectory(tmp_path / "in.txt", image_size=(360, 640))
    assert trajectory.keyframes[1].fov_deg is not None
    save_trajectory(trajectory, tmp_path / "out.txt", num_frames=None)
    torch.testing.assert_close(
        _read_re10k_intrinsics(tmp_path / "out.txt"),
        torch.tensor([[0.55, 0.97, 0.5, 0.5], [0.66, 1.164, 0.5, 0.5]], dtype=F64),
        atol=1e-12,
        rtol=0,
    )


def test_re10k_keeps_off_centre_intrinsics_through_realcam_json(tmp_path):
    w2cs = [_w2c((1, 0, 0, 0), (0, 0, -z)) for z in (0.0, 0.5, 1.0)]
    intr = (0.55, 0.97, 0.48, 0.53)
    (tmp_path / "in.txt").write_text(_re10k_text(w2cs, intr, stamps=[0, 33366, 66733]))
    trajectory = load_trajectory(tmp_path / "in.txt", image_size=(360, 640))
    assert trajectory.intrinsics.width == 640 and trajectory.intrinsics.height == 360
    assert float(trajectory.intrinsics.K[0, 0]) == pytest.approx(0.55 * 640)
    assert [k.time for k in trajectory.keyframes] == pytest.approx([0.0, 0.033366, 0.066733])
    save_trajectory(trajectory, tmp_path / "a.json", num_frames=None)
    save_trajectory(load_trajectory(tmp_path / "a.json"), tmp_path / "b.txt", num_frames=None)
    torch.testing.assert_close(
        _read_re10k_intrinsics(tmp_path / "b.txt"), torch.tensor([intr] * 3, dtype=F64), atol=1e-12, rtol=0
    )
    stamps = [int(line.split()[0]) for line in (tmp_path / "b.txt").read_text().splitlines()[1:]]
    assert stamps == [0, 33366, 66733]


keyframe_strategy = st.builds(
    lambda q, t, fov, time: (q, t, fov, time),
    quat,
    st.tuples(coord, coord, coord),
    st.one_of(st.none(), st.floats(10, 120)),
    st.none(),
)


@fast
@given(
    st.lists(keyframe_strategy, min_size=1, max_size=6),
    st.builds(
        InterpolationSettings,
        tension=st.floats(-1, 1),
        closed=st.booleans(),
        timing=st.sampled_from(["arc", "keys"]),
        ease=st.sampled_from(["none", "in", "out", "in-out"]),
        pivot=st.one_of(st.none(), st.tuples(coord, coord, coord)),
    ),
    st.booleans(),
)
def test_realcam_json_round_trip(tmp_path_factory, keys, interp, with_intrinsics):
    keyframes = tuple(Keyframe(invert_se3(_w2c(q, t)), fov, time) for q, t, fov, time in keys)
    intrinsics = None
    if with_intrinsics:
        intrinsics = Intrinsics(torch.tensor([[300.5, 0, 160.25], [0, 301.0, 99.0], [0, 0, 1]], dtype=F64), 320, 200)
    trajectory = Trajectory(keyframes, interp, intrinsics)
    path = tmp_path_factory.mktemp("json") / "t.json"
    save_trajectory(trajectory, path, num_frames=5)
    data = json.loads(path.read_text())
    assert data["format"] == "realcam-trajectory" and data["version"] == 1
    assert data["convention"] == "opencv_c2w" and data["units"]["translation"] == "m"
    assert data["frames"]["num_frames"] == 5
    back = load_trajectory(path)
    assert back.settings == trajectory.settings
    assert len(back.keyframes) == len(keyframes)
    for a, b in zip(back.keyframes, keyframes):
        assert torch.equal(a.c2w, b.c2w) and a.fov_deg == b.fov_deg and a.time == b.time
    if with_intrinsics:
        assert torch.equal(back.intrinsics.K, intrinsics.K) and back.intrinsics.width == 320
    else:
        assert back.intrinsics is None
    torch.testing.assert_close(back.sample(5).c2w, trajectory.sample(5).c2w, atol=0, rtol=0)


def test_nerfstudio_is_opengl_and_round_trips(tmp_path):
    trajectory = make_preset("orbit-left", angle=40, fov_deg=50.0)
    save_trajectory(trajectory, tmp_path / "ns.json", "nerfstudio")
    data = json.loads((tmp_path / "ns.json").read_text())
    assert len(data["camera_path"]) == 16 and data["camera_path"][0]["fov"] == pytest.approx(50.0)
    first = torch.tensor(data["camera_path"][0]["camera_to_world"]).reshape(4, 4)
    # Identity OpenCV camera = OpenGL camera with flipped y and z axes.
    torch.testing.assert_close(first, torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))
    back = load_trajectory(tmp_path / "ns.json")
    torch.testing.assert_close(back.c2w(), trajectory.sample(16).c2w, atol=1e-12, rtol=0)
    assert back.keyframes[-1].fov_deg == pytest.approx(50.0)


def test_sampled_trajectory_saves_its_frames(tmp_path):
    sampled = make_preset("pan-right").sample(16)
    save_trajectory(sampled, tmp_path / "s.txt")
    torch.testing.assert_close(_read_re10k_w2c(tmp_path / "s.txt"), sampled.w2c, atol=1e-12, rtol=0)
    save_trajectory(sampled, tmp_path / "s.json")
    assert len(load_trajectory(tmp_path / "s.json").keyframes) == 16


def _error(path) -> str:
    with pytest.raises(InputError) as info:
        load_trajectory(path)
    return str(info.value)


def test_malformed_re10k_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    good = _re10k_text([torch.eye(4, dtype=F64)] * 2)
    path.write_text(good + "0 0.5 0.5 0.5 0.5 0 0 1 0 0\n")
    message = _error(path)
    assert str(path) in message and "line 4" in message and "19 numbers" in message
    path.write_text(good.replace("114514 0.5", "114514 abc", 1))
    assert "line 2" in _error(path) and "not a number" in _error(path)
    improper = torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0], dtype=F64))
    path.write_text(_re10k_text([torch.eye(4, dtype=F64), improper]))
    message = _error(path)
    assert "line 3" in message and "improper" in message
    path.write_text("https://example.com\n")
    assert "no pose lines" in _error(path)
    path.write_text(good.replace("114514 0.5", "114514 nan", 1))
    assert "NaN" in _error(path)


def test_malformed_json_names_the_field(tmp_path):
    path = tmp_path / "t.json"
    data = trajectory_to_json(make_preset("dolly-forward"))
    data["keyframes"][2]["c2w"][0] = [1, 2]
    path.write_text(json.dumps(data))
    message = _error(path)
    assert str(path) in message and "keyframes[2]" in message and "4×4" in message
    data = trajectory_to_json(make_preset("dolly-forward"))
    data["extra"] = 1
    del data["settings"]
    path.write_text(json.dumps(data))
    message = _error(path)
    assert "missing settings" in message and "unknown extra" in message
    data = trajectory_to_json(make_preset("dolly-forward"))
    data["version"] = 99
    path.write_text(json.dumps(data))
    assert "version" in _error(path)
    data = trajectory_to_json(make_preset("dolly-forward"))
    data["keyframes"][1]["c2w"][0][0] = 1.5
    path.write_text(json.dumps(data))
    assert "keyframes[1]" in _error(path) and "orthonormal" in _error(path)
    path.write_text('{"format": ')
    assert "line 1" in _error(path) and "not valid JSON" in _error(path)
    ns = {"camera_path": [{"camera_to_world": [1] * 15, "fov": 50}], "render_height": 10, "render_width": 10}
    path.write_text(json.dumps(ns))
    assert "camera_path[0].camera_to_world" in _error(path)
    ns["render_height"] = -1
    path.write_text(json.dumps(ns))
    assert "render_height" in _error(path)
    with pytest.raises(InputError, match="no such trajectory file"):
        load_trajectory(tmp_path / "missing.json")
    with pytest.raises(InputError, match="unknown trajectory format 'csv'"):
        load_trajectory(path, "csv")
    (tmp_path / "t.yaml").write_text("x")
    with pytest.raises(InputError, match="extension '.yaml'"):
        load_trajectory(tmp_path / "t.yaml")


def test_trajectory_from_json_rejects_bad_settings():
    data = trajectory_to_json(make_preset("static"))
    data["settings"]["timing"] = "fast"
    with pytest.raises(InputError, match="settings.*timing"):
        trajectory_from_json(data, "x.json")


def test_frames_of_reference_style_file_with_constant_timestamps(tmp_path):
    w2cs = [_w2c((1, 0, 0, 0), (0, 0, -0.1 * i)) for i in range(8)]
    (tmp_path / "zoom.txt").write_text(_re10k_text(w2cs))
    trajectory = load_trajectory(tmp_path / "zoom.txt")
    assert all(k.time is None for k in trajectory.keyframes)  # 114514 everywhere: spaced uniformly
    sampled = trajectory.sample(16)
    assert float(sampled.c2w[-1, 2, 3]) == pytest.approx(0.7)
    assert math.isclose(trajectory.intrinsics.fov_deg, 90.0)


def test_reflected_reference_files_need_explicit_acceptance(tmp_path, caplog):
    # Like the reference's demo files: every w2c has an improper rotation (a world reflection S), which cancels in
    # the poses relative to the first camera.
    proper = [invert_se3(_pose_yaw(0.3 * i, (0.1 * i, 0.0, 0.2 * i))) for i in range(5)]
    S = torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0], dtype=F64))
    path = tmp_path / "look.txt"
    path.write_text(_re10k_text([w2c @ S for w2c in proper]))
    message = _error(path)
    assert "line 2" in message and "improper" in message and "accept_reflected" in message
    trajectory = load_trajectory(path, accept_reflected=True)
    assert "improper" in caplog.text
    c2w = torch.stack([invert_se3(w) for w in proper])
    expected = invert_se3(c2w[0]) @ c2w
    torch.testing.assert_close(trajectory.c2w(), expected, atol=1e-12, rtol=0)
    # Mixed proper and improper rows stay an error even when accepted.
    path.write_text(_re10k_text([proper[0] @ S, proper[1]]))
    with pytest.raises(InputError, match="line 2"):
        load_trajectory(path, accept_reflected=True)


def _pose_yaw(angle, t):
    from realcam.geometry.se3 import so3_exp

    c2w = torch.eye(4, dtype=F64)
    c2w[:3, :3] = so3_exp(torch.tensor([0.0, angle, 0.0], dtype=F64))
    c2w[:3, 3] = torch.tensor(t, dtype=F64)
    return c2w


def test_nerfstudio_keyframes_and_3x4_frames(tmp_path):
    trajectory = make_preset("dolly-forward", num_keyframes=3)
    save_trajectory(trajectory, tmp_path / "ns.json", "nerfstudio")
    data = json.loads((tmp_path / "ns.json").read_text())
    assert len(data["keyframes"]) == 3 and len(data["camera_path"]) == 16 and data["is_cycle"] is False
    # Same world and centre (z = 0.5 m); the OpenGL camera's z axis points backward.
    assert data["keyframes"][1]["matrix"][11] == pytest.approx(0.5)
    assert data["keyframes"][1]["matrix"][10] == pytest.approx(-1.0)
    for frame in data["camera_path"]:
        frame["camera_to_world"] = frame["camera_to_world"][:12]  # a 3×4 variant some exporters write
    (tmp_path / "ns34.json").write_text(json.dumps(data))
    back = load_trajectory(tmp_path / "ns34.json")
    torch.testing.assert_close(back.c2w(), trajectory.sample(16).c2w, atol=1e-12, rtol=0)


def test_save_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"extension '.xyz'.*\.json \(realcam\), \.txt \(re10k\)"):
        save_trajectory(make_preset("dolly-forward"), tmp_path / "a.xyz")
    assert not (tmp_path / "a.xyz").exists()
    save_trajectory(make_preset("dolly-forward"), tmp_path / "a.xyz", "nerfstudio")
    assert load_trajectory(tmp_path / "a.xyz", "nerfstudio").keyframes
