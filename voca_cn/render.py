"""Headless preview rendering: moderngl on EGL (Mesa llvmpipe on CPU, the GPU where one exists).

TensorFlow and Mesa's LLVM crash when loaded in one process, so rendering always runs in a
*spawned* worker (``render_video`` / ``render_frames`` start it); the worker imports numpy and
moderngl only. Frames are piped straight into ffmpeg (imageio-ffmpeg's binary), so memory stays
bounded whatever the length.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.templates import PARTS, Template

VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
uniform mat4 model_view;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_normal;
out vec3 v_color;
out vec3 v_view;
void main() {
    vec4 p = model_view * vec4(in_pos, 1.0);
    v_view = -p.xyz;
    v_normal = mat3(model_view) * in_normal;
    v_color = in_color;
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""

FRAGMENT_SHADER = """
#version 330
in vec3 v_normal;
in vec3 v_color;
in vec3 v_view;
out vec4 f_color;
const vec3 key_dir = normalize(vec3(0.4, 0.5, 1.0));
const vec3 fill_dir = normalize(vec3(-0.6, 0.1, 0.6));
void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(v_view);
    if (dot(n, v) < 0.0) n = -n;  // inner walls of the mouth are seen from behind
    float key = max(dot(n, key_dir), 0.0);
    float fill = max(dot(n, fill_dir), 0.0);
    float spec = pow(max(dot(n, normalize(key_dir + v)), 0.0), 24.0);
    vec3 c = v_color * (0.18 + 0.75 * key + 0.30 * fill) + vec3(0.10 * spec);
    f_color = vec4(pow(c, vec3(1.0 / 2.2)), 1.0);
}
"""

# Linear-space albedo per template part (skin, mouth socket + tongue, teeth, eyes).
PART_COLORS = {"skin": (0.62, 0.40, 0.30), "mouth": (0.35, 0.06, 0.07),
               "teeth": (0.85, 0.83, 0.76), "eye": (0.80, 0.80, 0.80), "hidden": (0, 0, 0)}
BACKGROUND = (0.16, 0.17, 0.19)


def face_incidence(faces: np.ndarray, n_vertices: int):
    """Sparse (N, F) vertex-face matrix: built once per mesh, reused for every frame's normals."""
    import scipy.sparse

    nf = len(faces)
    return scipy.sparse.csr_matrix((np.ones(3 * nf), (faces.T.ravel(), np.tile(np.arange(nf), 3))),
                                   shape=(n_vertices, nf))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, incidence=None) -> np.ndarray:
    """Area-weighted smooth normals (N, 3) for one frame's vertices (N, 3)."""
    if incidence is None:
        incidence = face_incidence(faces, len(vertices))
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    n = incidence @ np.cross(b - a, c - a)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)).astype(np.float32)


