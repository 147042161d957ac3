"""Headless preview rendering: moderngl on EGL (Mesa llvmpipe on CPU, the GPU where one exists).

TensorFlow and Mesa's LLVM crash when loaded in one process, so drawing always runs in *spawned*
workers (``render_video`` / ``render_frames`` start them), which import numpy and moderngl only: one per
core, frame i drawn by worker i mod K, the frames taken back in order and piped straight into ffmpeg
(imageio-ffmpeg's binary), which encodes while the workers draw. The frame order, and so the file, does
not depend on K; memory stays bounded whatever the length.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
from dataclasses import dataclass, field
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
in float in_material;
in float in_eye;
out vec3 v_normal;
out vec3 v_color;
out vec3 v_view;
out vec3 v_model;
flat out int v_material;
flat out int v_eye;
void main() {
    vec4 p = model_view * vec4(in_pos, 1.0);
    v_view = -p.xyz;
    v_model = in_pos;
    v_normal = mat3(model_view) * in_normal;
    v_color = in_color;
    v_material = int(in_material + 0.5);
    v_eye = int(in_eye + 0.5);
    gl_Position = mvp * vec4(in_pos, 1.0);
}
"""

# Materials: 0 skin, 1 mouth (socket, gums, tongue), 2 teeth, 3 eye (see MATERIALS).
FRAGMENT_SHADER = """
#version 330
uniform mat3 light_dirs;     // key, fill, rim directions in view space (columns)
uniform vec3 mouth_centre;   // inner-lip centre (model space, metres)
uniform vec2 mouth_size;     // half width (corner to corner / 2), lip depth at the corners
uniform vec3 eye_centre[4];
uniform vec3 eye_axis[4];
uniform vec2 iris_cos;       // cos of the iris and pupil half-angles
in vec3 v_normal;
in vec3 v_color;
in vec3 v_view;
in vec3 v_model;
flat in int v_material;
flat in int v_eye;
out vec4 f_color;

vec3 iris(vec3 albedo) {
    // Iris and pupil from the eyeball's own geometry: angle of this point off the eye's axis.
    vec3 d = normalize(v_model - eye_centre[v_eye]);
    float c = dot(d, eye_axis[v_eye]);
    if (c < iris_cos.x) return albedo;
    float t = (c - iris_cos.x) / (1.0 - iris_cos.x);          // 0 at the limbus, 1 at the pole
    vec3 side = normalize(cross(eye_axis[v_eye], vec3(0.0, 1.0, 0.0)));
    float a = atan(dot(d, cross(eye_axis[v_eye], side)), dot(d, side));
    float fibres = 0.85 + 0.15 * sin(a * 37.0) * sin(a * 11.0 + 3.0 * t);
    vec3 col = mix(vec3(0.05, 0.035, 0.02), vec3(0.22, 0.13, 0.06), smoothstep(0.0, 0.25, t)) * fibres;
    return c > iris_cos.y ? vec3(0.01) : col;
}

void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(v_view);
    if (dot(n, v) < 0.0) n = -n;  // inner walls of the mouth are seen from behind
    vec3 albedo = v_color;
    float occlusion = 1.0;
    if (v_material != 3) {
        // Light reaches the mouth only through the opening: darken with depth behind the lips
        // (a parabola through the lip centre and the corners stands in for the lip front).
        vec2 q = (v_model.xy - mouth_centre.xy) / vec2(mouth_size.x * 1.3, mouth_size.x * 0.9);
        float front = mouth_centre.z - mouth_size.y * q.x * q.x / 1.69;
        float depth = max(front - v_model.z, 0.0);
        if (v_material == 0) {  // lip skin curls back and down: only its inner side, near the opening
            depth = max(depth - 0.004, 0.0);
            q.y *= 2.0;
        }
        float inside = 1.0 - smoothstep(0.8, 1.0, length(q));
        // Teeth sit right behind the lips and catch light; socket and tongue fall off fast.
        occlusion = mix(1.0, exp(-depth / (v_material == 2 ? 0.012 : 0.006)), inside);
    } else {
        albedo = iris(albedo);
    }
    float key = max(dot(n, light_dirs[0]), 0.0);
    float fill = max(dot(n, light_dirs[1]), 0.0);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * max(dot(n, light_dirs[2]) + 0.3, 0.0);
    float sky = 0.5 + 0.5 * n.y;                                   // soft hemisphere ambient
    float shine = v_material == 3 ? 0.6 : (v_material == 2 ? 0.25 : 0.07);
    float spec = pow(max(dot(n, normalize(light_dirs[0] + v)), 0.0), v_material == 3 ? 120.0 : 24.0);
    vec3 c = albedo * ((0.10 + 0.10 * sky) + 0.80 * key + 0.28 * fill) * occlusion
           + vec3(0.35, 0.38, 0.45) * rim * occlusion + vec3(shine * spec) * occlusion;
    f_color = vec4(pow(c, vec3(1.0 / 2.2)), 1.0);
}
"""

