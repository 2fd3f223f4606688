"""Camera geometry, one convention inside: OpenCV camera-to-world (x right, y down, z forward) in metres, K in pixels.

Modules: `se3` (rigid transforms, SO(3), quaternions, validation), `conventions` (OpenGL <-> OpenCV),
`intrinsics` (FOV, reference default K, resize/crop), `plucker` (ray embedding), `projection` (project, unproject).
"""