def _look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    f = np.asarray(target, float) - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def _perspective(fovy_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / np.tan(np.radians(fovy_deg) / 2)
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = f / aspect, f
    m[2, 2], m[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    m[3, 2] = -1
    return m


def camera(template: Template, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(model_view, mvp) framing the face (eyes to chin, cheek to cheek) from the front, slightly
    above, whatever else the template carries (neck, shoulders)."""
    face = np.union1d(np.where(template.vertex_parts == PARTS.index("eye"))[0], template.lip_vertices)
    lo, hi = template.vertices[face].min(0), template.vertices[face].max(0)
    centre = (lo + hi) / 2
    centre[1] -= 0.12 * (hi[1] - lo[1])  # the chin sits further below the lips than the brow above the eyes
    radius = 1.25 * max(hi[0] - lo[0], hi[1] - lo[1])
    fovy = 20.0
    dist = radius / np.tan(np.radians(fovy) / 2) / 0.85 + (hi[2] - centre[2])
    eye = centre + dist * np.array([0.0, 0.12, 1.0]) / np.linalg.norm([0.0, 0.12, 1.0])
    view = _look_at(eye, centre)
    proj = _perspective(fovy, width / height, dist * 0.3, dist * 3)
    return view.astype("f4"), (proj @ view).astype("f4")


def project(template: Template, points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel coordinates (P, 2) (x right, y down) of points (P, 3) metres in the preview camera."""
    _, mvp = camera(template, width, height)
    clip = np.c_[points, np.ones(len(points))] @ mvp.T
    ndc = clip[:, :2] / clip[:, 3:]
    return np.c_[(ndc[:, 0] + 1) / 2 * width, (1 - ndc[:, 1]) / 2 * height]


class Renderer:
    """Draws one template at a time into an offscreen framebuffer. Use inside the worker only."""

    def __init__(self, template: Template, width: int, height: int):
        import moderngl

        try:
            self.ctx = moderngl.create_context(standalone=True, backend="egl")
        except Exception as e:  # moderngl raises plain Exception when EGL is missing
            raise VocaError(f"no headless OpenGL ({e}); install libegl1 libgl1-mesa-dri "
                            "(see README setup) or pass --no-video") from None
        self.template, self.width, self.height = template, width, height
        hidden = template.vertex_parts == PARTS.index("hidden")
        self.faces = template.faces[~hidden[template.faces].any(axis=1)].astype(np.int32)
        self.incidence = face_incidence(self.faces, template.n_vertices)
        colors = (np.asarray(template.vertex_colors, "f4") if template.vertex_colors is not None
                  else np.array([PART_COLORS[p] for p in PARTS], "f4")[template.vertex_parts])
        self.prog = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        model_view, mvp = camera(template, width, height)
        self.prog["mvp"].write(mvp.T.tobytes())
        self.prog["model_view"].write(model_view.T.tobytes())
        n = template.n_vertices
        self.pos = self.ctx.buffer(reserve=n * 12)
        self.nrm = self.ctx.buffer(reserve=n * 12)
        col = self.ctx.buffer(colors.tobytes())
        ibo = self.ctx.buffer(self.faces.tobytes())
        self.vao = self.ctx.vertex_array(
            self.prog, [(self.pos, "3f", "in_pos"), (self.nrm, "3f", "in_normal"),
                        (col, "3f", "in_color")], index_buffer=ibo, index_element_size=4)
        self.fbo = self.ctx.simple_framebuffer((width, height), components=3)
        self.ctx.enable(moderngl.DEPTH_TEST)

    def frame(self, vertices: np.ndarray) -> np.ndarray:
        """Render vertices (N, 3) metres -> RGB image (H, W, 3) uint8, top row first."""
        v = np.ascontiguousarray(vertices, dtype="f4")
        self.pos.write(v.tobytes())
        self.nrm.write(vertex_normals(v, self.faces, self.incidence).tobytes())
        self.fbo.use()
        self.fbo.clear(*BACKGROUND, 1.0)
        self.vao.render()
        img = np.frombuffer(self.fbo.read(components=3), np.uint8)
        return np.ascontiguousarray(img.reshape(self.height, self.width, 3)[::-1])


# ------------------------------------------------------------------ worker entry points
def _frames_worker(template, weights, width, height, conn):
    try:
        r = Renderer(template, width, height)
        conn.send(("ok", np.stack([r.frame(v) for v in template.deform(weights)])))
    except BaseException as e:  # report everything back; the parent turns it into one line
        conn.send(("error", e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))


def _video_worker(template, weights, audio_path, out_path, width, height, fps, conn):
    try:
        import imageio_ffmpeg

        r = Renderer(template, width, height)
        writer = imageio_ffmpeg.write_frames(
            str(out_path), (width, height), fps=fps, codec="libx264", quality=None,
            bitrate=None, pix_fmt_out="yuv420p", macro_block_size=1,
            audio_path=str(audio_path) if audio_path else None, audio_codec="aac",
            output_params=["-crf", "20", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error")
        writer.send(None)
        chunk = 256  # frames deformed at once: bounded memory for long inputs
        for s in range(0, len(weights), chunk):
            for v in template.deform(weights[s:s + chunk]):
                writer.send(r.frame(v))
        writer.close()
        conn.send(("ok", None))
    except BaseException as e:
        conn.send(("error", e if isinstance(e, VocaError) else VocaError(f"video writing failed: {e!r}")))


def _run_spawned(target, *args):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        proc.join()
        raise VocaError(f"the render worker died (exit code {proc.exitcode}); check that EGL/Mesa "
                        "is installed (see README setup) or pass --no-video") from None
    proc.join()
    if status == "error":
        raise payload
    return payload


def render_frames(template: Template, weights: np.ndarray, width: int = 512, height: int = 512) -> np.ndarray:
    """Render weights (T, 52) on a template -> images (T, H, W, 3) uint8, in a spawned worker."""
    return _run_spawned(_frames_worker, template, np.asarray(weights, np.float32), width, height)


def render_video(template: Template, weights: np.ndarray, out_path: str | os.PathLike,
                 audio_path: str | os.PathLike | None = None, fps: int = 60,
                 width: int = 512, height: int = 512) -> None:
    """Write an H.264 (+ AAC when audio is given) MP4 of weights (T, 52) at ``fps``."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise VocaError(f"video size {width}x{height} is invalid: use even sizes >= 16, e.g. 512x512")
    _run_spawned(_video_worker, template, np.asarray(weights, np.float32), audio_path,
                 Path(out_path), width, height, fps)
