"""Templates: a neutral head mesh with an ARKit blendshape basis (the linear decoder).

A template file is an ``.npz`` (format version 1) holding

==================  ===============  =====================================================
key                 shape / dtype    meaning
==================  ===============  =====================================================
``format``          ()  int          1
``name``            ()  str          template name (``makehuman``, ``ict``, ...)
``vertices``        (N, 3) float32   neutral mesh, metres, Y up, face looking +Z
``faces``           (F, 3) int32     triangles, indices into ``vertices``
``uv``              (M, 2) float32   texture coordinates (optional, with ``faces_uv``)
``faces_uv``        (F, 3) int32     per-corner indices into ``uv`` (optional)
``vertex_parts``    (N,) uint8       index into ``PARTS`` (skin, mouth, teeth, eye, hidden)
``basis_shape``     (K,) int16       sparse basis: ARKit index of each entry
``basis_vertex``    (K,) int32       sparse basis: vertex index of each entry
``basis_delta``     (K, 3) float32   sparse basis: offset in metres at weight 1
``lip_vertices``    (L,) int32       lip region (LVE is measured here)
``jaw_vertices``    (J,) int32       lips, chin and jaw (weighted in training losses)
``inner_lip``       (P, 2) int32     (upper, lower) inner-lip landmark pairs, centre first
``mouth_corners``   (2,) int32       (right, left) mouth-corner vertices, where the lips meet
                                     (optional: derived from the lip region when absent)
``colors``          (N, 3) float32   linear albedo per vertex (optional: rigged avatars' own colours)
``licence``         ()  str          licence of the mesh and basis
``provenance``      ()  str          where the mesh came from and how it was built
==================  ===============  =====================================================

Offsets are linear in the weights: ``d(t) = sum_k w_k(t) B_k``; vertices = neutral + d.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES
from voca_cn.core.files import atomic_path

PARTS: tuple[str, ...] = ("skin", "mouth", "teeth", "eye", "hidden")
FORMAT = 1


@dataclass
class Template:
    name: str
    vertices: np.ndarray
    faces: np.ndarray
    basis: np.ndarray  # (52, N, 3) float32, zeros for missing shapes
    vertex_parts: np.ndarray
    lip_vertices: np.ndarray
    jaw_vertices: np.ndarray
    inner_lip: np.ndarray
    mouth_corners: np.ndarray | None = None  # (2,) int32; derived from the lips when None
    licence: str = ""
    provenance: str = ""
    uv: np.ndarray | None = None
    faces_uv: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None  # (N, 3) float32 linear albedo (imported avatars); None: part colours
    _flat_basis: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.mouth_corners is None:
            self.mouth_corners = derive_mouth_corners(self.vertices, self.faces, self.vertex_parts,
                                                      self.lip_vertices, self.inner_lip)

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def present(self) -> np.ndarray:
        """(52,) bool: which ARKit shapes this template's basis carries."""
        return np.abs(self.basis).reshape(52, -1).max(axis=1) > 0

    @property
    def missing(self) -> list[str]:
        return [n for n, p in zip(NAMES, self.present) if not p]

    def offsets(self, weights: np.ndarray) -> np.ndarray:
        """Per-vertex offsets for ARKit weights.

        weights: (T, 52) -> (T, N, 3) float32 metres.
        """
        w = np.asarray(weights, dtype=np.float32)
        if self._flat_basis is None:
            self._flat_basis = np.ascontiguousarray(self.basis.reshape(52, -1))
        return (w @ self._flat_basis).reshape(len(w), self.n_vertices, 3)

    def deform(self, weights: np.ndarray, head: np.ndarray | None = None) -> np.ndarray:
        """Vertex positions (T, N, 3) float32 metres for weights (T, 52), the head turned by
        ``head`` (T, 3) radians (yaw, pitch, roll; see :func:`head_matrices`) when given."""
        v = self.vertices[None] + self.offsets(weights)
        return v if head is None or not np.any(head) else self.turn_head(v, head)

    def neck_pivot(self) -> np.ndarray:
        """(3,) float32 metres: the point the head turns about, below and behind the lips."""
        lips = self.vertices[self.aperture_vertices].mean(0)
        return (lips + np.array([0.0, -NECK_DROP, -NECK_DEPTH], np.float32)).astype(np.float32)

    def turn_head(self, vertices: np.ndarray, head: np.ndarray) -> np.ndarray:
        """(T, N, 3) vertices with the head rotated by (T, 3) radians about a neck point below
        and behind the mouth; below the neck the rotation fades out over NECK_BLEND metres, so
        a bust or a body stays put and only the head turns."""
        pivot = self.neck_pivot()
        share = np.clip((self.vertices[:, 1] - pivot[1] + NECK_BLEND / 2) / NECK_BLEND, 0, 1)[None, :, None]
        rot = head_matrices(head)
        d = vertices - pivot
        turned = np.empty_like(d)
        r = rot[:, :, :, None]  # (T, 3, 3, 1): R d written out is 2.5x faster than einsum, same float32 sums
        for i in range(3):
            turned[..., i] = (r[:, i, 0] * d[..., 0] + r[:, i, 1] * d[..., 1]) + r[:, i, 2] * d[..., 2]
        turned += pivot
        return (vertices + share * (turned - vertices)).astype(np.float32)

    def inner_lip_gap(self, vertices: np.ndarray) -> np.ndarray:
        """Inner-lip gap in metres: distance of the central (upper, lower) landmark pair.

        vertices: (T, N, 3) -> (T,). Negative-free; lips pushed through each other read 0 at best,
        so the signed vertical gap is folded in: a lower lip above the upper one counts as 0.
        """
        up, lo = self.inner_lip[0]
        d = vertices[:, up] - vertices[:, lo]
        return np.where(d[:, 1] < 0, 0.0, np.linalg.norm(d, axis=-1))

    @property
    def aperture_vertices(self) -> np.ndarray:
        """(4,) vertex indices: upper and lower inner-lip centre, right and left mouth corner."""
        up, lo = self.inner_lip[0]
        return np.array([up, lo, *self.mouth_corners])

    def aperture(self, vertices: np.ndarray) -> np.ndarray:
        """Inner-lip gap / mouth width as a camera in front sees it (the tracker's yardstick,
        |L13 - L14| / |L61 - L291|, read on this head). vertices: (T, N, 3) -> (T,)."""
        return lip_aperture(vertices[:, self.aperture_vertices])

    def teeth_through_lips(self, vertices: np.ndarray) -> np.ndarray:
        """How far teeth poke out in front of the lips, per frame: vertices (T, N, 3) -> (T,) metres
        (0 = no tooth shows through).

        Seen from the front (+Z), a tooth vertex that lies over a front-facing skin triangle of the
        lip region, and nearer the viewer than that triangle, shows through the lips. Teeth seen
        through the mouth opening lie over no such triangle and do not count.
        """
        lips = np.zeros(self.n_vertices, bool)
        lips[self.lip_vertices] = True
        lips &= self.vertex_parts == PARTS.index("skin")
        tris = self.faces[lips[self.faces].all(axis=1)]
        teeth = np.where(self.vertex_parts == PARTS.index("teeth"))[0]
        return np.array([_points_in_front(v[teeth], v[tris]).max(initial=0.0) for v in vertices])

    def with_vertices(self, vertices: np.ndarray, name: str | None = None) -> "Template":
        """Same topology and basis, a different neutral (an edited head)."""
        return replace(self, vertices=np.asarray(vertices, np.float32), name=name or self.name,
                       _flat_basis=None)

    # ----------------------------------------------------------------- file format
    def save(self, path: str | os.PathLike) -> None:
        """Write the template file atomically (temporary name, then rename)."""
        path = Path(path)
        nz = np.nonzero(np.abs(self.basis).max(axis=2) > 0)
        arrays = dict(
            format=np.int64(FORMAT), name=np.str_(self.name),
            vertices=self.vertices.astype(np.float32), faces=self.faces.astype(np.int32),
            vertex_parts=self.vertex_parts.astype(np.uint8),
            basis_shape=nz[0].astype(np.int16), basis_vertex=nz[1].astype(np.int32),
            basis_delta=self.basis[nz].astype(np.float32),
            lip_vertices=self.lip_vertices.astype(np.int32),
            jaw_vertices=self.jaw_vertices.astype(np.int32),
            inner_lip=self.inner_lip.astype(np.int32),
            mouth_corners=self.mouth_corners.astype(np.int32),
            licence=np.str_(self.licence), provenance=np.str_(self.provenance),
        )
        if self.uv is not None:
            arrays.update(uv=self.uv.astype(np.float32), faces_uv=self.faces_uv.astype(np.int32))
        if self.vertex_colors is not None:
            arrays.update(colors=np.asarray(self.vertex_colors, np.float32))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Template":
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
            if int(z["format"]) != FORMAT:
                raise VocaError(f"template {path}: format {int(z['format'])} is not supported "
                                f"(expected {FORMAT}); rebuild it with this version of voca-cn")
            verts = z["vertices"].astype(np.float32)
            basis = np.zeros((52, len(verts), 3), np.float32)
            basis[z["basis_shape"], z["basis_vertex"]] = z["basis_delta"]
            t = cls(
                name=str(z["name"]), vertices=verts, faces=z["faces"].astype(np.int32),
                basis=basis, vertex_parts=z["vertex_parts"], lip_vertices=z["lip_vertices"],
                jaw_vertices=z["jaw_vertices"], inner_lip=z["inner_lip"],
                mouth_corners=z["mouth_corners"] if "mouth_corners" in z else None,
                licence=str(z["licence"]), provenance=str(z["provenance"]),
                uv=z["uv"] if "uv" in z else None, faces_uv=z["faces_uv"] if "faces_uv" in z else None,
                vertex_colors=z["colors"] if "colors" in z else None,
            )
        except VocaError:
            raise
        except (OSError, KeyError, ValueError, IndexError, TypeError, OverflowError, EOFError,
                zipfile.BadZipFile) as e:
            raise VocaError(f"template {path} is not a readable voca-cn template ({str(e)[:200]}); "
                            "rebuild it or pass a built-in name (see `voca-cn template list`)") from None
        n = len(t.vertices)
        if (t.faces.ndim != 2 or t.faces.shape[1] != 3 or t.faces.min(initial=0) < 0
                or t.faces.max(initial=0) >= n or not np.isfinite(t.vertices).all()):
            raise VocaError(f"template {path} is corrupt (faces out of range or non-finite vertices); "
                            "rebuild it")
        return t


