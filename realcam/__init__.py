"""realcam: metric-scale, camera-controlled image-to-video generation (RealCam-I2V).

Conventions used everywhere inside the package: cameras are OpenCV camera-to-world (`c2w`, x right, y down,
z forward) in metres, intrinsics `K` in pixels of the tensor they describe, videos `b c f h w` in [-1, 1].
"""

__version__ = "0.1.0"
