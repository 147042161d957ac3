"""Find the face on any mesh: render it from the front with our own renderer (orthographic, in a
spawned worker, as every render is), run MediaPipe FaceLandmarker on the picture, and cast the 478
landmarks back onto the surface.

Nothing about the mesh is assumed: units come out of the orthographic framing (the window is the
bounding box), the orientation is searched (the 24 axis-aligned ways to face the camera, upright
ones first), and a face that is small in the picture (a whole character) is looked for in windows
at the top of the mesh. A second render framed on the face found gives the landmarks used.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
from dataclasses import dataclass

import numpy as np

from voca_cn import VocaError
from voca_cn.render.preview import RenderMesh

SIZE = 512  # pixels of the square pictures the tracker reads
WINDOWS = (1.0, 0.4, 0.18)  # window side / the mesh's extent: whole mesh, then the top (a character's head)
UPPER_INNER = (191, 80, 81, 82, 13, 312, 311, 310, 415)  # MediaPipe inner-lip contour, right to left
LOWER_INNER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
CORNERS = (61, 291)  # mouth corners (subject's right, left) as the aperture reads them
EYES = ((33, 133), (362, 263))  # eye corners, subject's right and left eye
CHIN, FOREHEAD, NOSE_TIP = 152, 10, 1


@dataclass
class Face:
    """The landmarks found on a mesh.

    rotation  (3, 3): turns the mesh so its face looks +Z with Y up (rows: right, up, forward)
    points    (478, 3) float64: landmarks on the surface, in the mesh's own frame and units
    hit       (478,) bool: the landmark's ray met the surface (others are not used)
    """

    rotation: np.ndarray
    points: np.ndarray
    hit: np.ndarray


def _rotations() -> list[np.ndarray]:
    """The 24 axis-aligned rotations, rows (right, up, forward): Y up first, then Z up, then the rest;
    facing +Z first, then -Z (VRM 0.x), then sideways."""
    axes = [np.eye(3)[i] * s for i in (1, 2, 0) for s in (1, -1)]
    out = []
    for up, fwd in itertools.product(axes, [np.eye(3)[i] * s for i in (2, 0, 1) for s in (1, -1)]):
        if abs(up @ fwd) < 0.5:
            out.append(np.stack([np.cross(up, fwd), up, fwd]))
    return out


def _windows(v: np.ndarray) -> list[tuple[float, float, float]]:
    """(centre x, centre y, half side) of the square windows to look in, for rotated vertices (N, 3)."""
    lo, hi = v.min(0), v.max(0)
    extent = max(hi[0] - lo[0], hi[1] - lo[1])
    cx = (lo[0] + hi[0]) / 2
    out = []
    for f in WINDOWS:
        half = 0.55 * f * extent
        cy = (lo[1] + hi[1]) / 2 if f == 1.0 else hi[1] - half * 0.9
        out.append((cx, cy, half))
    return out


def _matrices(v: np.ndarray, cx: float, cy: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    """(model_view, mvp) of an orthographic camera on +Z looking down -Z at window (cx, cy, half)."""
    zlo, zhi = float(v[:, 2].min()), float(v[:, 2].max())
    depth = max(zhi - zlo, 1e-9)
    mvp = np.array([[1 / half, 0, 0, -cx / half], [0, 1 / half, 0, -cy / half],
                    [0, 0, -2 / depth, 1 + 2 * zlo / depth], [0, 0, 0, 1]])
    mv = np.eye(4)
    mv[:3, 3] = (-cx, -cy, -(zhi + 20 * half))  # the viewer far in front: light and view directions ~ +Z
    return mv.astype("f4"), mvp.astype("f4")


def _worker(conn):
    """Spawned renderer: ("mesh", RenderMesh, neutral) sets the mesh, ("view", vertices, cx, cy, half)
    renders a picture; None ends."""
    from voca_cn.render.preview import Renderer

    r = None
    try:
        while (msg := conn.recv()) is not None:
            if msg[0] == "mesh":
                r = Renderer(msg[1], SIZE, SIZE, "head", neutral=msg[2])
                conn.send(("ok", None))
                continue
            _, v, cx, cy, half = msg
            mv, mvp = _matrices(v, cx, cy, half)
            r.set_camera(mv, mvp)
            conn.send(("ok", r.frame(v).copy()))
    except BaseException as e:  # noqa: BLE001 - every failure goes back as one line
        conn.send(("error", e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))


class Camera:
    """A spawned renderer plus a MediaPipe FaceLandmarker (IMAGE mode), for one or more meshes."""

    def __enter__(self):
        from voca_cn.video.tracking import _Landmarker

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._tracker = _Landmarker(per_frame=True).__enter__()
        return self

    def __exit__(self, *exc):
        self._tracker.__exit__(*exc)
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._proc.join(timeout=10)

    def _ask(self, msg):
        try:
            self._conn.send(msg)
            status, payload = self._conn.recv()
        except (EOFError, OSError):
            raise VocaError("the render worker died; check that EGL/Mesa is installed (see README setup)") from None
        if status == "error":
            raise payload
        return payload

    def look(self, mesh: RenderMesh, vertices: np.ndarray, rotations: list[np.ndarray] | None = None) -> Face | None:
        """Search orientations and windows for a face on ``vertices`` (N, 3); None when none is found."""
        self._ask(("mesh", mesh, vertices.astype(np.float32)))
        for rot in rotations or _rotations():
            v = (vertices @ rot.T).astype(np.float32)
            for cx, cy, half in _windows(v):
                lm = self._detect(v, cx, cy, half)
                if lm is None:
                    continue
                xy = _pixels_to_model(lm, cx, cy, half)
                (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
                cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.75 * max(x1 - x0, y1 - y0)
                lm = self._detect(v, cx, cy, half)  # again, framed on the face
                if lm is None:
                    continue
                points, hit = cast(v, mesh.faces, _pixels_to_model(lm, cx, cy, half))
                if hit.sum() < 300:
                    continue
                return Face(rot, points @ rot, hit)
        return None

    def _detect(self, v, cx, cy, half) -> np.ndarray | None:
        image = self._ask(("view", v, cx, cy, half))
        found = self._tracker.detect(image, 0)[1]
        return None if found is None else found[0][:, :2].astype(np.float64)


def _pixels_to_model(px: np.ndarray, cx: float, cy: float, half: float) -> np.ndarray:
    """Pixel coordinates (L, 2) (x right, y down) -> model x, y (L, 2) in the rotated frame."""
    return np.c_[cx + (px[:, 0] / SIZE * 2 - 1) * half, cy - (px[:, 1] / SIZE * 2 - 1) * half]


def cast(v: np.ndarray, faces: np.ndarray, xy: np.ndarray, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Cast rays down -Z at points xy (L, 2) onto the mesh (vertices (N, 3), faces (F, 3)) ->
    (first hits (L, 3), hit mask (L,)); a miss keeps z = 0."""
    a, b, c = v[faces[:, 0], :2], v[faces[:, 1], :2], v[faces[:, 2], :2]
    lo, hi = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    den = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    ok = np.abs(den) > 1e-20
    out, hit = np.zeros((len(xy), 3)), np.zeros(len(xy), bool)
    out[:, :2] = xy
    order = np.argsort(xy[:, 0], kind="stable")  # chunks of points near in x meet few triangles
    for s in range(0, len(xy), chunk):
        idx = order[s:s + chunk]
        p = xy[idx]
        near = np.where(ok & (hi >= p.min(0)).all(-1) & (lo <= p.max(0)).all(-1))[0]
        li, fi = np.nonzero((p[:, None] >= lo[near]).all(-1) & (p[:, None] <= hi[near]).all(-1))
        if not len(li):
            continue
        q, f = p[li], near[fi]
        w0 = ((b[f, 1] - c[f, 1]) * (q[:, 0] - c[f, 0]) + (c[f, 0] - b[f, 0]) * (q[:, 1] - c[f, 1])) / den[f]
        w1 = ((c[f, 1] - a[f, 1]) * (q[:, 0] - c[f, 0]) + (a[f, 0] - c[f, 0]) * (q[:, 1] - c[f, 1])) / den[f]
        w2 = 1 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        z = w0 * v[faces[f, 0], 2] + w1 * v[faces[f, 1], 2] + w2 * v[faces[f, 2], 2]
        first = np.full(len(p), -np.inf)
        np.maximum.at(first, li[inside], z[inside])  # the nearest of the triangles a ray meets
        got = np.isfinite(first)
        out[idx[got], 2] = first[got]
        hit[idx[got]] = True
    return out, hit