MATERIALS: tuple[str, ...] = ("skin", "mouth", "teeth", "eye")
# Linear-space albedo per material: skin, mouth socket + gums + tongue, teeth, sclera.
ALBEDO = {"skin": (0.62, 0.40, 0.30), "mouth": (0.30, 0.05, 0.05), "teeth": (0.80, 0.78, 0.70),
          "eye": (0.82, 0.80, 0.78)}
LIP_ALBEDO = (0.50, 0.22, 0.20)
BACKGROUND = (0.16, 0.17, 0.19)
LIGHTS = ((0.45, 0.55, 1.0), (-0.8, 0.1, 0.6), (0.2, 0.6, -1.0))  # key, fill, rim (view space)
IRIS_DEGREES, PUPIL_DEGREES = 33.0, 13.0
VIEWS = ("face", "head")
FOVY = 18.0


@dataclass
class RenderMesh:
    """What the renderer draws: any head (a template, an imported avatar), posed per frame by
    the caller with a (N, 3) vertex array in metres (Y up, face looking +Z).

    faces      (F, 3) int32    triangles to draw (anything hidden already left out)
    material   (N,) uint8      index into ``MATERIALS``: how each vertex is shaded
    albedo     (N, 3) float32  linear RGB base colour per vertex
    eyes       list of (apex, ids): per eyeball, its front-most vertex (the pupil) and its vertex ids
               (E,) int; empty = no irises drawn
    mouth      (4,) int32 or None: upper and lower inner-lip vertices, right and left mouth corner;
               the mouth cavity darkens with depth behind them, framing centres on them
    chin       vertex id or None: the lowest point of the face, for framing
    closed     True when every surface is wound counter-clockwise seen from outside and no back side
               is ever seen (the built-in and imported heads): back faces are then not drawn
    Without ``eyes``/``mouth``/``chin`` the camera frames the mesh's bounding box.
    """

    faces: np.ndarray
    material: np.ndarray
    albedo: np.ndarray
    eyes: list = field(default_factory=list)
    mouth: np.ndarray | None = None
    chin: int | None = None
    closed: bool = False

    @classmethod
    def from_template(cls, template: Template) -> "RenderMesh":
        hidden = template.vertex_parts == PARTS.index("hidden")
        material = np.array([MATERIALS.index(p) if p in MATERIALS else 0 for p in PARTS],
                            np.uint8)[template.vertex_parts]
        mouth = np.r_[template.inner_lip[0], template.mouth_corners].astype(np.int32)
        if template.vertex_colors is not None:  # an imported avatar brings its own colours
            albedo = np.asarray(template.vertex_colors, np.float32)
        else:
            albedo = np.array([ALBEDO[m] for m in MATERIALS], np.float32)[material]
            skin = material == MATERIALS.index("skin")
            albedo[skin] += lip_tint(template.vertices, mouth)[skin, None] * np.subtract(LIP_ALBEDO, ALBEDO["skin"])
        return cls(faces=template.faces[~hidden[template.faces].any(axis=1)].astype(np.int32),
                   material=material, albedo=albedo, eyes=eyeballs(template.vertices, template.faces,
                                                                   material == MATERIALS.index("eye")),
                   mouth=mouth, chin=chin_vertex(template),
                   closed=template.vertex_colors is None)  # an avatar's cards and lashes show both sides


