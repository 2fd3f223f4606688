"""Evaluation-only helpers around the shared synthetic room (`tests/synthetic_room.py`)."""

from __future__ import annotations


class DemoSceneDepth:
    """Picklable depth factory for harness workers: returns an oracle that answers every frame with the exact metric
    depth of the demo scene's condition view (correct for frame 0 of a video rendered from the identity camera)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width

    def __call__(self):
        from realcam.scene.demo import demo_scene

        depth = demo_scene(self.height, self.width).depth.numpy()
        return lambda image: depth
