"""RealEstate10K readers, manifest and the training dataset on a tiny synthetic RE10K-layout folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from data_re10k_folder import make_folder

from realcam.data.dataset import ITEM_KEYS, RealEstate10KDataset, collate
from realcam.data.manifest import build_records, read_manifest, with_scales, write_manifest
from realcam.data.realestate10k import (
    format_pose_line,
    parse_pose_lines,
    read_captions,
    read_metadata_file,
    read_pose_file,
    read_valid_list,
)
from realcam.data.transforms import sample_frame_indices
from realcam.errors import InputError

H0, W0 = 48, 80  # source clip size


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("re10k")
    truth = make_folder(root, {"clipA": 40, "clipB": 20, "short": 10}, height=H0, width=W0)
    records, dropped = build_records(
        root / "valid_metadata" / "train",
        root / "video_clips" / "train",
        clip_ids=read_valid_list(root / "train_valid_list.txt"),
        captions=read_captions(root / "train_captions.json"),
    )
    scales = {clip_id: s for clip_id, (_, s) in truth.items()}
    manifest = write_manifest(root / "train.jsonl", with_scales(records, scales), split="train")
    return root, truth, manifest, dropped


def test_pose_line_round_trip_and_conventions():
    c2w = np.eye(4)
    c2w[:3, 3] = [1.0, 2.0, 3.0]
    line = format_pose_line(123, [0.5, 0.8, 0.5, 0.5], c2w)
    numbers = [float(x) for x in line.split()]
    assert numbers[7:] == [1, 0, 0, -1, 0, 1, 0, -2, 0, 0, 1, -3]  # stored as w2c
    rows = parse_pose_lines([line], "x")
    np.testing.assert_allclose(rows.c2w[0], c2w)
    np.testing.assert_allclose(rows.K(100, 200)[0], [[100, 0, 100], [0, 80, 50], [0, 0, 1]])


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 2 3", "expected 19 numbers"),
        ("0 0.5 0.5 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 x", "not a number"),
        ("0 -0.5 0.5 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0", "fx and fy"),
        ("0 0.5 0.5 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 -1 0", "proper rotation"),
    ],
)
def test_pose_lines_reject_bad_rows(line, message):
    with pytest.raises(InputError, match=message):
        parse_pose_lines(["0 0.5 0.5 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0", line], "f.txt")


def test_metadata_layout_readers(folder, tmp_path):
    root, truth, _, _ = folder
    clip = read_metadata_file(root / "valid_metadata" / "train" / "clipA.txt")
    assert clip.clip_id == "clipA" and clip.video_stem.endswith("/clipA") and clip.url.startswith("https://")
    np.testing.assert_allclose(clip.poses.c2w, truth["clipA"][0].c2w, atol=1e-12)
    np.testing.assert_array_equal(clip.poses.timestamps_us, truth["clipA"][0].timestamps_us)
    assert read_captions(root / "train_captions.json")["clipB"] == "a room number 1"
    raw = tmp_path / "pose.txt"
    lines = (root / "valid_metadata" / "train" / "clipB.txt").read_text().splitlines()
    raw.write_text("\n".join([lines[0]] + lines[3:]) + "\n")
    url, rows = read_pose_file(raw)
    assert url == clip.url.replace("yt000", "yt001") and rows.num_frames == 20


def test_manifest_round_trip_and_drops(folder, tmp_path):
    root, truth, manifest, dropped = folder
    assert dropped == {"short": "10 pose rows < 16"}
    header, records = read_manifest(manifest)
    assert header["split"] == "train" and [r.clip_id for r in records] == ["clipA", "clipB"]
    assert records[1].caption == "a room number 1"
    np.testing.assert_allclose(records[0].c2w, truth["clipA"][0].c2w, atol=1e-12)
    np.testing.assert_allclose(records[0].metric_scale, truth["clipA"][1])
    lines = manifest.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["extra"] = 1
    (tmp_path / "bad.jsonl").write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match="unknown keys \\['extra'\\]"):
        read_manifest(tmp_path / "bad.jsonl")


def test_manifest_drops_video_with_wrong_frame_count(folder, tmp_path):
    root, *_ = folder
    meta = tmp_path / "meta"
    meta.mkdir()
    text = (root / "valid_metadata" / "train" / "clipB.txt").read_text().splitlines()
    extra = text[-1]
    (meta / "clipB.txt").write_text("\n".join(text + [extra]) + "\n")
    records, dropped = build_records(meta, root / "video_clips" / "train")
    assert records == [] and "video has 20 frames but the metadata 21 pose rows" in dropped["clipB"]


def test_frame_sampling_stride_and_fallback():
    g = torch.Generator().manual_seed(0)
    strides = set()
    for _ in range(200):
        idx, stride = sample_frame_indices(200, 16, (1, 10), g)
        assert np.all(np.diff(idx) == stride) and idx[0] >= 0 and idx[-1] < 200
        strides.add(stride)
    assert strides == set(range(1, 11))
    idx, stride = sample_frame_indices(40, 16, (8, 8), g)  # 8·15+1 = 121 > 40: the largest stride that fits, 2
    assert stride == 2 and idx[-1] < 40
    with pytest.raises(ValueError, match="shorter"):
        sample_frame_indices(10, 16, (1, 1), g)


def expected_item(truth_rows, scales, indices, cond, out_hw):
    """The spec's tensors computed independently, in float64 numpy."""
    out_h, out_w = out_hw
    # Cover: 48x80 into 32x32 -> height limits: 32 x int(80*32/48)=53, crop left (53-32)//2 = 10.
    rh, rw = out_h, int(W0 * out_h / H0)
    left = (rw - out_w) // 2
    K = truth_rows.K(H0, W0)[indices]
    K[:, 0] *= rw / W0
    K[:, 1] *= rh / H0
    K[:, 0, 2] -= left
    c2w = truth_rows.c2w[indices]
    rel = np.linalg.inv(c2w[cond]) @ c2w
    rel[:, :3, 3] *= scales[indices[cond]]
    return K, rel, left, rw


