"""Training the camera plugin (issue #10): `step` (batch -> loss, pure), `loop` (accelerate), `config` (frozen
dataclasses of the released recipe), `checkpoint` (add-on safetensors + resume state), `validation` (sample videos).

Submodules are imported on use, so `import realcam.train` stays light (no accelerate import)."""
