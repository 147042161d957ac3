"""The preview picture: a head posed per frame, drawn with moderngl on EGL (Mesa llvmpipe on CPU,
the GPU where one exists). ``Renderer`` runs inside the spawned worker only (see ``worker``);
framing and projection are plain numpy and run anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.appearance import MATERIALS, albedo, chin_vertex, eyeballs, face_incidence, materials, vertex_normals
from voca_cn.face.template import PARTS, Template

BACKGROUND = (0.16, 0.17, 0.19)
LIGHTS = ((0.45, 0.55, 1.0), (-0.8, 0.1, 0.6), (0.2, 0.6, -1.0))  # key, fill, rim (view space)
IRIS_DEGREES, PUPIL_DEGREES = 33.0, 13.0
VIEWS = ("face", "head")
SHADERS = Path(__file__).resolve().parent / "shaders"
FOVY = 18.0
# Lighting per vertex needs triangles of a few pixels: makehuman's median triangle in the face view is
# 23 px, ICT's 7; a low-poly avatar's (Godette: 185 px) is drawn per fragment throughout
COARSE_PX = 64.0


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
        material = materials(template)
        eyes = eyeballs(template.vertices, template.faces, material == MATERIALS.index("eye"))
        if template.vertex_colors is not None:  # its own colours paint its eyes: no drawn irises
            material = np.where(material == MATERIALS.index("eye"), 0, material).astype(np.uint8)
        return cls(faces=template.faces[~hidden[template.faces].any(axis=1)].astype(np.int32),
                   material=material, albedo=albedo(template), eyes=eyes,
                   mouth=np.r_[template.inner_lip[0], template.mouth_corners].astype(np.int32),
                   chin=chin_vertex(template),
                   closed=template.vertex_colors is None)  # an avatar's cards and lashes show both sides


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
        # a chin found too near the lips (jaw shapes that move the lower lip only) is put where faces
        # have it: at least half the eyes-to-lips distance below the lips
        chin_y = min(vertices[mesh.chin, 1], lips[1] - 0.5 * (eye_y - lips[1]))
        # eyes to chin, but never narrower than the eyes are apart (big stylised eyes, short chins)
        centres = [vertices[ids].mean(0) for _, ids in mesh.eyes[:2]]
        h = max(eye_y - chin_y, 0.8 * abs(centres[0][0] - centres[-1][0]))
        top, bottom = eye_y + 0.50 * h, chin_y - 0.12 * h
        centre = np.array([lips[0], (top + bottom) / 2, lips[2]])
        eye_gap = abs(centres[0][0] - centres[-1][0])  # a face is about 2.5 eye gaps wide: all of it in view
        return centre, (top - bottom) / 2, max(0.5 * (top - bottom) / 2, 1.4 * eye_gap)
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


def shader(name: str) -> str:
    """GLSL source of ``shaders/NAME``, an ``#include FILE`` line replaced by that file (the lighting
    in shade.glsl, shared by both programs). Materials: 0 skin, 1 mouth (socket, gums, tongue),
    2 teeth, 3 eye (``MATERIALS``)."""
    lines = (SHADERS / name).read_text().splitlines()
    return "\n".join(shader(ln.split()[1]) if ln.startswith("#include ") else ln for ln in lines) + "\n"


def pixel_areas(vertices: np.ndarray, faces: np.ndarray, mvp: np.ndarray, width: int, height: int) -> np.ndarray:
    """(F',) on-screen areas in pixels of the triangles (F, 3) of vertices (N, 3) that lie wholly in
    the picture, seen through ``mvp`` (4, 4)."""
    clip = np.c_[vertices, np.ones(len(vertices))] @ mvp.T
    px = (clip[:, :2] / clip[:, 3:] + 1) / 2 * [width, height]
    a, b, c = px[faces[:, 0]], px[faces[:, 1]], px[faces[:, 2]]
    area = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]) / 2
    inside = ((px[faces] >= 0) & (px[faces] < [width, height])).all(axis=(1, 2))
    return area[inside] if inside.any() else area


def occluded(v: np.ndarray, skin: np.ndarray, centre: np.ndarray, half_width: float) -> np.ndarray:
    """(N,) bool: the vertices (N, 3) that shade.glsl's ``mouth_occlusion`` may darken: inside 1.2
    times its ellipse around ``centre`` (3,) (``half_width``: the mouth's, metres), which leaves room
    for triangles that cross its edge. ``skin``: (N,) bool; the lip skin's ellipse is half as high."""
    q = (v[:, :2] - centre[:2]) / (half_width * np.array([1.3, 0.9]))
    q[:, 1] *= 1 + skin
    return np.einsum("ij,ij->i", q, q) < 1.2 ** 2


class Renderer:
    """Draws one mesh at a time into an offscreen framebuffer. Use inside a worker only (see ``worker``).

    ``mesh``: a Template or a RenderMesh; ``neutral``: (N, 3) vertices the camera frames (the
    template's own when a Template is given).

    What costs is llvmpipe shading fragments on the CPU, so little is done per fragment: most
    triangles are lit per vertex (lit.vert: the colour is interpolated); only those whose colour
    changes inside a triangle get the per-fragment program (face.frag): the irises, the mouth
    opening's occlusion (chosen per frame, it follows the mouth) and the seams between materials.
    Only what the frame shows is shaded: triangles go nearest first (sorted once on the neutral head,
    seen from the camera), so the depth test rejects what lies behind before the fragment shader
    runs, and a closed mesh's back faces are not drawn at all. The image is drawn upside down so that
    it reads back top row first, without a copy."""

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
        self.prog = self.ctx.program(vertex_shader=shader("face.vert"), fragment_shader=shader("face.frag"))
        self.lit = self.ctx.program(vertex_shader=shader("lit.vert"), fragment_shader=shader("lit.frag"))
        model_view, mvp = camera(neutral, mesh, width, height, view)
        self.set_camera(model_view, mvp)
        lights = np.array([np.asarray(d) / np.linalg.norm(d) for d in LIGHTS], "f4")
        for prog in (self.prog, self.lit):
            prog["light_dirs"].write(lights.tobytes())  # rows written = columns in GLSL
        self.prog["iris_cos"].value = tuple(np.cos(np.radians([IRIS_DEGREES, PUPIL_DEGREES])))
        eye_index = np.zeros(n, "f4")
        for k, (_, ids) in enumerate(mesh.eyes):
            eye_index[ids] = k
        self.pos = self.ctx.buffer(reserve=n * 12)
        self.nrm = self.ctx.buffer(reserve=n * 12)
        attrs = self.ctx.buffer(np.c_[mesh.albedo, mesh.material, eye_index].astype("f4").tobytes())
        nearness = (neutral @ model_view[:3, :3].T)[:, 2]  # view-space z: larger is nearer the camera
        self.faces = mesh.faces[np.argsort(-nearness[mesh.faces].max(1), kind="stable")].astype(np.int32)
        m = mesh.material[self.faces]
        self.per_fragment = (m == MATERIALS.index("eye")).any(1) | (m != m[:, :1]).any(1)  # irises, seams
        if np.median(pixel_areas(neutral, self.faces, mvp, width, height)) > COARSE_PX:
            self.per_fragment[:] = True  # a coarse mesh (a low-poly avatar): lighting varies inside its triangles
        self.skin = mesh.material == MATERIALS.index("skin")
        self.corners = face_incidence(self.faces, n).T.astype(np.int8).tocsr()  # (F, N): which face has which vertex
        self.ibo = self.ctx.buffer(reserve=self.faces.nbytes)
        self.vao = self.ctx.vertex_array(
            self.prog, [(self.pos, "3f", "in_pos"), (self.nrm, "3f", "in_normal"),
                        (attrs, "3f 1f 1f", "in_color", "in_material", "in_eye")],
            index_buffer=self.ibo, index_element_size=4)
        self.lit_vao = self.ctx.vertex_array(
            self.lit, [(self.pos, "3f", "in_pos"), (self.nrm, "3f", "in_normal"),
                       (attrs, "3f 1f 4x", "in_color", "in_material")],
            index_buffer=self.ibo, index_element_size=4)
        self.fbo = self.ctx.simple_framebuffer((width, height), components=3)
        self.ctx.enable(moderngl.DEPTH_TEST)
        if mesh.closed:
            self.ctx.enable(moderngl.CULL_FACE)
            self.ctx.front_face = "cw"  # counter-clockwise from outside, mirrored by the y flip
        self.image = bytearray(width * height * 3)

    def set_camera(self, model_view: np.ndarray, mvp: np.ndarray) -> None:
        """Look through another camera: (4, 4) float32 model-view and model-view-projection matrices
        (OpenGL's y up; the image is still read top row first)."""
        for prog in (self.prog, self.lit):
            prog["mvp"].write((np.diag([1, -1, 1, 1]).astype("f4") @ mvp).T.tobytes())  # y down: top row first
            prog["model_view"].write(model_view.T.tobytes())

    def _pose_uniforms(self, v: np.ndarray) -> np.ndarray:
        """Per-frame mouth and eye positions: the cavity and the irises follow the animation.
        -> (F,) bool: the triangles (in draw order) to shade per fragment this frame."""
        mesh = self.mesh
        size, per_fragment = (1e-6, 0.0), self.per_fragment  # no mouth: size 0 puts every point outside
        if mesh.mouth is not None:
            up, lo, right, left = v[mesh.mouth]
            centre = (up + lo) / 2
            size = (float(np.linalg.norm(left - right)) / 2, float(centre[2] - (left[2] + right[2]) / 2))
            for prog in (self.prog, self.lit):
                prog["mouth_centre"].value = tuple(centre)
            per_fragment = per_fragment | (self.corners @ occluded(v, self.skin, centre, size[0]).view(np.int8) > 0)
        for prog in (self.prog, self.lit):
            prog["mouth_size"].value = size
        if mesh.eyes:
            centres = np.zeros((4, 3), "f4")
            axes = np.zeros((4, 3), "f4")
            for k, (apex, ids) in enumerate(mesh.eyes):
                centres[k] = v[ids].mean(0)
                axes[k] = (v[apex] - centres[k]) / np.linalg.norm(v[apex] - centres[k])
            self.prog["eye_centre"].write(centres.tobytes())
            self.prog["eye_axis"].write(axes.tobytes())
        return per_fragment

    def frame(self, vertices: np.ndarray, into=None) -> np.ndarray:
        """Render vertices (N, 3) metres -> RGB image (H, W, 3) uint8, top row first, read back into
        ``into`` (a writable buffer of H x W x 3 bytes, e.g. shared memory) or else the renderer's
        own buffer, which the next call reuses."""
        into = self.image if into is None else into
        self.draw(self.pose(vertices), into)
        return np.frombuffer(into, np.uint8).reshape(self.height, self.width, 3)

    def pose(self, vertices: np.ndarray) -> int:
        """The CPU's share of a frame: upload vertices (N, 3) metres, their normals, the mouth and
        eye uniforms and this frame's triangle order -> how many triangles are lit per vertex."""
        v = np.ascontiguousarray(vertices, dtype="f4")
        self.pos.write(v)
        self.nrm.write(vertex_normals(v, self.mesh.faces, self.incidence))
        per_fragment = self._pose_uniforms(v)
        # per-vertex triangles first (most of the picture, cheap), then the per-fragment ones, each
        # group nearest first; their fragments behind the face are then rejected before shading
        self.ibo.write(np.concatenate([self.faces[~per_fragment], self.faces[per_fragment]]))
        return len(per_fragment) - int(per_fragment.sum())

    def draw(self, n_lit: int, into=None) -> None:
        """llvmpipe's share: draw the posed mesh (the first ``n_lit`` triangles per vertex, the rest
        per fragment) and read the picture back into ``into`` (default: ``image``)."""
        self.fbo.use()
        self.fbo.clear(*BACKGROUND, 1.0)
        self.lit_vao.render(vertices=3 * n_lit)
        self.vao.render(vertices=3 * (len(self.faces) - n_lit), first=3 * n_lit)
        self.fbo.read_into(self.image if into is None else into, components=3)
