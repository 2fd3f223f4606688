"""The browser editor: viser widgets bound to an `EditorState`.

Callbacks only read widgets and call one `EditorState` method (or submit a job to the `Worker`); all editing logic is
in `realcam.editor.state`, all preview maths in `realcam.editor.feedback`. The server binds to 127.0.0.1 unless told
otherwise and never opens a browser by itself. viser uses OpenCV camera axes, like realcam, so no axis flips happen
here; the viewer's "up" is -y.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from realcam.editor.feedback import EditorScene, PathPreview, render_path_preview
from realcam.editor.state import EditorState, Readouts, make_c2w
from realcam.editor.worker import GenerationOutput, GenerationRequest, Job, Worker, load_pipeline, run_generation
from realcam.geometry.se3 import matrix_to_quat_wxyz, quat_wxyz_to_matrix

logger = logging.getLogger(__name__)

KEY_COLOR = (255, 140, 0)
SELECTED_COLOR = (220, 30, 60)
PATH_COLOR = (30, 110, 255)
INPUT_COLOR = (40, 40, 40)
NO_PIVOT_TEXT = "Pivot: none — tick *Click sets pivot*, then click a point of the cloud"
EXPORT_FORMATS = ("realcam", "re10k", "nerfstudio")
EXPORT_SUFFIX = {"realcam": ".json", "re10k": ".txt", "nerfstudio": ".json"}


@dataclass(frozen=True)
class AppConfig:
    """Server options: bind address, port (0 = any free port), where exports and videos go, and the model variant."""

    host: str = "127.0.0.1"
    port: int = 8080
    output_dir: Path = Path("realcam-editor")
    model: str = "256"
    max_points: int = 200_000


def nice_length(x: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is <= x (for the scale bar)."""
    if not x > 0:
        raise ValueError(f"length must be > 0, got {x}")
    power = 10.0 ** math.floor(math.log10(x))
    for step in (5.0, 2.0, 1.0):
        if step * power <= x:
            return step * power
    return power


def c2w_from_view(wxyz: Any, position: Any) -> torch.Tensor:
    """c2w (4 4) float64 of a viser camera (OpenCV axes, wxyz quaternion, position in metres)."""
    R = quat_wxyz_to_matrix(torch.as_tensor(np.asarray(wxyz, dtype=np.float64)))
    return make_c2w(R, torch.as_tensor(np.asarray(position, dtype=np.float64)))