NECK_DROP, NECK_DEPTH, NECK_BLEND = 0.09, 0.09, 0.08  # metres: the neck pivot from the lips; blend height


def head_matrices(head: np.ndarray) -> np.ndarray:
    """(T, 3) (yaw, pitch, roll) radians -> (T, 3, 3) R = Ry(yaw) Rx(pitch) Rz(roll) in the
    head's frame (Y up, face toward +Z, +X the character's left): yaw > 0 turns the face to its
    left, pitch > 0 nods the chin down, roll > 0 tilts toward its right shoulder."""
    h = np.asarray(head, np.float64)
    cy, sy, cp, sp, cr, sr = (f(h[:, k]) for k in range(3) for f in (np.cos, np.sin))
    one, zero = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], 1)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1), np.stack([zero, sp, cp], -1)], 1)
    rz = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1), np.stack([zero, zero, one], -1)], 1)
    return (ry @ rx @ rz).astype(np.float32)


def mouth_range() -> np.ndarray:
    """(K, 52) weights spanning what the mouth does: every jaw, mouth, cheek and tongue shape at
    0.5 and 1 and every pair of them at 0.5 (speech blends a few shapes at moderate weights; two
    opposing shapes both at 1, e.g. mouthRight + mouthSmileLeft, tear ICT's lips 9 mm past its
    teeth), each with jawOpen at 0, 0.5 and 1 (mouthClose kept <= 0.85 jawOpen, the corrective
    it is)."""
    mouth = [k for k, n in enumerate(NAMES) if n.startswith(("jaw", "mouth", "cheek", "tongue"))]
    jaw, close = NAMES.index("jawOpen"), NAMES.index("mouthClose")
    sets = [{k: a} for k in mouth for a in (0.5, 1.0)]
    sets += [{i: 0.5, j: 0.5} for n, i in enumerate(mouth) for j in mouth[n + 1:]]
    rows = []
    for shape in sets:
        for open_ in (0.0, 0.5, 1.0):
            w = np.zeros(52, np.float32)
            w[jaw] = open_
            for k, a in shape.items():
                w[k] = a
            w[close] = min(w[close], 0.85 * w[jaw])
            rows.append(w)
    return np.array(rows)