def eyeballs(vertices: np.ndarray, faces: np.ndarray, is_eye: np.ndarray) -> list:
    """Eyeballs as connected pieces of eye vertices -> [(apex vertex id, vertex ids (E,)), ...],
    at most 4 (two shells per eye, as ICT-FaceKit has)."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    f = faces[is_eye[faces].all(axis=1)]
    n = len(vertices)
    graph = scipy.sparse.coo_matrix((np.ones(f.size), (f.ravel(), np.roll(f, 1, axis=1).ravel())), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    eyes = []
    for lab in np.unique(label[is_eye]):
        ids = np.where((label == lab) & is_eye)[0]
        if len(ids) >= 8:
            eyes.append((int(ids[np.argmax(vertices[ids, 2])]), ids))
    return sorted(eyes, key=lambda e: -len(e[1]))[:4]


def lip_tint(vertices: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """How much of the lip colour each vertex gets (N,) in [0, 1]: an ellipse through the mouth
    corners, 0.3 (upper lip) and 0.4 (lower lip) of the mouth width high, soft-edged, on the front
    of the face only. Lips that read as lips let viewers and face trackers find the mouth's outline.
    vertices: (N, 3) neutral; mouth: (upper, lower, right corner, left corner) vertex ids."""
    centre = vertices[mouth[:2]].mean(0)
    half_w = np.linalg.norm(vertices[mouth[3]] - vertices[mouth[2]]) / 2
    dy = vertices[:, 1] - centre[1]
    q = np.hypot((vertices[:, 0] - centre[0]) / half_w, dy / (half_w * np.where(dy > 0, 0.30, 0.40)))
    front = vertices[:, 2] > vertices[mouth[2:], 2].min() - 0.003
    return np.clip((1.08 - q) / 0.16, 0, 1) * front


def chin_vertex(template: Template) -> int:
    """The lowest jaw vertex near the midline (+-5 mm) within 20 mm behind the lips: the chin, not the
    throat below it."""
    v = template.vertices
    lips = v[template.inner_lip[0]].mean(0)
    j = template.jaw_vertices
    j = j[(np.abs(v[j, 0] - lips[0]) < 0.005) & (v[j, 2] > lips[2] - 0.020)]
    return int(j[np.argmin(v[j, 1])]) if len(j) else int(template.jaw_vertices[np.argmin(v[template.jaw_vertices, 1])])


def face_incidence(faces: np.ndarray, n_vertices: int):
    """Sparse (N, F) vertex-face matrix: built once per mesh, reused for every frame's normals."""
    import scipy.sparse

    nf = len(faces)
    return scipy.sparse.csr_matrix((np.ones(3 * nf), (faces.T.ravel(), np.tile(np.arange(nf), 3))),
                                   shape=(n_vertices, nf))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, incidence=None) -> np.ndarray:
    """Area-weighted smooth normals (N, 3) float32 for one frame's vertices (N, 3)."""
    if incidence is None:
        incidence = face_incidence(faces, len(vertices))
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    u, v = b - a, c - a
    cross = np.empty_like(u)  # np.cross's general path costs twice these three lines
    cross[:, 0] = u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1]
    cross[:, 1] = u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2]
    cross[:, 2] = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    n = incidence @ cross
    return (n / np.maximum(np.sqrt(np.einsum("ij,ij->i", n, n)), 1e-20)[:, None]).astype(np.float32)


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


def framing(vertices: np.ndarray, mesh: RenderMesh, view: str = "face") -> tuple[np.ndarray, float, float]:
    """What the camera must show: (centre (3,), half height, half width) in metres.

    ``face``: eyes to chin with a margin (brows and the top of the forehead above, a little neck
    below), from the mesh's eyes, mouth and chin; ``head``: the whole drawn mesh. A mesh without
    eyes, mouth or chin (an avatar with no face regions) gets its bounding box either way.
    vertices: (N, 3) neutral mesh.
    """
    if view not in VIEWS:
        raise VocaError(f"view {view!r} is unknown; use one of {', '.join(VIEWS)}")
    drawn = vertices[np.unique(mesh.faces)]
    lo, hi = drawn.min(0), drawn.max(0)
    if view == "face" and mesh.eyes and mesh.mouth is not None and mesh.chin is not None:
        eye_y = np.mean([vertices[ids].mean(0)[1] for _, ids in mesh.eyes])
        lips = vertices[mesh.mouth[:2]].mean(0)
        chin_y = vertices[mesh.chin, 1]
        h = eye_y - chin_y
        top, bottom = eye_y + 0.50 * h, chin_y - 0.12 * h
        centre = np.array([lips[0], (top + bottom) / 2, lips[2]])
        return centre, (top - bottom) / 2, 0.5 * (top - bottom) / 2
    return (lo + hi) / 2 * [1, 1, 0] + [0, 0, hi[2]], 0.55 * (hi[1] - lo[1]), 0.55 * (hi[0] - lo[0])


