"""Our template's 52 ARKit shapes onto a head of any topology, given the landmarks found on both.

0. Landmarks: those whose ray went through parted lips or an empty eye socket (far off a similarity
   fit of the others) are left out of the fit and the warp, and take their depth from the fit.
1. Pose: a similarity fit of the landmarks turns the head to face +Z, Y up, and picks its unit
   (metre, decimetre, centimetre, millimetre or inch: whichever gives a face nearest in size to ours;
   when none gives a face within 30 % of ours, the head is scaled to our face's size, since the
   preview, the neck pivot and the mouth cavity are measured in metres of a human head).
2. Warp: the template goes onto the head by that similarity plus a thin-plate spline through the
   landmark pairs, so every template vertex lands where the same part of the face is on the head.
3. Lips: a scan's fused lips are cut along the inner-lip line between the mouth corners (each vertex
   on the line gets a copy for the lower lip), so the mouth can open. Each vertex around the mouth
   belongs to the lip it is nearer to along the surface. An unlabelled mesh's separate shells are
   sorted first (eyeballs, teeth and mouth inside, the rest skin).
4. Shapes: each head vertex takes the offsets of the nearest warped template vertices of the same
   kind (upper lip from upper lip, lower from lower, teeth from teeth), scaled by the similarity and
   fading to zero away from the template's face; eyes and anything hidden stay rigid.
5. Inside: a head without teeth or a mouth gets the template's (warped); without eyes, its eyeballs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX
from voca_cn.face.appearance import ALBEDO
from voca_cn.face.template import PARTS, Template
from voca_cn.rig.landmarks import CORNERS, EYES, LOWER_INNER, UPPER_INNER, Face

UNITS = (1.0, 0.1, 0.01, 0.001, 0.0254)  # metres per unit of the file
SKIN, MOUTH, TEETH, EYE, HIDDEN = (PARTS.index(p) for p in PARTS)


@dataclass
class Head:
    """A user's mesh as read: vertices (N, 3) in its own frame and units, faces (F, 3) int32,
    parts (N,) uint8 (index into PARTS), colours (N, 3) linear RGB or None, uv (M, 2) and
    faces_uv (F, 3) or None."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    parts: np.ndarray
    colors: np.ndarray | None = None
    uv: np.ndarray | None = None
    faces_uv: np.ndarray | None = None
    licence: str = ""
    provenance: str = ""


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: scale s, rotation R (3, 3), translation t with dst ~ s R src + t. src, dst: (L, 3)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    s = float(np.trace(np.diag(sig) @ d) / (a ** 2).sum(1).mean())
    return s, r, md - s * r @ ms


