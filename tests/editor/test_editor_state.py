"""The UI-free editor model: every operation, undo/redo sequences, numeric entry, pivot, whole-path transforms."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam.editor.state import (
    EditorState,
    look_at_rotation,
    make_c2w,
    nearest_point_to_ray,
    pan_tilt_roll_from_rotation,
    rotation_from_pan_tilt_roll,
)
from realcam.trajectory.keyframes import Intrinsics, Trajectory

K = torch.tensor([[256.0, 0.0, 256.0], [0.0, 256.0, 160.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def pose(x: float = 0.0, y: float = 0.0, z: float = 0.0, pan: float = 0.0) -> torch.Tensor:
    return make_c2w(rotation_from_pan_tilt_roll(pan, 0.0, 0.0), (x, y, z))


def new_state(*positions: float) -> EditorState:
    state = EditorState(Intrinsics(K, width=512, height=320))
    for x in positions:
        state.add_keyframe(pose(x))
    return state


def xs(state: EditorState) -> list[float]:
    return [round(float(k.c2w[0, 3]), 9) for k in state.keyframes]


def test_add_appends_and_inserts_at_index():
    state = new_state(0.0, 1.0)
    assert state.add_keyframe(pose(0.5), index=1) == 1
    assert xs(state) == [0.0, 0.5, 1.0]
    assert state.add_keyframe(pose(2.0)) == 3
    with pytest.raises(ValueError, match="index"):
        state.add_keyframe(pose(9.0), index=7)
    with pytest.raises(ValueError, match="shape"):
        state.add_keyframe(torch.eye(3))


def test_add_rejects_non_rotation():
    state = new_state()
    bad = torch.eye(4, dtype=torch.float64)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError):
        state.add_keyframe(bad)
    assert len(state) == 0 and not state.can_undo  # a failed edit leaves no history entry


def test_insert_between_takes_midpoint_pose_and_fov():
    state = EditorState(Intrinsics(K, width=512, height=320))
    state.add_keyframe(pose(0.0, pan=0.0), fov_deg=40.0)
    state.add_keyframe(pose(2.0, z=1.0, pan=90.0), fov_deg=60.0)
    assert state.insert_between(0) == 1
    mid = state.keyframes[1]
    torch.testing.assert_close(mid.c2w[:3, 3], torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64))
    pan, tilt, roll = state.rotation_deg(1)
    assert pan == pytest.approx(45.0) and tilt == pytest.approx(0.0, abs=1e-9) and roll == pytest.approx(0.0, abs=1e-9)
    assert mid.fov_deg == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no keyframe after"):
        state.insert_between(2)


def test_insert_between_wraps_on_a_loop():
    state = new_state(0.0, 2.0)
    state.set_settings(closed=True)
    assert state.insert_between(1) == 2
    assert xs(state) == [0.0, 2.0, 1.0]


def test_delete_duplicate_move():
    state = new_state(0.0, 1.0, 2.0)
    state.delete_keyframe(1)
    assert xs(state) == [0.0, 2.0]
    assert state.duplicate_keyframe(0) == 1
    assert xs(state) == [0.0, 0.0, 2.0]
    state.move_keyframe(2, 0)
    assert xs(state) == [2.0, 0.0, 0.0]
    state.move_keyframe(0, 2)
    assert xs(state) == [0.0, 0.0, 2.0]
    with pytest.raises(ValueError):
        state.delete_keyframe(3)
    with pytest.raises(ValueError):
        state.move_keyframe(0, 3)


def test_duplicate_is_independent_of_original():
    state = new_state(0.0)
    state.duplicate_keyframe(0)
    state.set_position(1, (3.0, 0.0, 0.0))
    assert xs(state) == [0.0, 3.0]


def test_undo_redo_sequence_restores_every_document():
    state = new_state()
    snapshots = [xs(state)]
    for op in (
        lambda: state.add_keyframe(pose(0.0)),
        lambda: state.add_keyframe(pose(1.0)),
        lambda: state.insert_between(0),
        lambda: state.duplicate_keyframe(2),
        lambda: state.move_keyframe(3, 0),
        lambda: state.delete_keyframe(1),
        lambda: state.set_position(0, (5.0, 0.0, 0.0)),
    ):
        op()
        snapshots.append(xs(state))
    assert len(state.undo_labels) == 7
    for expected in reversed(snapshots[:-1]):
        assert state.undo()
        assert xs(state) == expected
    assert not state.undo() and not state.can_undo
    for expected in snapshots[1:]:
        assert state.redo()
        assert xs(state) == expected
    assert not state.redo()


def test_new_edit_after_undo_drops_redo_branch():
    state = new_state(0.0, 1.0)
    state.undo()
    assert state.can_redo
    state.add_keyframe(pose(7.0))
    assert not state.can_redo
    assert xs(state) == [0.0, 7.0]


def test_gesture_merge_key_makes_one_undo_step():
    state = new_state(0.0)
    for step in range(1, 11):
        state.set_c2w(0, pose(0.1 * step), merge_key="gizmo-0")
    assert xs(state) == [1.0]
    state.end_gesture()
    state.set_c2w(0, pose(2.0), merge_key="gizmo-0")  # a new drag: a new step
    state.undo()
    assert xs(state) == [1.0]
    state.undo()
    assert xs(state) == [0.0]


def test_listeners_hear_edits_undo_and_redo():
    state = new_state()
    seen = []
    state.on_change(lambda s: seen.append(len(s)))
    state.add_keyframe(pose(0.0))
    state.undo()
    state.redo()
    assert seen == [1, 0, 1]


def test_numeric_position_and_rotation_entry():
    state = new_state(0.0)
    state.set_position(0, (0.5, -0.2, 1.5))
    torch.testing.assert_close(state.keyframes[0].c2w[:3, 3], torch.tensor([0.5, -0.2, 1.5], dtype=torch.float64))
    state.set_rotation_deg(0, 30.0, -10.0, 5.0)
    assert state.rotation_deg(0) == pytest.approx((30.0, -10.0, 5.0))
    torch.testing.assert_close(state.keyframes[0].c2w[:3, 3], torch.tensor([0.5, -0.2, 1.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="3 values"):
        state.set_position(0, (1.0, 2.0))


def test_pan_positive_turns_towards_plus_x():
    forward = rotation_from_pan_tilt_roll(90.0, 0.0, 0.0)[:, 2]
    torch.testing.assert_close(forward, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    forward = rotation_from_pan_tilt_roll(0.0, 90.0, 0.0)[:, 2]  # positive tilt looks up (-y, y points down)
    torch.testing.assert_close(forward, torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-179.0, 179.0),
    st.floats(-89.0, 89.0),
    st.floats(-179.0, 179.0),
)
def test_pan_tilt_roll_round_trip(pan, tilt, roll):
    R = rotation_from_pan_tilt_roll(pan, tilt, roll)
    torch.testing.assert_close(R.T @ R, torch.eye(3, dtype=torch.float64))
    back = rotation_from_pan_tilt_roll(*pan_tilt_roll_from_rotation(R))
    torch.testing.assert_close(back, R, atol=1e-9, rtol=0)


def test_fov_per_keyframe_and_default():
    state = new_state(0.0, 1.0)
    state.set_fov(1, 35.0)
    assert state.keyframes[1].fov_deg == 35.0
    state.set_default_fov(50.0)
    trajectory = state.trajectory()
    assert [k.fov_deg for k in trajectory.keyframes] == [50.0, 35.0]
    state.set_fov(1, None)
    assert state.keyframes[1].fov_deg is None
    with pytest.raises(ValueError, match="fov"):
        state.set_fov(0, 200.0)


def test_look_at_rotation_points_the_optical_axis():
    R = look_at_rotation(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(R[:, 2], torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(R[:, 1], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))  # no roll: y stays down
    assert float(torch.det(R)) == pytest.approx(1.0)


def test_pick_pivot_and_look_at():
    state = new_state(-1.0, 1.0)
    points = torch.tensor([[0.0, 0.0, 3.0], [2.0, 0.0, 3.0], [0.0, 0.0, -3.0]])
    # A ray from the origin towards +z hits the first point; the point behind the ray origin is never picked.
    assert state.pick_pivot((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), points) == 0
    assert state.doc.pivot == (0.0, 0.0, 3.0)
    state.look_at_pivot()
    for key in state.keyframes:
        to_pivot = torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64) - key.c2w[:3, 3]
        torch.testing.assert_close(key.c2w[:3, 2], to_pivot / to_pivot.norm())
    state.undo()
    state.undo()
    assert state.doc.pivot is None
    with pytest.raises(ValueError, match="no pivot"):
        state.look_at_pivot()
    assert nearest_point_to_ray((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), points[2:]) is None


def test_transform_path_rotates_scales_and_translates_about_a_centre():
    state = new_state(1.0, 2.0)
    state.transform_path(rotation_deg=(90.0, 0.0, 0.0), about=(0.0, 0.0, 0.0))
    # Ry(90) maps +x to -z.
    torch.testing.assert_close(state.keyframes[1].c2w[:3, 3], torch.tensor([0.0, 0.0, -2.0], dtype=torch.float64))
    assert state.rotation_deg(1)[0] == pytest.approx(90.0)
    state.undo()
    state.transform_path(translation=(0.0, 0.5, 0.0), scale=2.0)  # about the first key
    assert xs(state) == [1.0, 3.0]
    assert float(state.keyframes[0].c2w[1, 3]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="scale"):
        state.transform_path(scale=0.0)


def test_transform_path_preserves_relative_motion_up_to_scale():
    state = new_state()
    state.add_keyframe(pose(0.0, pan=10.0))
    state.add_keyframe(pose(1.0, 0.2, 0.5, pan=-20.0))
    before = state.keyframes[0].c2w.inverse() @ state.keyframes[1].c2w
    state.transform_path(translation=(1.0, 2.0, 3.0), rotation_deg=(33.0, -12.0, 7.0))
    after = state.keyframes[0].c2w.inverse() @ state.keyframes[1].c2w
    torch.testing.assert_close(after, before)


def test_settings_change_and_unknown_name():
    state = new_state(0.0, 1.0)
    state.set_settings(tension=0.5, closed=True, timing="keys", ease="in-out")
    s = state.doc.settings
    assert (s.tension, s.closed, s.timing, s.ease) == (0.5, True, "keys", "in-out")
    state.undo()
    assert state.doc.settings.tension == 0.0
    with pytest.raises(ValueError, match="unknown"):
        state.set_settings(wobble=1.0)


def test_sample_has_the_model_frame_count_and_endpoints():
    state = new_state(0.0, 1.0, 3.0)
    sampled = state.sample()
    assert sampled.c2w.shape == (16, 4, 4)
    torch.testing.assert_close(sampled.c2w[0], state.keyframes[0].c2w)
    torch.testing.assert_close(sampled.c2w[-1], state.keyframes[-1].c2w)
    assert isinstance(state.trajectory(), Trajectory)
    assert sampled.fov_deg is not None and sampled.fov_deg.shape == (16,)


def test_empty_path_says_what_to_do():
    with pytest.raises(ValueError, match="no keyframes"):
        new_state().sample()


def test_clear_is_undoable():
    state = new_state(0.0, 1.0)
    state.clear()
    assert len(state) == 0
    state.undo()
    assert xs(state) == [0.0, 1.0]


def test_history_is_bounded():
    from realcam.editor import state as state_module

    state = new_state()
    for i in range(state_module.HISTORY_LIMIT + 20):
        state.add_keyframe(pose(float(i)))
    assert len(state.undo_labels) == state_module.HISTORY_LIMIT
    assert math.isclose(len(state), state_module.HISTORY_LIMIT + 20)


def test_readouts_constant_speed_and_totals():
    state = new_state(0.0, 1.0, 3.0)  # arc-length timing by default: constant speed over uneven legs
    readouts = state.readouts()
    total_s = 15 / 8.0
    assert [round(s.length_m, 6) for s in readouts.segments] == [1.0, 2.0]
    assert sum(s.duration_s for s in readouts.segments) == pytest.approx(total_s)
    for segment in readouts.segments:
        assert segment.speed_mps == pytest.approx(3.0 / total_s, rel=1e-3)
        assert segment.angular_speed_dps == pytest.approx(0.0, abs=1e-6)
    assert readouts.stats.total_length_m == pytest.approx(3.0, rel=1e-3)
    assert readouts.stats.duration_s == pytest.approx(total_s)


def test_readouts_key_timing_gives_equal_durations():
    state = new_state(0.0, 1.0, 3.0)
    state.set_settings(timing="keys")
    first, second = state.readouts().segments
    assert first.duration_s == pytest.approx(second.duration_s, rel=1e-3)
    assert second.speed_mps == pytest.approx(2 * first.speed_mps, rel=1e-2)


def test_readouts_angular_speed_of_a_pan():
    state = EditorState(Intrinsics(K, width=512, height=320))
    state.add_keyframe(pose(pan=0.0))
    state.add_keyframe(pose(pan=30.0))
    (segment,) = state.readouts().segments
    assert segment.rotation_deg == pytest.approx(30.0, rel=1e-4)
    assert segment.angular_speed_dps == pytest.approx(30.0 / (15 / 8.0), rel=1e-3)


def test_readouts_loop_includes_closing_segment():
    state = new_state(0.0, 1.0)
    state.set_pivot(None)
    state.add_keyframe(pose(0.5, 0.0, 1.0))
    state.set_settings(closed=True)
    segments = state.readouts().segments
    assert len(segments) == 3
    assert sum(s.duration_s for s in segments) == pytest.approx(16 / 8.0)


def test_preset_expands_into_editable_keyframes_and_moves_exactly():
    state = new_state(5.0)
    state.apply_preset("dolly-forward")
    assert len(state) >= 2
    sampled = state.sample()
    moved = (sampled.c2w[-1, :3, 3] - sampled.c2w[0, :3, 3]).norm()
    assert float(moved) == pytest.approx(1.0, abs=1e-9)  # "dolly forward 1 m" moves exactly 1.00 m
    state.set_position(len(state) - 1, (0.0, 0.0, 2.0))  # still editable
    assert float(state.sample().c2w[-1, 2, 3]) == pytest.approx(2.0)
    state.undo()
    state.undo()
    assert xs(state) == [5.0]
    with pytest.raises(ValueError, match="unknown"):
        state.apply_preset("no-such-preset")


@pytest.mark.parametrize("fmt,suffix", [("realcam", ".json"), ("nerfstudio", ".json"), ("re10k", ".txt")])
def test_export_import_round_trip(tmp_path, fmt, suffix):
    state = EditorState(Intrinsics(K, width=512, height=320))
    state.add_keyframe(pose(0.0, pan=-10.0), fov_deg=50.0)
    state.add_keyframe(pose(0.4, 0.1, 0.8, pan=15.0), fov_deg=50.0)
    state.add_keyframe(pose(1.0, 0.0, 1.2, pan=30.0), fov_deg=50.0)
    state.set_settings(tension=0.25)
    expected = state.sample().c2w
    path = state.save(tmp_path / f"path{suffix}", fmt)
    assert path.is_file()
    other = EditorState(Intrinsics(K, width=512, height=320))
    other.load(path, fmt)
    if fmt == "realcam":  # keyframes and settings survive as they are
        assert len(other) == 3 and other.doc.settings.tension == 0.25
        torch.testing.assert_close(other.trajectory().c2w(), state.trajectory().c2w())
    else:  # per-frame formats: every frame becomes a keyframe
        assert len(other) == 16
        torch.testing.assert_close(other.trajectory().c2w(), expected, atol=1e-5, rtol=0)
    assert other.undo_labels == [f"import {path.name}"]


def test_default_fov_is_the_input_cameras():
    state = new_state(0.0)
    assert state.doc.default_fov_deg == pytest.approx(2 * math.degrees(math.atan(160 / 256)))
    assert EditorState(intrinsics=None).doc.default_fov_deg == 60.0