def view_from_c2w(c2w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(wxyz (4,), position (3,)) numpy float64 of a c2w (4 4)."""
    return matrix_to_quat_wxyz(c2w[:3, :3]).numpy(), c2w[:3, 3].numpy().astype(np.float64)


class EditorApp:
    """The running editor: a viser server, the editor state and the worker. `stop()` shuts all three down."""

    def __init__(
        self,
        scene: EditorScene,
        config: AppConfig = AppConfig(),
        state: EditorState | None = None,
        pipeline_factory: Callable[[], Any] | None = None,
    ) -> None:
        """`pipeline_factory()` builds the generation pipeline on first use (on the worker thread); the default loads
        the released weights (`realcam.editor.worker.load_pipeline`)."""
        import viser

        self.scene = scene
        self.config = config
        self.state = state if state is not None else new_state_for_scene(scene)
        self.worker = Worker()
        self.preview: PathPreview | None = None
        self.generated: GenerationOutput | None = None
        self._pipeline: Any = None
        self._pipeline_factory = pipeline_factory or (lambda: load_pipeline(config.model))
        self.last_message = ""
        self.last_export: Path | None = None
        self.selected: int | None = None
        self._lock = threading.RLock()
        self._playing = threading.Event()
        self._closing = threading.Event()
        self._syncing = False
        self._key_handles: list[Any] = []
        self._preview_version = 0
        self.server = viser.ViserServer(host=config.host, port=config.port, verbose=False)
        self.server.gui.configure_theme(control_width="large")
        self._build_scene()
        self._build_gui()
        self.server.on_client_connect(self._on_connect)
        self.state.on_change(lambda _state: self._refresh())
        self._refresh()
        self._player = threading.Thread(target=self._play_loop, name="realcam-editor-player", daemon=True)
        self._player.start()

    # -- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    def stop(self) -> None:
        self._closing.set()
        self._playing.clear()
        self.worker.stop()
        self.server.stop()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until queued previews/exports/generations are done (tests and scripts use this)."""
        return self.worker.wait_idle(timeout)

    # -- static scene -----------------------------------------------------------------------------------------
    def _build_scene(self) -> None:
        scene, api = self.scene, self.server.scene
        api.set_up_direction("-y")
        points, colors = scene.cloud.points, scene.cloud.colors
        if len(points) > self.config.max_points:
            generator = torch.Generator().manual_seed(0)
            keep = torch.randperm(len(points), generator=generator)[: self.config.max_points]
            points, colors = points[keep], colors[keep]
        depth = scene.median_depth()
        self.frustum_scale = 0.12 * depth
        # Points as large as a pixel's footprint at the far end of the scene, so surfaces look closed.
        far = float(torch.quantile(scene.depth[scene.depth > 0].float()[:100_000], 0.9))
        point_size = 1.5 * far / float(scene.K[1, 1])
        api.add_point_cloud("/cloud", points.numpy(), colors.numpy(), point_size=point_size, point_shape="square")
        api.add_camera_frustum(
            "/input_camera",
            fov=math.radians(scene.fov_y_deg),
            aspect=scene.width / scene.height,
            scale=self.frustum_scale * 1.5,
            image=scene.image[:: max(1, scene.height // 256), :: max(1, scene.width // 256)],
            color=INPUT_COLOR,
        )
        # Metric grid on the floor: 0.1 m cells, 1 m sections; the floor is the lowest point (largest y).
        floor = float(torch.quantile(points[:, 1].float()[:50_000], 0.98)) if len(points) else 1.0
        extent = max(4.0, 2.5 * depth)
        # Off by default: viser draws grids and lines over point clouds (the cloud does not occlude them), so an
        # always-on floor grid shows through the walls. The scale bar below is always there.
        self.grid = api.add_grid(
            "/grid",
            width=extent,
            height=extent,
            plane="xz",
            cell_size=0.1,
            section_size=1.0,
            cell_color=(225, 225, 225),
            section_color=(150, 150, 150),
            position=(0.0, floor, depth / 2),
            visible=False,
        )
        bar = nice_length(depth / 2)
        start = np.array([-bar / 2, floor, 0.0])
        api.add_line_segments(
            "/scale_bar", np.stack([start, start + [bar, 0.0, 0.0]])[None], colors=(0, 0, 0), thickness=0.01 * depth
        )
        api.add_label("/scale_bar/label", f"{bar:g} m", position=tuple(start + [bar / 2, -0.02 * depth, 0.0]))
        self.pivot_handle = api.add_icosphere("/pivot", radius=0.02 * depth, color=(250, 0, 200), visible=False)
        self.gizmo = api.add_transform_controls("/gizmo", scale=2 * self.frustum_scale, visible=False)
        self.gizmo.on_update(self._on_gizmo)
        api.on_click()(self._on_scene_click)

    def _on_connect(self, client: Any) -> None:
        depth = self.scene.median_depth()
        client.camera.position = (0.6 * depth, -0.5 * depth, -0.9 * depth)
        client.camera.look_at = (0.0, 0.0, 0.7 * depth)
        client.camera.up_direction = (0.0, -1.0, 0.0)

    # -- GUI --------------------------------------------------------------------------------------------------
    def _build_gui(self) -> None:
        from realcam.trajectory.presets import PRESETS

        gui = self.server.gui
        gui.add_markdown(f"**realcam editor** — {self.scene.name}, {self.scene.width}×{self.scene.height}, metres")
        with gui.add_folder("Keyframes"):
            self.add_button = gui.add_button("Add keyframe", hint="Add a keyframe at the current view")
            self.key_select = gui.add_dropdown("Keyframe", options=("none",))
            row = gui.add_button_group("Edit", options=("Insert after", "Duplicate", "Delete"))
            order = gui.add_button_group("Order", options=("Move up", "Move down", "Go to"))
            history = gui.add_button_group("History", options=("Undo", "Redo"))
            self.position_input = gui.add_vector3("Position (m)", initial_value=(0.0, 0.0, 0.0), step=0.01)
            self.rotation_input = gui.add_vector3("Pan/tilt/roll (°)", initial_value=(0.0, 0.0, 0.0), step=0.5)
            self.own_fov = gui.add_checkbox("Own FOV", initial_value=False)
            self.fov_input = gui.add_slider("FOV (°)", min=10.0, max=120.0, step=0.5, initial_value=60.0)
        with gui.add_folder("Pivot"):
            self.pivot_text = gui.add_markdown(NO_PIVOT_TEXT)
            # Off by default: a click that selects a keyframe frustum also reaches the scene's click handler.
            self.click_sets_pivot = gui.add_checkbox("Click sets pivot", initial_value=False)
            show_grid = gui.add_checkbox("Metric grid (0.1 m / 1 m)", initial_value=False)
            show_grid.on_update(lambda _e: setattr(self.grid, "visible", bool(show_grid.value)))
            pivot_buttons = gui.add_button_group("Pivot", options=("Look at pivot", "Clear pivot"))
        with gui.add_folder("Presets"):
            self.preset_select = gui.add_dropdown("Preset", options=tuple(PRESETS), initial_value="dolly-forward")
            self.preset_text = gui.add_markdown("")
            self.preset_inputs = {
                "distance": gui.add_number("Distance (m)", initial_value=1.0, min=0.0, step=0.05),
                "angle": gui.add_number("Angle (°)", initial_value=30.0, step=1.0),
                "radius": gui.add_number("Radius (m)", initial_value=2.0, min=0.01, step=0.05),
                "zoom": gui.add_number("Zoom (×)", initial_value=1.5, min=0.1, step=0.05),
                # 0 = zoom by the factor above; otherwise the last keyframe's vertical FOV in degrees.
                "fov_end_deg": gui.add_number("End FOV (°, 0 = use ×)", initial_value=0.0, min=0.0, max=179.0),
            }
            apply_preset = gui.add_button("Apply preset")
        with gui.add_folder("Path"):
            settings = self.state.doc.settings
            self.tension_input = gui.add_slider("Tension", min=-1.0, max=1.0, step=0.05, initial_value=settings.tension)
            self.loop_input = gui.add_checkbox("Loop", initial_value=settings.closed)
            self.speed_input = gui.add_checkbox("Constant speed", initial_value=settings.timing == "arc")
            self.ease_input = gui.add_dropdown(
                "Ease", options=("none", "in", "out", "in-out"), initial_value=settings.ease
            )
            self.default_fov_input = gui.add_slider(
                "Default FOV (°)", min=10.0, max=120.0, step=0.5, initial_value=self.state.doc.default_fov_deg
            )
            gui.add_markdown(f"Frames: {self.state.num_frames} (the model's length) at {self.state.fps:g} fps")
        with gui.add_folder("Transform path", expand_by_default=False):
            self.move_input = gui.add_vector3("Translate (m)", initial_value=(0.0, 0.0, 0.0), step=0.01)
            self.turn_input = gui.add_vector3("Rotate (°)", initial_value=(0.0, 0.0, 0.0), step=1.0)
            self.scale_input = gui.add_number("Scale", initial_value=1.0, min=0.01, step=0.01)
            transform = gui.add_button("Apply transform")
        with gui.add_folder("Read-outs"):
            self.readout_text = gui.add_markdown("Add keyframes or a preset.")
            self.warning_text = gui.add_markdown("")
        with gui.add_folder("Preview"):
            self.play_input = gui.add_checkbox("Play", initial_value=False)
            self.fly_input = gui.add_checkbox("Fly viewport", initial_value=False)
            self.mask_input = gui.add_checkbox("Show mask", initial_value=False)
            self.result_input = gui.add_checkbox("Show generated video", initial_value=False, disabled=True)
            self.frame_input = gui.add_slider("Frame", min=0, max=self.state.num_frames - 1, step=1, initial_value=0)
            self.preview_image = gui.add_image(np.zeros((64, 64, 3), np.uint8), label="Preview")
            self.coverage_text = gui.add_markdown("")
        with gui.add_folder("File"):
            default = Path(self.config.output_dir) / "trajectory.json"
            self.path_input = gui.add_text("Path", initial_value=str(default))
            self.format_input = gui.add_dropdown("Format", options=EXPORT_FORMATS, initial_value="realcam")
            file_buttons = gui.add_button_group("File", options=("Export", "Import", "Download"))
            upload = gui.add_upload_button("Upload trajectory")
        with gui.add_folder("Generate"):
            self.prompt_input = gui.add_text("Prompt", initial_value="")
            self.seed_input = gui.add_number("Seed", initial_value=0, step=1)
            self.steps_input = gui.add_number("DDIM steps", initial_value=25, min=1, max=250, step=1)
            generate = gui.add_button("Generate")
            self.progress = gui.add_progress_bar(0.0, visible=False)
            self.status_text = gui.add_markdown("")

        self.add_button.on_click(self._on_add)
        self.key_select.on_update(self._on_select)
        row.on_click(self._on_edit_button)
        order.on_click(self._on_edit_button)
        history.on_click(self._on_edit_button)
        self.position_input.on_update(self._on_numeric)
        self.rotation_input.on_update(self._on_numeric)
        self.own_fov.on_update(self._on_fov)
        self.fov_input.on_update(self._on_fov)
        pivot_buttons.on_click(
            lambda e: (
                self._guarded(self.state.look_at_pivot)
                if e.target.value == "Look at pivot"
                else self._guarded(self.state.set_pivot, None)
            )
        )
        apply_preset.on_click(
            lambda _e: self._guarded(self.apply_preset, self.preset_select.value, **self._preset_values())
        )
        self.preset_select.on_update(lambda _e: self._show_preset_parameters())
        self._show_preset_parameters()
        for widget in (self.tension_input, self.loop_input, self.speed_input, self.ease_input):
            widget.on_update(self._on_settings)
        self.default_fov_input.on_update(
            lambda e: e.client is not None and self._guarded(self.state.set_default_fov, self.default_fov_input.value)
        )
        transform.on_click(self._on_transform)
        self.frame_input.on_update(lambda _e: self._show_frame())
        self.mask_input.on_update(lambda _e: self._show_frame())
        self.result_input.on_update(lambda _e: self._show_frame())
        self.play_input.on_update(lambda _e: self._playing.set() if self.play_input.value else self._playing.clear())
        file_buttons.on_click(self._on_file_button)
        upload.on_upload(self._on_upload)
        generate.on_click(lambda _e: self.generate())

    # -- callbacks: each reads widgets and calls one state method ---------------------------------------------
    def _guarded(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an edit under the lock; user errors (ValueError) go to the status line instead of the log."""
        with self._lock:
            try:
                return func(*args, **kwargs)
            except ValueError as error:
                self._say(f"⚠ {error}")
                return None

    def _say(self, message: str) -> None:
        self.last_message = message
        self.status_text.content = message

    def _on_add(self, event: Any) -> None:
        client = event.client
        if client is None:
            return
        c2w = c2w_from_view(client.camera.wxyz, client.camera.position)
        index = None if self.selected is None else self.selected + 1
        new = self._guarded(self.state.add_keyframe, c2w, None, index)
        if new is not None:
            self._select(new)

    def _on_select(self, event: Any) -> None:
        if event.client is None:
            return
        value = self.key_select.value
        self._select(None if value == "none" else int(value))

    def _on_edit_button(self, event: Any) -> None:
        action, i = event.target.value, self.selected
        if action == "Undo":
            self._guarded(self.state.undo)
        elif action == "Redo":
            self._guarded(self.state.redo)
        elif i is None:
            self._say("select a keyframe first")
        elif action == "Insert after":
            self._select(self._guarded(self.state.insert_between, i))
        elif action == "Duplicate":
            self._select(self._guarded(self.state.duplicate_keyframe, i))
        elif action == "Delete":
            self._guarded(self.state.delete_keyframe, i)
            self._select(min(i, len(self.state) - 1) if len(self.state) else None)
        elif action in ("Move up", "Move down"):
            j = i - 1 if action == "Move up" else i + 1
            if 0 <= j < len(self.state):
                self._guarded(self.state.move_keyframe, i, j)
                self._select(j)
        elif action == "Go to":
            wxyz, position = view_from_c2w(self.state.keyframes[i].c2w)
            for client in self.server.get_clients().values():
                client.camera.wxyz, client.camera.position = wxyz, position

    def _on_numeric(self, event: Any) -> None:
        if event.client is None or self._syncing or self.selected is None:
            return
        if event.target is self.position_input:
            self._guarded(self.state.set_position, self.selected, list(self.position_input.value))
        else:
            self._guarded(self.state.set_rotation_deg, self.selected, *self.rotation_input.value)

    def _on_fov(self, event: Any) -> None:
        if event.client is None or self._syncing or self.selected is None:
            return
        fov = float(self.fov_input.value) if self.own_fov.value else None
        self._guarded(self.state.set_fov, self.selected, fov)

    def _on_settings(self, event: Any) -> None:
        if event.client is None or self._syncing:
            return
        self._guarded(
            self.state.set_settings,
            tension=float(self.tension_input.value),
            closed=bool(self.loop_input.value),
            timing="arc" if self.speed_input.value else "keys",
            ease=str(self.ease_input.value),
        )

    def _on_transform(self, _event: Any) -> None:
        self._guarded(
            self.state.transform_path,
            translation=self.move_input.value,
            rotation_deg=self.turn_input.value,
            scale=float(self.scale_input.value),
        )

    def _on_gizmo(self, event: Any) -> None:
        """A gizmo drag moves the selected key; one drag (start .. end) is one undo step."""
        if self._syncing or self.selected is None:
            return
        c2w = c2w_from_view(event.target.wxyz, event.target.position)
        self._guarded(self.state.set_c2w, self.selected, c2w, merge_key=f"gizmo-{self.selected}")
        if getattr(event, "phase", None) == "end":
            self.state.end_gesture()

    def _on_scene_click(self, event: Any) -> None:
        if not self.click_sets_pivot.value:
            return
        self._guarded(self.state.pick_pivot, event.ray_origin, event.ray_direction, self.scene.cloud.points)

    def _on_file_button(self, event: Any) -> None:
        action = event.target.value
        if action == "Export":
            self._guarded(self.export, self.path_input.value, self.format_input.value)
        elif action == "Import":
            self._guarded(self.import_file, self.path_input.value)
        elif action == "Download" and event.client is not None:
            with tempfile.TemporaryDirectory() as folder:
                fmt = self.format_input.value
                path = self._guarded(self.state.save, Path(folder) / f"trajectory{EXPORT_SUFFIX[fmt]}", fmt)
                if path is not None:
                    event.client.send_file_download(path.name, path.read_bytes())

    def _on_upload(self, event: Any) -> None:
        uploaded = event.target.value
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / Path(uploaded.name).name
            path.write_bytes(uploaded.content)
            self._guarded(self.import_file, path)

    # -- operations the UI offers that are more than one state call ------------------------------------------
    def apply_preset(self, name: str, **params: float) -> None:
        """Expand preset `name` (metric parameters: distance/radius m, angle °, zoom ×) into editable keyframes."""
        self.state.apply_preset(name, **params)
        self._select(0 if len(self.state) else None)

    def _preset_values(self) -> dict[str, float]:
        from realcam.trajectory.presets import PRESETS

        spec = PRESETS[self.preset_select.value]
        values = {k: float(w.value) for k, w in self.preset_inputs.items() if k in spec.parameters}
        if values.get("fov_end_deg"):  # a target FOV replaces the focal-length factor
            values.pop("zoom", None)
        else:
            values.pop("fov_end_deg", None)
        return values

    def _show_preset_parameters(self) -> None:
        """Show only the inputs the chosen preset takes, set to its defaults."""
        from realcam.trajectory.presets import PRESETS

        spec = PRESETS[self.preset_select.value]
        self.preset_text.content = spec.description
        for name, widget in self.preset_inputs.items():
            widget.visible = name in spec.parameters
            if name in spec.parameters and spec.parameters[name].default is not None:
                widget.value = float(spec.parameters[name].default)
            elif name == "fov_end_deg":
                widget.value = 0.0  # zoom by the factor unless a target FOV is typed

    def export(self, path: str | Path, fmt: str | None = None) -> Path:
        written = self.state.save(Path(path), fmt)
        self.last_export = written
        self._say(f"exported {len(self.state)} keyframes to `{written}`")
        return written

    def import_file(self, path: str | Path) -> None:
        self.state.load(Path(path))
        self._select(0 if len(self.state) else None)
        self._say(f"imported `{Path(path).name}`: {len(self.state)} keyframes")

    def generate(self) -> Job | None:
        """Queue a generation of the current path on the worker; the video and its sidecar go to the output folder.

        Without weights the status line says what to run; nothing is faked."""
        try:
            trajectory = self.state.trajectory()  # a snapshot: later edits do not change this job
        except ValueError as error:
            self._say(f"⚠ {error}")
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        request = GenerationRequest(
            image=self.scene.image,
            depth=self.scene.depth,
            K=self.scene.K,
            trajectory=trajectory,
            output=Path(self.config.output_dir) / f"realcam-{stamp}.mp4",
            prompt=str(self.prompt_input.value),
            seed=int(self.seed_input.value),
            steps=int(self.steps_input.value),
            fps=self.state.fps,
        )

        def run(progress: Any) -> GenerationOutput:
            if self._pipeline is None:
                progress(0.0, "loading the model …")
                self._pipeline = self._pipeline_factory()
            return run_generation(self._pipeline, request, progress)

        def done(output: GenerationOutput) -> None:
            self.generated = output
            self.progress.visible = False
            self.result_input.disabled = False
            self.result_input.value = True
            self._say(f"video saved to `{output.video}`")
            self._show_frame()

        def failed(error: BaseException) -> None:
            self.progress.visible = False
            self._say(f"⚠ {error}")

        self.progress.visible = True
        self.progress.value = 0.0
        self._say("starting …")
        return self.worker.submit(
            Job("generate", run, on_done=done, on_error=failed, on_progress=self._on_progress, key="generate")
        )

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.value = 100.0 * fraction
        self.status_text.content = message

    # -- redraw -----------------------------------------------------------------------------------------------
    def _select(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self.state):
            index = None
        self.selected = index
        self._refresh()

    def _refresh(self) -> None:
        """Redraw everything derived from the state, then queue a preview render."""
        with self._lock:
            if self.selected is not None and self.selected >= len(self.state):
                self.selected = len(self.state) - 1 if len(self.state) else None
            self._syncing = True
            try:
                self._draw_keyframes()
                self._sync_widgets()
                self._draw_path_and_readouts()
            finally:
                self._syncing = False
        self._queue_preview()

    def _draw_keyframes(self) -> None:
        api = self.server.scene
        for handle in self._key_handles:
            handle.remove()
        self._key_handles = []
        aspect = self.scene.width / self.scene.height
        for i, key in enumerate(self.state.keyframes):
            fov = key.fov_deg if key.fov_deg is not None else self.state.doc.default_fov_deg
            wxyz, position = view_from_c2w(key.c2w)
            handle = api.add_camera_frustum(
                f"/keys/{i}",
                fov=math.radians(fov),
                aspect=aspect,
                scale=self.frustum_scale,
                color=SELECTED_COLOR if i == self.selected else KEY_COLOR,
                wxyz=wxyz,
                position=position,
            )
            handle.on_click(lambda _e, i=i: self._select(i))
            self._key_handles.append(handle)
        if self.selected is None:
            self.gizmo.visible = False
        else:
            wxyz, position = view_from_c2w(self.state.keyframes[self.selected].c2w)
            self.gizmo.wxyz, self.gizmo.position, self.gizmo.visible = wxyz, position, True
        pivot = self.state.doc.pivot
        self.pivot_handle.visible = pivot is not None
        if pivot is not None:
            self.pivot_handle.position = pivot
            self.pivot_text.content = f"Pivot: ({pivot[0]:.2f}, {pivot[1]:.2f}, {pivot[2]:.2f}) m — the path orbits it"
        else:
            self.pivot_text.content = NO_PIVOT_TEXT

    def _sync_widgets(self) -> None:
        options = tuple(str(i) for i in range(len(self.state))) or ("none",)
        self.key_select.options = options
        self.key_select.value = str(self.selected) if self.selected is not None else "none"
        if self.selected is not None:
            key = self.state.keyframes[self.selected]
            self.position_input.value = tuple(round(float(v), 4) for v in key.c2w[:3, 3])
            self.rotation_input.value = tuple(round(v, 2) for v in self.state.rotation_deg(self.selected))
            self.own_fov.value = key.fov_deg is not None
            self.fov_input.value = key.fov_deg if key.fov_deg is not None else self.state.doc.default_fov_deg
        settings = self.state.doc.settings
        self.tension_input.value = float(settings.tension)
        self.loop_input.value = bool(settings.closed)
        self.speed_input.value = settings.timing == "arc"
        self.ease_input.value = settings.ease
        self.default_fov_input.value = self.state.doc.default_fov_deg

    def _draw_path_and_readouts(self) -> None:
        api = self.server.scene
        if len(self.state) < 1:
            api.add_line_segments("/path", np.zeros((0, 2, 3)), colors=PATH_COLOR, visible=False)
            self.readout_text.content = "Add keyframes or a preset."
            return
        try:
            sampled = self.state.sample()
            stats = self.state.readouts()
        except ValueError as error:
            self.readout_text.content = f"⚠ {error}"
            return
        positions = sampled.c2w[:, :3, 3].numpy()
        if len(positions) >= 2:
            segments = np.stack([positions[:-1], positions[1:]], axis=1)
            api.add_line_segments("/path", segments, colors=PATH_COLOR, thickness=0.004 * self.scene.median_depth())
        self.readout_text.content = format_readouts(stats)

    # -- preview, playback ------------------------------------------------------------------------------------
    def _queue_preview(self) -> None:
        if len(self.state) < 1:
            return
        try:
            sampled = self.state.sample()
        except ValueError:
            return
        self._preview_version += 1
        version = self._preview_version

        def run(_progress: Any) -> PathPreview:
            return render_path_preview(self.scene, sampled)

        def done(preview: PathPreview) -> None:
            if version == self._preview_version:
                self.preview = preview
                self.warning_text.content = format_warnings(preview)
                self._show_frame()

        self.worker.submit(Job("preview", run, on_done=done, on_error=lambda e: self._say(f"⚠ preview: {e}"), key="p"))

    def _show_frame(self) -> None:
        preview = self.preview
        if preview is None:
            return
        frame = int(self.frame_input.value)
        if self.result_input.value and self.generated is not None:
            self.preview_image.image = np.asarray(self.generated.frames[frame])
            self.coverage_text.content = f"Frame {frame} of the generated video `{self.generated.video.name}`"
            return
        rgb = preview.rgb[frame].numpy().copy()
        if self.mask_input.value:
            mask = preview.mask[frame].float()[None, None]
            mask = torch.nn.functional.interpolate(mask, size=rgb.shape[:2], mode="nearest")[0, 0].bool().numpy()
            rgb[mask] = (0.5 * rgb[mask] + 0.5 * np.array([0, 200, 80])).astype(np.uint8)
        self.preview_image.image = rgb
        self.coverage_text.content = (
            f"Frame {frame}: noise-shaping coverage {100 * float(preview.coverage[frame]):.0f}%"
        )
        if self.fly_input.value:
            self._fly_to(frame)

    def _fly_to(self, frame: int) -> None:
        try:
            sampled = self.state.sample()
        except ValueError:
            return
        wxyz, position = view_from_c2w(sampled.c2w[frame])
        fov = math.radians(float(sampled.fov_deg[frame]))
        for client in self.server.get_clients().values():
            with client.atomic():
                client.camera.wxyz, client.camera.position, client.camera.fov = wxyz, position, fov

    def _play_loop(self) -> None:
        while not self._closing.is_set():
            if not self._playing.wait(timeout=0.2):
                continue
            next_frame = (int(self.frame_input.value) + 1) % self.state.num_frames
            self.frame_input.value = next_frame
            time.sleep(1.0 / self.state.fps)


def format_readouts(readouts: Readouts) -> str:
    """Markdown: per keyframe segment length (m), speed (m/s), angular speed (deg/s); totals; core warnings."""
    lines = ["| segment | m | m/s | °/s |", "|---|---|---|---|"]
    for seg in readouts.segments:
        lines.append(
            f"| {seg.index}→{seg.index + 1} | {seg.length_m:.3f} | {seg.speed_mps:.2f} | {seg.angular_speed_dps:.1f} |"
        )
    stats = readouts.stats
    lines.append(
        f"\n**Total** {stats.total_length_m:.3f} m, {stats.total_rotation_deg:.1f}°, "
        f"{stats.num_frames} frames in {stats.duration_s:.2f} s (max {stats.max_speed_mps:.2f} m/s, "
        f"{stats.max_angular_speed_dps:.1f}°/s)"
    )
    lines.extend(f"\n⚠ {warning}" for warning in stats.warnings)
    return "\n".join(lines)


def format_warnings(preview: PathPreview) -> str:
    if not preview.warnings:
        low = float(preview.coverage.min())
        return f"✓ no warnings (lowest coverage {100 * low:.0f}%)"
    return "\n".join(f"- ⚠ {w.message}" for w in preview.warnings)


def new_state_for_scene(scene: EditorScene) -> EditorState:
    """An empty editor state whose default FOV and intrinsics are the input camera's."""
    from realcam.editor.state import EditorDoc
    from realcam.trajectory.keyframes import Intrinsics

    intrinsics = Intrinsics(scene.K, width=scene.width, height=scene.height)
    return EditorState(intrinsics, doc=EditorDoc(default_fov_deg=round(scene.fov_y_deg, 2)))
