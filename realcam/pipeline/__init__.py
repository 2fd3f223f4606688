"""Inference orchestration: `i2v.RealCamPipeline` (image + metric trajectory -> video), `conditioning` (pure
functions building the UNet inputs, shared with training), `sampling` (guided DDIM with noise shaping and
continuation), `noise_shaping`, `modes` (interp, loop, continuation chaining), `tiny` (test-size model) and
`benchmark` (per-stage timing with random weights). Import the submodules directly; this package imports nothing."""