def rig(head: Head, face: Face, template: Template, template_face: Face) -> Template:
    """The head with ``template``'s ARKit basis transferred (a Template in metres, +Z forward, Y up)."""
    ok = _consistent(face.points, template_face.points, face.hit & template_face.hit)
    s0, r0, _ = similarity(face.points[ok], template_face.points[ok])
    unit = min(UNITS, key=lambda u: abs(np.log(u / s0)))
    if abs(np.log(unit / s0)) > np.log(1.3):  # no unit gives a human-sized face: make it ours in size
        unit = s0
    centre = face.points[ok].mean(0)
    verts = unit * (head.vertices - centre) @ r0.T
    lm = unit * (face.points - centre) @ r0.T
    s, q, t = similarity(template_face.points[ok], lm[ok])
    # a ray that missed or went on behind: keep where the picture put it, take its depth along the ray from the fit
    ray = r0 @ face.rotation[2]
    pred = s * template_face.points[~ok] @ q.T + t
    lm[~ok] -= np.outer((lm[~ok] - pred) @ ray, ray)
    warp = _warp(template_face.points[ok], lm[ok], s, q, t)
    width = np.linalg.norm(lm[CORNERS[0]] - lm[CORNERS[1]])
    if not 0.2 * s * _width(template_face.points) < width < 5 * s * _width(template_face.points):
        raise VocaError(f"{head.name}: the face found has an implausible mouth ({width:.3g} m wide); "
                        "give a head whose face is visible from the front, mouth closed or nearly so")
    t_verts = warp(template.vertices)
    parts = head.parts
    if (parts == SKIN).all():  # an OBJ/PLY says nothing of parts: eyeballs and teeth may be shells in it
        parts = _shell_parts(head.faces, verts, lm, ok, template.vertex_parts, t_verts, width)
    faces, verts, parts, src = _cut_lips(head.faces, verts, parts, lm, width)
    t_side = _template_sides(template, template_face.points, t_verts)
    side = _sides(verts, faces, parts, lm, width)
    side[src[len(head.vertices):]], side[len(head.vertices):] = 1, -1  # a cut seam: copies go with the lower lip
    basis, nearest = _transfer(verts, parts, side, template, t_verts, t_side, s * q, width)
    colors = None if head.colors is None else head.colors[src]
    uv, faces_uv = head.uv, head.faces_uv
    extra = [p for p, have in ((MOUTH, {MOUTH, TEETH}), (EYE, {EYE})) if not (np.isin(parts, list(have))).any()]
    if extra:
        verts, faces, parts, basis, colors, nearest, faces_uv, uv = _transplant(
            template, t_verts, s * q, extra, verts, faces, parts, basis, colors, nearest, faces_uv, uv)
        side = np.r_[side, np.zeros(len(verts) - len(side), np.int8)]
    moved = (parts == SKIN) & (np.abs(basis).max(axis=(0, 2)) > 1e-3 * width)
    lips = np.where(moved & np.isin(nearest, template.lip_vertices))[0]
    jaw = np.where(moved & np.isin(nearest, template.jaw_vertices))[0]
    up, lo = _inner_pair(verts, faces, parts, side, lm, width)
    cut = np.zeros(len(verts), bool)
    cut[len(head.vertices): len(src)] = True
    seam = _closest(verts, (lm[13] + lm[14]) / 2, cut)
    if seam >= 0 and np.linalg.norm(verts[seam] - (lm[13] + lm[14]) / 2) < 0.1 * width:
        lo, up = seam, int(src[seam])  # fused lips: the seam vertex at the centre and its lower-lip copy
    corners = np.array([_closest(verts, lm[c], parts == SKIN) for c in CORNERS])
    if min(up, lo) < 0 or np.isin(corners, (up, lo)).any() or not len(lips) or not len(jaw):
        raise VocaError(f"{head.name}: no lips were found on the mesh around the face's mouth; "
                        "give a head with its mouth modelled (closed or open)")
    return Template(
        name=head.name, vertices=verts.astype(np.float32), faces=faces.astype(np.int32),
        basis=basis.astype(np.float32), vertex_parts=parts.astype(np.uint8),
        lip_vertices=lips.astype(np.int32), jaw_vertices=jaw.astype(np.int32),
        inner_lip=np.array([[up, lo]], np.int32), mouth_corners=corners.astype(np.int32),
        licence=head.licence, uv=uv, faces_uv=faces_uv,
        provenance=f"{head.provenance}; rigged by voca-cn from {template.name} "
                   f"(landmarks, thin-plate warp, closest-point shape transfer; unit {unit} m)",
        vertex_colors=None if colors is None else colors.astype(np.float32))