UPPER_TEETH_DROP = 0.0025  # metres: upper incisal edges 2.5 mm below the upper lip's inner edge


def seat_teeth(template: Template, interior: np.ndarray, margin: float = 0.0005) -> Template:
    """Move the teeth and the given interior vertices (gums, tongue: what must stay with them) back
    along -Z just enough that no tooth pokes out in front of the lips anywhere in ``mouth_range()``,
    plus ``margin`` metres. interior: (K,) vertex ids, the teeth included."""
    depth = float(template.teeth_through_lips(template.deform(mouth_range())).max())
    if depth == 0.0:
        return template
    v = template.vertices.copy()
    v[interior, 2] -= depth + margin
    return template.with_vertices(v)


def show_upper_teeth(template: Template, drop: float = UPPER_TEETH_DROP) -> Template:
    """Lower the upper teeth (teeth that stay when the jaw opens) by ``drop`` metres, so that
    their edges show under the upper lip whenever the lips part, as a real speaker's do; then
    seat them behind the lips again (:func:`seat_teeth`), so closed lips still hide them."""
    from voca_cn.core.arkit import INDEX

    teeth = np.flatnonzero(template.vertex_parts == PARTS.index("teeth"))
    upper = teeth[np.linalg.norm(template.basis[INDEX["jawOpen"]][teeth], axis=1) < 1e-6]
    v = template.vertices.copy()
    v[upper, 1] -= drop
    return seat_teeth(template.with_vertices(v), upper)


