"""End to end: the editor on the demo scene in headless Chromium (Debian's package, driven by playwright).

Checks that the 3D canvas really renders (the screenshot is not blank), that clicks reach the editor (add keyframes,
apply a preset, undo/redo) and that the exported trajectory file holds the edited path.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def image_is_not_blank(png: bytes) -> tuple[bool, str]:
    """A rendered 3D view has many colours and real contrast; a blank or uniform canvas does not."""
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    colours = len(np.unique(pixels, axis=0))
    spread = float(pixels.std())
    return colours > 500 and spread > 15.0, f"{colours} colours, std {spread:.1f}"


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    from realcam.editor.app import AppConfig, EditorApp
    from realcam.editor.feedback import scene_from_image
    from realcam.scene.demo import demo_scene

    torch.manual_seed(0)
    demo = demo_scene(160, 256)
    scene = scene_from_image(demo.image, demo.depth, demo.K, name=demo.name)
    out = tmp_path_factory.mktemp("editor")
    app = EditorApp(scene, AppConfig(host="127.0.0.1", port=0, output_dir=out))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def page(demo_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:  # playwright gives the browser a fresh temporary profile
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(60_000)  # generous: CI machines may be shared
        page.goto(demo_app.url)
        page.get_by_role("button", name="Add keyframe").wait_for(timeout=60_000)
        page.wait_for_timeout(2500)  # the canvas fades in after the GUI appears
        yield page
        browser.close()


def test_editor_end_to_end(demo_app, page, tmp_path):
    app = demo_app
    assert app.url.startswith("http://127.0.0.1:")

    # 1. The 3D canvas renders the point cloud.
    canvas = page.locator("canvas").first
    ok, detail = image_is_not_blank(canvas.screenshot())
    assert ok, f"the 3D canvas looks blank: {detail}"

    # 2. Add two keyframes from the browser's current view, moving the view in between.
    page.get_by_role("button", name="Add keyframe").click()
    wait_for(lambda: len(app.state) == 1, what="the first keyframe")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Add keyframe").click()
    wait_for(lambda: len(app.state) == 2, what="the second keyframe")
    first, second = app.state.keyframes
    assert not torch.allclose(first.c2w, second.c2w), "dragging the view should have moved the second keyframe"

    # 3. A preset replaces them with editable keyframes; undo and redo through the GUI.
    page.get_by_role("button", name="Apply preset").click()
    wait_for(lambda: app.state.undo_labels[-1:] == ["preset dolly-forward"], what="the preset")
    preset_keys = len(app.state)
    assert preset_keys >= 2
    page.get_by_role("button", name="Undo").click()
    wait_for(lambda: len(app.state) == 2, what="undo")
    page.get_by_role("button", name="Redo").click()
    wait_for(lambda: len(app.state) == preset_keys, what="redo")
    assert app.wait_idle(60.0)
    wait_for(lambda: app.preview is not None, what="the preview render")
    assert app.preview.rgb.shape[0] == 16 and app.preview.coverage.shape == (16,)

    # 4. Export through the GUI and read the file back.
    page.get_by_role("button", name="Export").click()
    wait_for(lambda: app.last_export is not None and app.last_export.is_file(), what="the exported file")
    from realcam.trajectory.io import load_trajectory

    exported = load_trajectory(app.last_export)
    torch.testing.assert_close(exported.c2w(), app.state.trajectory().c2w())
    sampled = exported.sample(16)
    assert float((sampled.c2w[-1, :3, 3] - sampled.c2w[0, :3, 3]).norm()) == pytest.approx(1.0, abs=1e-6)

    ok, detail = image_is_not_blank(page.screenshot())
    assert ok, detail