def test_dataset_yields_spec_tensors(folder):
    root, truth, manifest, _ = folder
    out_hw = (32, 32)
    ds = RealEstate10KDataset(manifest, pixel_hw=out_hw, frames=16, stride_range=(1, 10), seed=3)
    assert len(ds) == 2
    item = ds[0]
    tensors = {
        "video": ((3, 16, 32, 32), torch.float32),
        "rel_c2w": ((16, 4, 4), torch.float32),
        "K": ((16, 3, 3), torch.float32),
        "frame_indices": ((16,), torch.int64),
        "metric_scale": ((16,), torch.float32),
    }
    scalars = {"cond_index": int, "frame_stride": int, "fps": int, "fs": int, "cond_scale": float}
    scalars |= {"caption": str, "clip_id": str, "video_path": str}
    assert set(item) == set(tensors) | set(scalars) == ITEM_KEYS
    for key, (shape, dtype) in tensors.items():
        assert tuple(item[key].shape) == shape and item[key].dtype == dtype, key
    for key, kind in scalars.items():
        assert type(item[key]) is kind, key
    assert item["clip_id"] == "clipA" and item["caption"] == "a room number 0"
    assert item["video_path"] == str(root / "video_clips" / "train" / "yt000" / "clipA.mp4")
    video, rel, K = item["video"], item["rel_c2w"], item["K"]
    assert -1 <= float(video.min()) and float(video.max()) <= 1
    # Blue encodes the frame index: recover which frames were picked (lossless video).
    blue = ((video[2, :, 5, 5] + 1) * 127.5).round().long().numpy()
    indices = blue // 6
    stride = int(indices[1] - indices[0])
    assert np.all(np.diff(indices) == stride) and np.array_equal(item["frame_indices"].numpy(), indices)
    assert item["frame_stride"] == item["fs"] == stride and item["fps"] == 30 // stride
    cond = item["cond_index"]
    rows, scales = truth["clipA"]
    torch.testing.assert_close(item["metric_scale"], torch.from_numpy(scales[indices]).float())
    assert item["cond_scale"] == float(scales[indices[cond]])
    K_ref, rel_ref, left, rw = expected_item(rows, scales, indices, cond, out_hw)
    torch.testing.assert_close(K, torch.from_numpy(K_ref).float())
    torch.testing.assert_close(rel, torch.from_numpy(rel_ref).float(), atol=1e-5, rtol=1e-5)
    assert torch.equal(rel[cond], torch.eye(4))
    # Red encodes the source column (2 per pixel): output column j samples source x = (j + left + 0.5)·W0/rw − 0.5.
    red = (video[0, 0, 16, 4:28] + 1) * 127.5
    src_x = (torch.arange(4, 28) + left + 0.5) * W0 / rw - 0.5
    torch.testing.assert_close(red, 2 * src_x, atol=1.5, rtol=0)


