"""`realcam eval camera` and `realcam eval fvd` through the real CLI entry point."""

import json

import numpy as np
import pytest
import synthetic_room
import torch

from realcam.cli.main import main
from realcam.io.video import write_video


def test_eval_camera_cli_counts_a_blank_video_and_writes_reports(tmp_path, capsys):
    c2w, K = synthetic_room.arc_trajectory(), synthetic_room.intrinsics(96, 96)
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", np.full((16, 96, 96, 3), 70, np.uint8), fps=10)
        (tmp_path / f"{name}.json").write_text(json.dumps({"camera": {"c2w": c2w.tolist(), "K": K.tolist()}}))
    out = tmp_path / "report"
    assert main(["eval", "camera", str(tmp_path), "--trials", "1", "--shard", "1/2", "--no-depth", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 samples, 1 trials" in printed and "sample failure rate 100.0%" in printed
    summary = json.loads((out / "summary.shard-1-of-2.json").read_text())
    assert summary["failure_reasons"] == {"no reconstruction": 1}
    assert (out / "trials.shard-1-of-2.jsonl").exists() and (out / "per_sample.shard-1-of-2.csv").exists()
    # The other shard, then one report over both shards' records.
    assert main(["eval", "camera", str(tmp_path), "--trials", "1", "--shard", "0/2", "--no-depth", "-o", str(out)]) == 0
    assert main(["eval", "camera", str(tmp_path), "--trials", "1", "--report-only", "-o", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["samples"] == 2


def test_eval_camera_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["eval", "camera", str(tmp_path)]) == 1
    assert "no samples found" in capsys.readouterr().err
    assert main(["eval", "camera", str(tmp_path), "--shard", "3/2"]) == 1


def test_eval_camera_help_defines_the_metrics_and_points_to_the_docs(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "camera", "--help"])
    text = capsys.readouterr().out
    for name in ("rot_err", "trans_err_rel", "cammc_rel", "trans_err_abs", "trans_err_abs_gt", "trans_err_m_gt"):
        assert f"  {name} " in text or f"  {name}\n" in text, name
    assert "docs/evaluation.md" in text and "radians" in text and "metres" in text


class _Features(torch.nn.Module):
    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = False, return_features: bool = False):
        return torch.stack([x.mean(dim=(1, 2, 3, 4)), x.std(dim=(1, 2, 3, 4))], dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_eval_fvd_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for folder, level in (("real", 50), ("fake", 200)):
        (tmp_path / folder).mkdir()
        for i in range(3):
            frames = np.clip(rng.normal(level, 30, size=(16, 32, 32, 3)), 0, 255).astype(np.uint8)
            write_video(tmp_path / folder / f"{i}.mp4", frames, fps=10)
    detector = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_Features()).save(str(detector))
    out = tmp_path / "fvd.json"
    args = ["eval", "fvd", str(tmp_path / "real"), str(tmp_path / "fake"), "--detector", str(detector), "-o", str(out)]
    assert main(args) == 0
    assert "FVD (stylegan)" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["variant"] == "stylegan" and result["fvd"] > 0.5 and result["real_videos"] == 3
    assert main(["eval", "fvd", str(tmp_path / "real"), str(tmp_path / "fake"), "--detector", "missing.pt"]) == 1