def camera(vertices: np.ndarray, mesh: RenderMesh, width: int, height: int,
           view: str = "face") -> tuple[np.ndarray, np.ndarray]:
    """(model_view, mvp) showing ``framing(vertices, mesh, view)`` from the front, slightly above."""
    centre, half_h, half_w = framing(vertices, mesh, view)
    half = max(half_h, half_w * height / width)
    dist = half / np.tan(np.radians(FOVY) / 2)
    direction = np.array([0.0, 0.06, 1.0]) / np.linalg.norm([0.0, 0.06, 1.0])
    view_m = _look_at(centre + dist * direction, centre)
    depth = np.ptp(vertices[np.unique(mesh.faces)], axis=0).max()
    proj = _perspective(FOVY, width / height, max(dist - depth, dist * 0.2), dist + depth)
    return view_m.astype("f4"), (proj @ view_m).astype("f4")


def project(template: Template, points: np.ndarray, width: int, height: int, view: str = "face") -> np.ndarray:
    """Pixel coordinates (P, 2) (x right, y down) of points (P, 3) metres in the preview camera."""
    _, mvp = camera(template.vertices, RenderMesh.from_template(template), width, height, view)
    clip = np.c_[points, np.ones(len(points))] @ mvp.T
    ndc = clip[:, :2] / clip[:, 3:]
    return np.c_[(ndc[:, 0] + 1) / 2 * width, (1 - ndc[:, 1]) / 2 * height]