def test_dataset_determinism_epochs_and_fps(folder):
    _, _, manifest, _ = folder
    ds = RealEstate10KDataset(manifest, pixel_hw=(16, 24), seed=1, fps_condition_type="fps")
    a, b = ds[1], ds[1]
    assert torch.equal(a["video"], b["video"]) and a["cond_index"] == b["cond_index"]
    stride = int(round(float((a["video"][2, 1, 0, 0] - a["video"][2, 0, 0, 0]) * 127.5 / 6)))
    assert a["fs"] == a["fps"] == 30 // stride and a["frame_stride"] == stride  # fs = floor(fps / stride)
    draws = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        draws.add((item["cond_index"], float(item["video"][2, 0, 0, 0])))
    assert len(draws) > 1
    fixed = RealEstate10KDataset(manifest, pixel_hw=(16, 24), random_condition_frame=False)
    assert all(fixed[i]["cond_index"] == 0 for i in range(2))


def test_collate_and_dataloader(folder):
    _, _, manifest, _ = folder
    ds = RealEstate10KDataset(manifest, pixel_hw=(16, 16), seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 3, 16, 16, 16) and batch["rel_c2w"].shape == (2, 16, 4, 4)
    assert batch["K"].shape == (2, 16, 3, 3) and batch["cond_index"].dtype == torch.int64
    assert batch["fs"].shape == (2,) and batch["clip_id"] == ["clipA", "clipB"]
    assert batch["frame_indices"].shape == (2, 16) and batch["frame_indices"].dtype == torch.int64
    assert batch["metric_scale"].shape == (2, 16) and batch["cond_scale"].dtype == torch.float32
    assert batch["fps"].dtype == batch["frame_stride"].dtype == torch.int64 and len(batch["video_path"]) == 2
    with pytest.raises(ValueError, match="missing \\['fps'\\]"):
        collate([{k: v for k, v in ds[0].items() if k != "fps"}])


def test_dataset_requires_scale(folder, tmp_path):
    root, *_ = folder
    records, _ = build_records(root / "valid_metadata" / "train", root / "video_clips" / "train")
    path = write_manifest(tmp_path / "unaligned.jsonl", records)
    with pytest.raises(ValueError, match="no metric_scale"):
        RealEstate10KDataset(path)
    ds = RealEstate10KDataset(path, require_scale=False, pixel_hw=(16, 16))
    item = ds[1]
    assert item["rel_c2w"].shape == (16, 4, 4) and item["cond_scale"] == 1.0
    assert torch.isnan(item["metric_scale"]).all()  # no alignment: reported as unknown, scale 1 applied