def _consistent(points: np.ndarray, ours: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """(L,) bool: landmarks that hit the surface where the rest of the face says they should. A ray
    cast between open lips, into an eye socket without an eyeball or a nostril goes on to whatever
    lies behind (the inside of the back of the head); such a landmark sits far off a similarity fit
    of the others and would drag the warp there. points, ours: (L, 3) on the head and on our template."""
    ok = hit.copy()
    for _ in range(3):
        s, r, t = similarity(points[ok], ours[ok])
        res = np.linalg.norm(s * points @ r.T + t - ours, axis=1)
        ok = hit & (res < max(4 * np.median(res[ok]), 0.05 * _width(ours)))
    return ok


def _shell_parts(faces, verts, lm, ok, t_parts, t_verts, width) -> np.ndarray:
    """(N,) uint8 parts of an unlabelled mesh, shell by shell (vertices at one place are joined, so a
    mesh split at UV seams is one shell): the shell most landmarks lie on is skin; a shell centred
    behind an eye (within half the eye's width of its corners' midpoint, seen from the front, and no
    wider than two eyes) is an eye; a shell around the mouth, no wider than two mouths and mostly
    hidden behind the face (teeth, gums, tongue, mouth socket) is mouth or teeth, whichever of the
    warped template's its vertices are mostly nearest to; any other shell (lashes, brows, hair) takes
    the part most of its vertices are nearest to on the warped template, when the template lies near
    it (else it stays skin)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    from voca_cn.rig.landmarks import cast

    _, weld = np.unique(np.round(verts / (1e-5 * width)), axis=0, return_inverse=True)
    f, m = weld.reshape(-1)[faces], weld.max() + 1
    _, shell = connected_components(coo_matrix((np.ones(f.size), (f.ravel(), np.roll(f, 1, 1).ravel())),
                                               shape=(m, m)), directed=False)
    shell = shell[weld.reshape(-1)]
    face_shell = np.bincount(shell[cKDTree(verts).query(lm[ok])[1]]).argmax()
    parts = np.full(len(verts), SKIN, np.uint8)
    if (shell == face_shell).all():
        return parts
    d, k = cKDTree(t_verts).query(verts)
    inside = np.where(np.isin(t_parts, (MOUTH, TEETH)))[0]
    k_in = inside[cKDTree(t_verts[inside]).query(verts)[1]]
    eyes = [(lm[a] + lm[b]) / 2 for a, b in EYES]
    eye_width = np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in EYES])
    mouth = (lm[CORNERS[0]] + lm[CORNERS[1]]) / 2
    order = np.argsort(shell, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(shell[order])) + 1)
    groups = [g for g in groups if shell[g[0]] != face_shell]
    some = [g[:: max(1, len(g) // 50)] for g in groups]
    front, hit = cast(verts, faces[(shell == face_shell)[faces].all(1)], verts[np.concatenate(some), :2])
    behind = np.split(hit & (front[:, 2] > verts[np.concatenate(some), 2] + 0.01 * width),
                      np.cumsum([len(x) for x in some])[:-1])
    for ids, hidden in zip(groups, behind):
        centre, extent = verts[ids].mean(0), np.ptp(verts[ids], axis=0).max()
        if extent < 2 * eye_width and min(np.linalg.norm(centre[:2] - e[:2]) for e in eyes) < 0.5 * eye_width:
            parts[ids] = EYE
        elif extent < 2 * width and np.linalg.norm(centre[:2] - mouth[:2]) < width and hidden.mean() > 0.5:
            parts[ids] = np.bincount(t_parts[k_in[ids]], minlength=len(PARTS)).argmax()
        elif np.median(d[ids]) < 0.3 * width:
            votes = np.bincount(t_parts[k[ids]], minlength=len(PARTS))
            if votes.max() > 0.5 * len(ids):
                pool = k_in if votes.argmax() in (MOUTH, TEETH) else k
                parts[ids] = np.bincount(t_parts[pool[ids]], minlength=len(PARTS)).argmax()
    return parts


def _width(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[CORNERS[0]] - points[CORNERS[1]]))


def _warp(src: np.ndarray, dst: np.ndarray, s: float, q: np.ndarray, t: np.ndarray):
    """x (n, 3) -> similarity(x) + a thin-plate spline that carries the landmarks src onto dst."""
    from scipy.interpolate import RBFInterpolator

    moved = s * src @ q.T + t
    keep = np.unique(np.round(moved, 6), axis=0, return_index=True)[1]  # the spline needs distinct sites
    rbf = RBFInterpolator(moved[keep], (dst - moved)[keep], kernel="thin_plate_spline",
                          smoothing=1e-9, degree=1)
    return lambda x: (s * x @ q.T + t) + rbf(s * x @ q.T + t)


def _lip_line(lm: np.ndarray):
    """The inner-lip line y(x) through the midpoints of the inner-lip landmark pairs and its x span."""
    mid = (lm[list(UPPER_INNER)] + lm[list(LOWER_INNER)]) / 2
    order = np.argsort(mid[:, 0])
    xs, ys = mid[order, 0], mid[order, 1]
    span = sorted((lm[CORNERS[0], 0], lm[CORNERS[1], 0]))
    return (lambda x: np.interp(x, xs, ys)), span, float(mid[:, 2].mean())


def _mouth_zone(verts: np.ndarray, lm: np.ndarray, width: float) -> np.ndarray:
    """(N,) bool: vertices on the front of the face around the mouth, between the corners."""
    line, (x0, x1), z = _lip_line(lm)
    return ((verts[:, 0] > x0 + 0.03 * width) & (verts[:, 0] < x1 - 0.03 * width)
            & (np.abs(verts[:, 1] - line(verts[:, 0])) < 0.6 * width) & (verts[:, 2] > z - 0.45 * width))


def _cut_lips(faces: np.ndarray, verts: np.ndarray, parts: np.ndarray, lm: np.ndarray, width: float):
    """Split skin vertices that join triangles above and below the inner-lip line (fused lips) ->
    (faces, vertices, parts, source index per vertex (N',)); copies are appended and used by the
    triangles below the line."""
    line, _, _ = _lip_line(lm)
    zone = _mouth_zone(verts, lm, width) & (parts == SKIN)
    centre = verts[faces].mean(1)
    tri = zone[faces].all(1)
    below = tri & (centre[:, 1] < line(centre[:, 0]))
    above = tri & ~below
    shared = np.zeros(len(verts), bool)
    shared[np.intersect1d(faces[below].ravel(), faces[above].ravel())] = True
    shared &= np.abs(verts[:, 1] - line(verts[:, 0])) < 0.15 * width
    src = np.arange(len(verts))
    if not shared.any():
        return faces, verts, parts, src
    ids = np.where(shared)[0]
    copy = np.full(len(verts), -1)
    copy[ids] = len(verts) + np.arange(len(ids))
    faces = faces.copy()
    sub = faces[below]
    faces[below] = np.where(shared[sub], copy[sub], sub)
    return faces, np.r_[verts, verts[ids]], np.r_[parts, parts[ids]], np.r_[src, ids]


def _sides(verts: np.ndarray, faces: np.ndarray, parts: np.ndarray, lm: np.ndarray, width: float) -> np.ndarray:
    """(N,) int8: +1 upper lip side, -1 lower, 0 outside the mouth zone. A zone vertex belongs to the
    lip it is nearer to along the surface (inner lip surfaces that curl into the mouth past the lip
    line stay with their own lip; a cut seam's copies go with the lower lip); where neither lip is
    reachable, the side of the lip line."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    line, (x0, x1), _ = _lip_line(lm)
    zone = _mouth_zone(verts, lm, width) & (parts == SKIN)
    off = verts[:, 1] - line(verts[:, 0])
    tri = faces[zone[faces].all(1)]
    a, b = tri.ravel(), np.roll(tri, 1, axis=1).ravel()
    graph = coo_matrix((np.linalg.norm(verts[a] - verts[b], axis=1) + 1e-12, (a, b)), shape=(len(verts),) * 2)
    central = zone & (np.abs(verts[:, 0] - (x0 + x1) / 2) < 0.3 * width)
    dist = [dijkstra(graph, directed=False, indices=np.where(central & seed)[0], min_only=True)
            if (central & seed).any() else np.full(len(verts), np.inf)
            for seed in (off > 0.3 * width, off < -0.3 * width)]
    side = np.where(dist[0] < dist[1], 1, np.where(dist[1] < dist[0], -1, np.where(off >= 0, 1, -1)))
    return (side * zone).astype(np.int8)


def _template_sides(t: Template, points: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """The template's sides by what jawOpen does: in the mouth zone, what it moves is lower."""
    zone = _mouth_zone(t.vertices, points, _width(points))
    jaw = np.linalg.norm(t.basis[INDEX["jawOpen"]], axis=1)
    lip_jaw = jaw[t.inner_lip[0, 1]]
    return (np.where(jaw > 0.5 * lip_jaw, -1, 1) * zone).astype(np.int8)


def _transfer(verts, parts, side, t: Template, t_verts, t_side, lin: np.ndarray, width: float):
    """Offsets (52, N, 3) and nearest template vertex (N,) per head vertex, kind by kind."""
    from scipy.spatial import cKDTree

    basis = np.zeros((52, len(verts), 3))
    nearest = np.full(len(verts), -1)
    t_parts = t.vertex_parts
    groups = [((parts == SKIN) & (side == sd), (t_parts == SKIN) & ((t_side != -sd) | (sd == 0)), True)
              for sd in (1, -1, 0)]
    groups += [(parts == TEETH, t_parts == TEETH, False), (parts == MOUTH, np.isin(t_parts, (MOUTH, TEETH)), False)]
    for mine, theirs, fade in groups:
        if not mine.any() or not theirs.any():
            continue
        ids, pool = np.where(mine)[0], np.where(theirs)[0]
        d, k = cKDTree(t_verts[pool]).query(verts[ids], k=min(4, len(pool)))
        d, k = d.reshape(len(ids), -1), pool[k.reshape(len(ids), -1)]
        w = 1 / np.maximum(d, 1e-6 * width)
        w /= w.sum(1, keepdims=True)
        if fade:  # far from the template's surface (hair, body, the back of a bust): rigid
            w *= np.clip((0.8 * width - d[:, :1]) / (0.5 * width), 0, 1)
        basis[:, ids] = np.einsum("nk,cnkd->cnd", w, t.basis[:, k]) @ lin.T
        nearest[ids] = k[:, 0]
    return basis, nearest


def _transplant(t: Template, t_verts, lin, extra, verts, faces, parts, basis, colors, nearest, faces_uv, uv):
    """Append the template's parts ``extra`` (MOUTH means mouth and teeth) to the head, each piece
    moved as a whole (the warp is for surfaces; inside the head it would bend teeth) and set back
    until it lies behind the head's skin."""
    take = np.isin(t.vertex_parts, [MOUTH, TEETH] if MOUTH in extra else []) | np.isin(t.vertex_parts, extra)
    ids = np.where(take)[0]
    placed = _placed(t, t_verts, lin, ids, verts, faces[(parts[faces] == SKIN).all(1)])
    remap = np.full(t.n_vertices, -1)
    remap[ids] = len(verts) + np.arange(len(ids))
    f = remap[t.faces[take[t.faces].all(1)]]
    new_colors = None
    if colors is not None:
        new_colors = np.array([ALBEDO.get(PARTS[p], ALBEDO["skin"]) for p in t.vertex_parts[ids]])
    if faces_uv is not None:
        faces_uv = np.r_[faces_uv, np.full((len(f), 3), len(uv))]
        uv = np.r_[uv, np.zeros((1, 2), np.float32)]
    return (np.r_[verts, placed], np.r_[faces, f], np.r_[parts, t.vertex_parts[ids]],
            np.concatenate([basis, t.basis[:, ids] @ lin.T], axis=1),
            None if colors is None else np.r_[colors, new_colors], np.r_[nearest, ids], faces_uv, uv)


def _placed(t: Template, t_verts, lin, ids, verts, skin_faces) -> np.ndarray:
    """Positions (len(ids), 3) of template vertices ``ids`` on the head: per connected piece of the
    template (an eyeball, the mouth with its teeth), the template's own shape moved by the warp of its
    centre, then set back along -Z so that no vertex is within 1 mm of the skin in front of it."""
    from voca_cn.face.appearance import eyeballs
    from voca_cn.rig.landmarks import cast

    out = np.zeros((len(ids), 3))
    pos = {v: i for i, v in enumerate(ids)}
    eye = t.vertex_parts == EYE
    pieces = [i for _, i in eyeballs(t.vertices, t.faces, eye)] + [ids[~eye[ids]]]
    for piece in pieces:
        piece = piece[np.isin(piece, ids)]  # the eyeballs when only the mouth is added, and so on
        if not len(piece):
            continue
        k = [pos[v] for v in piece]
        own = (t.vertices[piece] - t.vertices[piece].mean(0)) @ lin.T
        out[k] = own + t_verts[piece].mean(0)
        hit_pts, hit = cast(verts, skin_faces, out[k, :2])
        gap = out[k, 2] - (hit_pts[:, 2] - 0.001 * np.linalg.norm(lin[0]))
        near = hit & (gap > 0) & (gap < 0.5 * np.ptp(out[k], axis=0).max())
        if near.any():
            out[k, 2] -= gap[near].max()
    return out


def _inner_pair(verts, faces, parts, side, lm, width) -> tuple[int, int]:
    """(upper, lower) inner-lip vertices where the tracker puts its inner-lip landmarks 13 and 14: of
    the vertices of each lip that a camera in front sees, the one nearest the landmark in the picture."""
    from voca_cn.rig.landmarks import cast

    near = (parts == SKIN) & (np.linalg.norm(verts[:, :2] - lm[[13, 14], :2].mean(0), axis=1) < 0.5 * width)
    skin = faces[near[faces].all(1)]
    out = []
    for mark, sd in ((13, 1), (14, -1)):
        ids = np.where(near & (side == sd) & (np.linalg.norm(verts[:, :2] - lm[mark, :2], axis=1) < 0.2 * width))[0]
        if not len(ids):
            return -1, -1
        front = cast(verts, skin, verts[ids, :2])[0][:, 2]
        ids = ids[verts[ids, 2] >= front - 0.02 * width]  # hidden behind another surface: not what is seen
        out.append(int(ids[np.argmin(np.linalg.norm(verts[ids, :2] - lm[mark, :2], axis=1))]))
    return out[0], out[1]


def _closest(verts: np.ndarray, point: np.ndarray, allowed: np.ndarray) -> int:
    ids = np.where(allowed)[0]
    if not len(ids):
        return -1
    return int(ids[np.argmin(np.linalg.norm(verts[ids] - point, axis=1))])