class Renderer:
    """Draws one mesh at a time into an offscreen framebuffer. Use inside a worker only.

    ``mesh``: a Template or a RenderMesh; ``neutral``: (N, 3) vertices the camera frames (the
    template's own when a Template is given).

    What costs is llvmpipe shading fragments on the CPU, so only what the frame shows is shaded:
    triangles go nearest first (sorted once on the neutral head, seen from the camera), so the depth
    test rejects what lies behind before the fragment shader runs, and a closed mesh's back faces are
    not drawn at all. The image is drawn upside down so that it reads back top row first, without a
    copy."""

    def __init__(self, mesh: Template | RenderMesh, width: int, height: int, view: str = "face",
                 neutral: np.ndarray | None = None):
        import moderngl

        if isinstance(mesh, Template):
            mesh, neutral = RenderMesh.from_template(mesh), mesh.vertices
        try:
            self.ctx = moderngl.create_context(standalone=True, backend="egl")
        except Exception as e:  # moderngl raises plain Exception when EGL is missing
            raise VocaError(f"no headless OpenGL ({e}); install libegl1 libgl1-mesa-dri "
                            "(see README setup) or pass --no-video") from None
        self.mesh, self.width, self.height = mesh, width, height
        n = len(mesh.material)
        self.incidence = face_incidence(mesh.faces, n)
        self.prog = self.ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=FRAGMENT_SHADER)
        model_view, mvp = camera(neutral, mesh, width, height, view)
        self.prog["mvp"].write((np.diag([1, -1, 1, 1]).astype("f4") @ mvp).T.tobytes())  # y down: top row first
        self.prog["model_view"].write(model_view.T.tobytes())
        lights = np.array([np.asarray(d) / np.linalg.norm(d) for d in LIGHTS], "f4")
        self.prog["light_dirs"].write(lights.tobytes())  # rows written = columns in GLSL
        self.prog["iris_cos"].value = tuple(np.cos(np.radians([IRIS_DEGREES, PUPIL_DEGREES])))
        eye_index = np.zeros(n, "f4")
        for k, (_, ids) in enumerate(mesh.eyes):
            eye_index[ids] = k
        self.pos = self.ctx.buffer(reserve=n * 12)
        self.nrm = self.ctx.buffer(reserve=n * 12)
        attrs = self.ctx.buffer(np.c_[mesh.albedo, mesh.material, eye_index].astype("f4").tobytes())
        nearness = (neutral @ model_view[:3, :3].T)[:, 2]  # view-space z: larger is nearer the camera
        faces = mesh.faces[np.argsort(-nearness[mesh.faces].max(1), kind="stable")]
        ibo = self.ctx.buffer(faces.astype(np.int32).tobytes())
        self.vao = self.ctx.vertex_array(
            self.prog, [(self.pos, "3f", "in_pos"), (self.nrm, "3f", "in_normal"),
                        (attrs, "3f 1f 1f", "in_color", "in_material", "in_eye")],
            index_buffer=ibo, index_element_size=4)
        self.fbo = self.ctx.simple_framebuffer((width, height), components=3)
        self.ctx.enable(moderngl.DEPTH_TEST)
        if mesh.closed:
            self.ctx.enable(moderngl.CULL_FACE)
            self.ctx.front_face = "cw"  # counter-clockwise from outside, mirrored by the y flip
        self.image = bytearray(width * height * 3)

    def _pose_uniforms(self, v: np.ndarray) -> None:
        """Per-frame mouth and eye positions: the cavity and the irises follow the animation."""
        mesh = self.mesh
        if mesh.mouth is not None:
            up, lo, right, left = v[mesh.mouth]
            centre = (up + lo) / 2
            self.prog["mouth_centre"].value = tuple(centre)
            self.prog["mouth_size"].value = (float(np.linalg.norm(left - right)) / 2,
                                             float(centre[2] - (left[2] + right[2]) / 2))
        else:  # no mouth: nothing is "inside" (size 0 puts every point outside the ellipse)
            self.prog["mouth_size"].value = (1e-6, 0.0)
        if mesh.eyes:
            centres = np.zeros((4, 3), "f4")
            axes = np.zeros((4, 3), "f4")
            for k, (apex, ids) in enumerate(mesh.eyes):
                centres[k] = v[ids].mean(0)
                axes[k] = (v[apex] - centres[k]) / np.linalg.norm(v[apex] - centres[k])
            self.prog["eye_centre"].write(centres.tobytes())
            self.prog["eye_axis"].write(axes.tobytes())

    def frame(self, vertices: np.ndarray) -> np.ndarray:
        """Render vertices (N, 3) metres -> RGB image (H, W, 3) uint8, top row first; valid until the
        next call (the read-back buffer is reused)."""
        v = np.ascontiguousarray(vertices, dtype="f4")
        self.pos.write(v)
        self.nrm.write(vertex_normals(v, self.mesh.faces, self.incidence))
        self._pose_uniforms(v)
        self.fbo.use()
        self.fbo.clear(*BACKGROUND, 1.0)
        self.vao.render()
        self.fbo.read_into(self.image, components=3)
        return np.frombuffer(self.image, np.uint8).reshape(self.height, self.width, 3)


# ------------------------------------------------------------------ workers
def _draw_worker(template, weights, width, height, view, conn):
    """Spawned: draw weights (T_k, 52), this worker's frames in order, and send each image's bytes
    (H x W x 3); an error goes back pickled, as a message of another length."""
    os.environ.setdefault("LP_NUM_THREADS", "1")  # one drawing thread beside this one: a worker per core
    try:
        r = Renderer(template, width, height, view)
        for s in range(0, len(weights), 64):  # deformed a chunk at a time: bounded memory
            for v in template.deform(weights[s:s + 64]):
                r.frame(v)
                conn.send_bytes(r.image)
    except BaseException as e:  # report everything back; the parent raises it as one line
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))


def _frames(template: Template, weights: np.ndarray, width: int, height: int, view: str):
    """Yield the images (H, W, 3) uint8 of weights (T, 52) in frame order, drawn by spawned workers,
    one per core: frame i by worker i mod K, each a frame ahead of the one being taken."""
    ctx = mp.get_context("spawn")
    k = max(1, min(os.cpu_count() or 1, len(weights)))
    conns, procs = [], []
    try:
        for i in range(k):
            parent, child = ctx.Pipe(duplex=False)
            procs.append(ctx.Process(target=_draw_worker, args=(template, weights[i::k], width, height, view, child),
                                     daemon=True))
            procs[-1].start()
            child.close()
            conns.append(parent)
        for i in range(len(weights)):
            try:
                msg = conns[i % k].recv_bytes()
            except EOFError:
                procs[i % k].join()
                raise VocaError(f"the render worker died (exit code {procs[i % k].exitcode}); check that EGL/Mesa "
                                "is installed (see README setup) or pass --no-video") from None
            if len(msg) != width * height * 3:
                raise pickle.loads(msg)
            yield np.frombuffer(msg, np.uint8).reshape(height, width, 3)
    finally:
        for c in conns:
            c.close()  # a worker still sending stops on the broken pipe
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()