def test_metadata_command_builds_layout_from_pose_files(folder, tmp_path):
    from realcam.cli.main import main

    root, truth, _, _ = folder
    poses = tmp_path / "pose_files"
    poses.mkdir()
    for clip_id in ("clipA", "clipB", "short"):
        lines = (root / "valid_metadata" / "train" / f"{clip_id}.txt").read_text().splitlines()
        (poses / f"{clip_id}.txt").write_text("\n".join([lines[0]] + lines[3:]) + "\n")
    (poses / "novideo.txt").write_text((poses / "clipB.txt").read_text())
    out = tmp_path / "valid_metadata"
    args = ["data", "metadata", "--pose-files", str(poses), "--videos", str(root / "video_clips" / "train")]
    args += ["--captions", str(root / "train_captions.json"), "--out", str(out), "--list-out", str(tmp_path / "l.txt")]
    assert main(args) == 0
    assert read_valid_list(tmp_path / "l.txt") == ["clipA", "clipB"]
    clip = read_metadata_file(out / "clipB.txt")
    assert clip.caption == "a room number 1" and clip.video_stem == "yt001/clipB"
    np.testing.assert_allclose(clip.poses.c2w, truth["clipB"][0].c2w, atol=1e-12)
    report = json.loads((tmp_path / "valid_metadata.json").read_text())
    assert report["skipped"]["short"] == "10 pose rows < 16" and "no video" in report["skipped"]["novideo"]


def test_per_frame_scale_npz_reader_is_safe(tmp_path):
    from collections import OrderedDict

    from realcam.data.realestate10k import read_per_frame_scale_npz

    np.savez(tmp_path / "s.npz", {"a": np.array([0.5, 0.6], dtype=np.float32), "b": [1.0, 2.0, 3.0]})
    scales = read_per_frame_scale_npz(tmp_path / "s.npz")
    np.testing.assert_allclose(scales["a"], [0.5, 0.6], rtol=1e-6)
    np.testing.assert_array_equal(scales["b"], [1.0, 2.0, 3.0])
    np.savez(tmp_path / "evil.npz", OrderedDict(a=1.0))  # any non-numpy global is refused
    with pytest.raises(InputError, match="refusing to load collections.OrderedDict"):
        read_per_frame_scale_npz(tmp_path / "evil.npz")


def test_test_metadata_pth(tmp_path):
    from realcam.data.realestate10k import read_test_metadata

    w2c = torch.eye(4).repeat(3, 1, 1)
    w2c[:, 0, 3] = torch.tensor([0.0, -1.0, -2.0])  # camera centres at x = 0, 1, 2
    items = [
        {"caption": "c", "video_path": "v/a.mp4", "camera_extrinsics": w2c,
         "camera_intrinsics": torch.tensor([0.5, 0.8, 0.5, 0.5]), "per_frame_scale": torch.tensor([1.0, 2.0, 3.0])},
        {"caption": "d", "video_path": "v/b.mp4", "camera_extrinsics": w2c, "camera_intrinsics": torch.eye(3)[None]},
    ]  # fmt: skip
    torch.save(items, tmp_path / "meta.pth")
    records = read_test_metadata(tmp_path / "meta.pth")
    np.testing.assert_allclose(records[0]["c2w"][:, 0, 3], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(records[0]["per_frame_scale"], [1, 2, 3])
    assert records[0]["intrinsics_norm"].shape == (4,) and records[1]["K"].shape == (3, 3)
    torch.save([{"caption": "c"}], tmp_path / "bad.pth")
    with pytest.raises(InputError, match="missing keys camera_extrinsics, camera_intrinsics, video_path"):
        read_test_metadata(tmp_path / "bad.pth")


def test_manifest_command_with_reference_scale_npz(folder, tmp_path):
    from realcam.cli.main import main

    root, truth, _, _ = folder
    np.savez(tmp_path / "scales.npz", {"clipA": truth["clipA"][1]})
    out = tmp_path / "m.jsonl"
    args = ["data", "manifest", "--metadata", str(root / "valid_metadata" / "train"), "--videos"]
    args += [str(root / "video_clips" / "train"), "--scales", str(tmp_path / "scales.npz"), "--out", str(out)]
    assert main(args) == 0
    _, records = read_manifest(out)
    assert [r.clip_id for r in records] == ["clipA"]
    np.testing.assert_allclose(records[0].metric_scale, truth["clipA"][1])
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["dropped_alignment"] == {"clipB": "not in the scale file"}
    assert report["dropped_input"] == {"short": "10 pose rows < 16"}