def _points_in_front(points: np.ndarray, tris: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Depth (P,) in metres by which each point (P, 3) lies, along +Z, in front of a front-facing
    triangle of tris (Q, 3, 3) that covers it; 0 where none covers it or it lies behind."""
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    tris = tris[n[:, 2] > 0]
    depth = np.zeros(len(points))
    lo, hi = tris[..., :2].min(1), tris[..., :2].max(1)
    # Only points over the triangles' footprint and in front of the deepest one can count.
    cand = np.where((points[:, :2] >= lo.min(0)).all(1) & (points[:, :2] <= hi.max(0)).all(1)
                    & (points[:, 2] > tris[..., 2].min()))[0]
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    for s in range(0, len(cand), chunk):  # (chunk, Q) at a time: bounded memory for ICT's 4k teeth
        p = points[cand[s:s + chunk], None]
        u = ((p[..., 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (p[..., 1] - a[:, 1])) / det
        v = ((b[:, 0] - a[:, 0]) * (p[..., 1] - a[:, 1]) - (p[..., 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
        over = (u >= 0) & (v >= 0) & (u + v <= 1)
        ahead = p[..., 2] - (a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2]))
        depth[cand[s:s + chunk]] = np.where(over, ahead, 0.0).max(axis=1).clip(0)
    return depth


def derive_mouth_corners(vertices: np.ndarray, faces: np.ndarray, parts: np.ndarray,
                         lip_vertices: np.ndarray, inner_lip: np.ndarray) -> np.ndarray:
    """(right, left) mouth-corner vertex ids (2,) int32 from the geometry: the outermost lip
    vertices on the lip seam (lip skin that shares a triangle with the mouth socket), level with
    the inner-lip centre (+-4 mm) and near the front (within 15 mm of it), since the seam also runs
    deep into the socket."""
    centre = vertices[inner_lip[0]].mean(0)
    socket = parts[faces] == PARTS.index("mouth")
    seam = np.unique(faces[socket.any(axis=1)])
    seam = np.intersect1d(seam, lip_vertices)
    near = seam[(np.abs(vertices[seam, 1] - centre[1]) < 0.004)
                & (vertices[seam, 2] > centre[2] - 0.015)]
    if len(near) < 2:  # a template with no socket: fall back on the widest lip vertices at mouth level
        near = lip_vertices[np.abs(vertices[lip_vertices, 1] - centre[1]) < 0.004]
    if len(near) < 2:  # no lips at all (an avatar without mouth shapes, refused by its loader)
        return np.asarray(inner_lip[0], np.int32)
    return np.array([near[np.argmin(vertices[near, 0])], near[np.argmax(vertices[near, 0])]], np.int32)


# --------------------------------------------------------------------------- lookup


def lip_aperture(points: np.ndarray) -> np.ndarray:
    """(T, 4, 3) upper lip, lower lip, left corner, right corner -> (T,) gap / width in the
    image plane (x, y); a lower lip above the upper one reads 0."""
    gap = np.maximum(points[:, 0, 1] - points[:, 1, 1], 0.0)
    gap = np.hypot(gap, points[:, 0, 0] - points[:, 1, 0])
    width = np.linalg.norm(points[:, 2, :2] - points[:, 3, :2], axis=-1)
    return (gap / np.maximum(width, 1e-9)).astype(np.float32)