@dataclass
class Reference:
    """A video to show beside the preview (``--beside``): path, size (pixels), fps, duration (s)."""

    path: Path
    width: int
    height: int
    fps: float
    duration: float

    def width_at(self, height: int) -> int:
        """Its width (even, pixels) when scaled to ``height``, aspect kept."""
        return max(2, 2 * round(self.width * height / self.height / 2))


def probe_video(path: str | os.PathLike) -> Reference:
    """Read a video's size, rate and duration, or refuse it in one line."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"--beside video {path} does not exist; check the path")
    try:
        frames = imageio_ffmpeg.read_frames(str(path))
        meta = next(frames)
        frames.close()
        ref = Reference(path, *meta["size"], float(meta["fps"]), float(meta["duration"]))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, StopIteration):
        raise VocaError(f"--beside {path} is not a readable video; give a video file "
                        "(MP4, MOV, AVI, MKV, ...) that ffmpeg can decode") from None
    if ref.duration <= 0 or ref.fps <= 0:
        raise VocaError(f"--beside video {path} has no frames; give a video with a picture")
    return ref


def reference_frames(ref: Reference, fps: int, height: int):
    """The reference's frames (height, W, 3) uint8 at ``fps`` from time 0, scaled to ``height``;
    after its last frame, that frame again forever (the caller stops at the preview's length)."""
    import logging

    import imageio_ffmpeg

    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # it warns that we scale: we mean to
    w = ref.width_at(height)
    last = np.zeros((height, w, 3), np.uint8)
    frames = imageio_ffmpeg.read_frames(str(ref.path), output_params=["-vf", f"fps={fps},scale={w}:{height}"])
    next(frames)
    for buf in frames:
        last = np.frombuffer(buf, np.uint8).reshape(height, w, 3)
        yield last
    while True:
        yield last


def render_frames(template: Template, weights: np.ndarray, width: int = 512, height: int = 512,
                  view: str = "face") -> np.ndarray:
    """Render weights (T, 52) on a template -> images (T, H, W, 3) uint8, in spawned workers."""
    with contextlib.closing(_frames(template, np.asarray(weights, np.float32), width, height, view)) as frames:
        return np.stack(list(frames))


def render_video(template: Template, weights: np.ndarray, out_path: str | os.PathLike,
                 audio_path: str | os.PathLike | None = None, fps: int = 60,
                 width: int = 512, height: int = 512, view: str = "face",
                 beside: Reference | None = None) -> None:
    """Write an H.264 (+ AAC when audio is given) MP4 of weights (T, 52) at ``fps``; with ``beside``,
    that video's frames (same time from 0, scaled to ``height``) to the right of the head. ffmpeg
    encodes while the workers draw; the same input gives the same file."""
    import imageio_ffmpeg

    if width % 2 or height % 2 or width < 16 or height < 16:
        raise VocaError(f"video size {width}x{height} is invalid: use even sizes >= 16, e.g. 512x512")
    ref = beside and reference_frames(beside, fps, height)
    try:
        writer = imageio_ffmpeg.write_frames(
            str(out_path), (width + (beside.width_at(height) if beside else 0), height), fps=fps,
            codec="libx264", quality=None,
            bitrate=None, pix_fmt_out="yuv420p", macro_block_size=1,
            audio_path=str(audio_path) if audio_path else None, audio_codec="aac",
            output_params=["-crf", "20", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error")
        writer.send(None)
        with contextlib.closing(_frames(template, np.asarray(weights, np.float32), width, height, view)) as frames:
            for image in frames:
                writer.send(np.concatenate([image, next(ref)], axis=1) if ref else image)
        writer.close()
    except VocaError:
        raise
    except Exception as e:  # ffmpeg refused or died: one line
        raise VocaError(f"video writing failed: {e!r}"[:300]) from None
