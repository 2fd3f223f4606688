"""Run by tests/train/test_train_ddp.py under `torchrun --nproc_per_node 2`: two optimisation steps of the tiny
model with accelerate on CPU (gloo); each rank writes what it saw to <out>/rank<k>.pt."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_synthetic import SyntheticClips, make_model, small_config  # noqa: E402

from realcam.data.dataset import collate  # noqa: E402
from realcam.pipeline.tiny import tiny_tokenizer  # noqa: E402
from realcam.train.checkpoint import camera_plugin_state_dict  # noqa: E402
from realcam.train.loop import make_accelerator, train  # noqa: E402


def main(out: Path, grad_accum: int) -> None:
    torch.set_num_threads(1)
    config = small_config(out / "run", grad_accum=grad_accum)
    accelerator = make_accelerator(config, cpu=True)
    model = make_model()
    result = train(
        config, model, SyntheticClips(n=4), tokenizer=tiny_tokenizer(), collate_fn=collate, accelerator=accelerator
    )
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            "distributed_type": str(accelerator.distributed_type),
            "num_processes": accelerator.num_processes,
            "process_index": accelerator.process_index,
            "loss": result.last_loss,
            "step": result.step,
            "state": state,
            "addon_keys": sorted(camera_plugin_state_dict(model)),
        },
        out / f"rank{accelerator.process_index}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
