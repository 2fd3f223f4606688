"""Metric 3D scene: depth -> point cloud (`lift`, `depth_io`), the PyTorch preview renderer (`render`), noise-shaping
masks (`masks`) and the built-in demo room (`demo`). Import from the submodules."""
