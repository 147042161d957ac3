"""ARKit-rigged glTF/GLB/VRM avatars as templates, and any head's animation as ``animation.glb``.

Reading turns every mesh instance of the file's scene into one vertex array in world space (node
transforms and, for skinned meshes, the rest pose of the skin applied), with the morph targets whose
names are ARKit shapes (``voca_cn.core.arkit.match``) gathered into the 52-shape basis of a ``Template``.
The file itself is kept, so writing an animation for an avatar re-emits every node, mesh, material
and extension of it (VRM included) with one more animation whose ``weights`` channels hold the
curves. Built-in templates are written as one mesh with one morph target per ARKit shape present.
The head rotation goes into the same animation as a ``rotation`` channel: of a ``head`` node that
carries the built-in mesh (at the neck pivot), or of the avatar's head bone (else its neck, else its
root node), composed with the bone's rest pose.
"""

from __future__ import annotations

import base64
import copy
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX, NAMES
from voca_cn.core.files import atomic_write
from voca_cn.core.untrusted import Outside
from voca_cn.face.appearance import albedo, vertex_normals
from voca_cn.face.template import PARTS, Template, head_matrices
from voca_cn.formats import compressed, vrm
from voca_cn.formats.gltf import (
    ANIMATION_NAME,
    Gltf,
    _Builder,
    accessor,
    arkit_targets,
    node_matrices,
    read,
    target_names,
    uri_bytes,
)

MAX_VERTICES = 2_000_000  # a scene's vertices: a detailed head is < 100 k; bounds the (52, V, 3) basis
_MOUTH = [i for i, n in enumerate(NAMES) if n.startswith("mouth") or n == "jawOpen"]
_WHITE_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")  # 1x1 white


def one_hot(arkit: list[int]) -> np.ndarray:
    """ARKit index (or -1) per morph target -> (targets, 52) float32 drive matrix."""
    m = np.zeros((len(arkit), 52), np.float32)
    for t, k in enumerate(arkit):
        if k >= 0:
            m[t, k] = 1.0
    return m


# =============================================================================== avatar
@dataclass
class Avatar(Template):
    """A template read from a glTF file; ``source`` keeps the file for re-export with animation."""

    source: Gltf | None = field(default=None, repr=False, compare=False)
    # mesh -> (its morph targets, 52): target weights = ARKit weights @ M.T (one-hot for ARKit targets)
    mesh_targets: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        """The render worker gets the mesh only, not the file's buffers and images (pickled per call)."""
        return {**self.__dict__, "source": None}


@dataclass
class _Part:
    """One primitive instance in world space."""

    vertices: np.ndarray       # (n, 3) float32 metres
    faces: np.ndarray          # (f, 3) int32, local indices
    deltas: dict[int, np.ndarray]  # ARKit index -> (n, 3) float32 offsets at weight 1
    colors: np.ndarray         # (n, 3) float32 linear base colour
    part: int                  # index into PARTS


def load_avatar(path: str | os.PathLike) -> Avatar:
    """Read an ARKit-rigged .glb/.gltf/.vrm into an Avatar (metres, Y up, face looking +Z).

    Raises VocaError (one line) for files that are not glTF, broken buffers, morph target count
    mismatches, non-finite data, and avatars without mouth shapes; notes missing shapes on stderr.
    """
    avatar = read_scene(path)
    if not avatar.present[_MOUTH].any():
        raise NoMouthShapes(f"{avatar.source.path} has no usable mouth shapes (none of its morph targets "
                            "is named jawOpen or mouth*); give an avatar with ARKit blendshapes (e.g. Ready "
                            "Player Me with ?morphTargets=ARKit, VRoid perfect sync) or let voca-cn rig it")
    if avatar.missing:
        print(f"voca-cn: note: {avatar.source.path.name}: {52 - len(avatar.missing)} of 52 ARKit shapes found; "
              f"missing: {', '.join(avatar.missing)}", file=sys.stderr)
    return avatar


class NoMouthShapes(VocaError):
    """An avatar whose morph targets cannot move its mouth (it can still be rigged)."""


def read_scene(path: str | os.PathLike) -> Avatar:
    """Every mesh of a .glb/.gltf/.vrm scene as an Avatar (metres, Y up, +Z forward for VRM 0.x),
    whatever shapes it has (possibly none)."""
    g = read(path)
    try:
        return _load(g)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:  # JSON of the wrong shape
        raise g.fail(f"malformed glTF JSON ({type(e).__name__}: {e})") from None


def _load(g: Gltf) -> Avatar:
    note = lambda msg: print(f"voca-cn: note: {g.path.name}: {msg}", file=sys.stderr)  # noqa: E731
    meshes = g.doc.get("meshes", [])
    mesh_targets = {}
    for i, m in enumerate(meshes):
        _check_targets(g, i, m)
        n = max((len(p.get("targets", [])) for p in m.get("primitives", [])), default=0)
        mesh_targets[i] = one_hot((arkit_targets(m, note) + [-1] * n)[:n])
    if not any(t[:, _MOUTH].any() for t in mesh_targets.values()):
        driven = vrm.target_matrices(g.doc, {i: len(t) for i, t in mesh_targets.items()})
        if driven:
            note("no ARKit mouth shapes; our curves drive its VRM expressions (aa, ih, ou, ee, oh, blink)")
            mesh_targets.update(driven)
    world = node_matrices(g.doc)
    parts, budget = [], [MAX_VERTICES]
    for n, mat in sorted(world.items()):
        if "mesh" in g.doc["nodes"][n]:
            parts += _node_parts(g, n, mat, world, mesh_targets, budget)
    if not parts:
        raise VocaError(f"{g.path} has no triangle meshes in its scene; export the avatar with its meshes")
    g.textures.clear()  # sampled into vertex colours; the decoded images are not needed again
    return _assemble(g, parts, mesh_targets)


def _check_targets(g: Gltf, i: int, mesh: dict) -> None:
    counts = {len(p.get("targets", [])) for p in mesh.get("primitives", [])}
    names = target_names(mesh)
    n = max(counts, default=0)
    if len(counts) > 1 or (names and len(names) != n) or len(mesh.get("weights", [0] * n)) != n:
        raise g.fail(f"mesh {i} ({mesh.get('name', '')!r}) has a morph target count mismatch "
                     f"(primitives {sorted(counts)}, {len(names)} target names, "
                     f"{len(mesh.get('weights', []))} default weights)")


def _node_parts(g: Gltf, n: int, world_matrix: np.ndarray, world: dict, mesh_targets: dict,
                budget: list[int]) -> list[_Part]:
    """Node ``n``'s primitives in world space; ``budget`` [vertices left] keeps the scene's total
    (instances counted) under :data:`MAX_VERTICES` before any morph target is decoded."""
    node = g.doc["nodes"][n]
    mesh = g.doc["meshes"][node["mesh"]]
    out = []
    for prim in mesh.get("primitives", []):
        if prim.get("mode", 4) not in (4, 5, 6) or "POSITION" not in prim.get("attributes", {}):
            continue  # points and lines carry no face surface
        pos = accessor(g, prim["attributes"]["POSITION"]).astype(np.float64)
        budget[0] -= len(pos)
        if budget[0] < 0:
            raise g.fail(f"its scene has more than {MAX_VERTICES} vertices (instances counted), more than a "
                         "head needs; export the avatar without the body or decimated")
        deltas = {}
        for row, t in zip(mesh_targets[node["mesh"]], prim.get("targets", [])):
            if row.any() and "POSITION" in t:
                d = accessor(g, t["POSITION"])
                if d.shape != pos.shape:
                    raise g.fail(f"mesh {node['mesh']}: a morph target has {len(d)} positions for "
                                 f"{len(pos)} vertices (morph target count mismatch)")
                for k in np.flatnonzero(row):
                    deltas[k] = deltas.get(k, 0) + float(row[k]) * d.astype(np.float64)
        matrices = _skin_matrices(g, node, prim, world, len(pos))
        if matrices is None:
            lin, v = world_matrix[:3, :3], pos @ world_matrix[:3, :3].T + world_matrix[:3, 3]
            deltas = {k: d @ lin.T for k, d in deltas.items()}
        else:
            v = np.einsum("nij,nj->ni", matrices[:, :3, :3], pos) + matrices[:, :3, 3]
            deltas = {k: np.einsum("nij,nj->ni", matrices[:, :3, :3], d) for k, d in deltas.items()}
        faces = _triangles(g, prim, len(pos))
        if not np.isfinite(v).all() or not all(np.isfinite(d).all() for d in deltas.values()):
            raise g.fail(f"mesh {node['mesh']} has non-finite positions or morph targets (NaN/inf)")
        material = g.doc.get("materials", [])[prim["material"]] if "material" in prim else {}
        out.append(_Part(v.astype(np.float32), faces, {k: d.astype(np.float32) for k, d in deltas.items()},
                         _base_colors(g, prim, material, len(pos)),
                         _part_of(node, mesh, material)))
    return out


def _skin_matrices(g: Gltf, node: dict, prim: dict, world: dict, n: int) -> np.ndarray | None:
    """Per-vertex rest-pose skinning matrices (n, 4, 4), or None for an unskinned node.

    glTF ignores a skinned mesh node's own transform: joints' world matrices times their inverse bind
    matrices place the vertices."""
    attrs = prim.get("attributes", {})
    if "skin" not in node or "JOINTS_0" not in attrs or "WEIGHTS_0" not in attrs:
        return None
    skin = g.doc["skins"][node["skin"]]
    joints = skin["joints"]
    ibm = (accessor(g, skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
           if "inverseBindMatrices" in skin else np.tile(np.eye(4), (len(joints), 1, 1)))
    jm = np.stack([world.get(j, np.eye(4)) for j in joints]) @ ibm
    j, w = accessor(g, attrs["JOINTS_0"]).astype(np.int64), accessor(g, attrs["WEIGHTS_0"]).astype(np.float64)
    if len(j) != n or len(w) != n or j.max(initial=0) >= len(joints):
        raise g.fail("a skinned primitive's JOINTS_0/WEIGHTS_0 do not match its vertices or skin")
    w = w / np.where(w.sum(1, keepdims=True) > 0, w.sum(1, keepdims=True), 1)
    return np.einsum("nk,nkij->nij", w, jm[j])


def _triangles(g: Gltf, prim: dict, n: int) -> np.ndarray:
    idx = (accessor(g, prim["indices"])[:, 0].astype(np.int64) if "indices" in prim
           else np.arange(n, dtype=np.int64))
    if len(idx) and (idx.max() >= n):
        raise g.fail(f"a primitive's indices reach {idx.max()} but it has {n} vertices (broken buffer)")
    mode = prim.get("mode", 4)
    if mode == 4:
        f = idx[: len(idx) // 3 * 3].reshape(-1, 3)
    elif mode == 5:  # strip: every other triangle flipped to keep the winding
        k = np.arange(max(len(idx) - 2, 0))
        f = np.stack([idx[k], idx[k + 1 + k % 2], idx[k + 2 - k % 2]], 1)
    else:  # fan
        k = np.arange(1, max(len(idx) - 1, 1))
        f = np.stack([np.full(len(k), idx[0]), idx[k], idx[k + 1]], 1)
    return f.astype(np.int32)


def _base_colors(g: Gltf, prim: dict, material: dict, n: int) -> np.ndarray:
    """Linear base colour per vertex (n, 3): factor x texture at the vertex's UV x COLOR_0."""
    pbr = material.get("pbrMetallicRoughness", {})
    color = np.tile(np.asarray(pbr.get("baseColorFactor", (1, 1, 1, 1)), np.float32)[:3], (n, 1))
    tex = pbr.get("baseColorTexture")
    uv_key = f"TEXCOORD_{tex.get('texCoord', 0)}" if tex else None
    if tex and uv_key in prim.get("attributes", {}):
        image = _texture_image(g, tex["index"])
        if image is not None:
            uv = accessor(g, prim["attributes"][uv_key])
            h, w = image.shape[:2]
            x = (np.mod(uv[:, 0], 1) * (w - 1)).round().astype(int)
            y = (np.mod(uv[:, 1], 1) * (h - 1)).round().astype(int)  # glTF UV origin is the top-left
            color *= image[y, x]
    if "COLOR_0" in prim.get("attributes", {}):
        color *= accessor(g, prim["attributes"]["COLOR_0"])[:, :3]
    return color


def _texture_image(g: Gltf, index: int) -> np.ndarray | None:
    """Texture ``index`` decoded to linear RGB (h, w, 3) float32, or None when it cannot be read;
    decoded once per file."""
    if index not in g.textures:
        g.textures[index] = _decode_texture(g, index)
    return g.textures[index]


def _decode_texture(g: Gltf, index: int) -> np.ndarray | None:
    import imageio.v3 as iio

    try:
        img = g.doc["images"][g.doc["textures"][index]["source"]]
        if "bufferView" in img:
            v = g.doc["bufferViews"][img["bufferView"]]
            data = g.buffers[v["buffer"]][v.get("byteOffset", 0): v.get("byteOffset", 0) + v["byteLength"]]
        else:
            data = uri_bytes(g, img["uri"], f"image {g.doc['textures'][index]['source']}'s uri")
        rgb = np.asarray(iio.imread(data), np.float32)[..., :3] / 255.0
    except Outside:  # a file outside the avatar's folder is never read, not even skipped quietly
        raise
    except Exception:  # any unreadable image (KTX2/Basis, WebP without plugin): base colour only
        print(f"voca-cn: note: {g.path.name}: texture {index} is not a readable PNG/JPEG; "
              "the preview uses the base colour", file=sys.stderr)
        return None
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)  # sRGB -> linear


def _part_of(node: dict, mesh: dict, material: dict) -> int:
    """Template part from node/mesh/material names; see-through materials are hidden in previews."""
    name = " ".join(str(x.get("name", "")) for x in (node, mesh, material)).lower()
    if material.get("alphaMode") == "BLEND" and material.get("pbrMetallicRoughness", {}).get(
            "baseColorFactor", [1, 1, 1, 1])[3] < 0.5:
        return PARTS.index("hidden")
    if re.search(r"teeth|tooth", name):
        return PARTS.index("teeth")
    if re.search(r"tongue|mouth", name):
        return PARTS.index("mouth")
    if re.search(r"eye(?!.?(lash|brow|lid|shadow))", name):
        return PARTS.index("eye")
    return PARTS.index("skin")


def _assemble(g: Gltf, parts: list[_Part], mesh_targets: dict) -> Avatar:
    """Concatenate primitive instances into one Avatar with regions found from the basis."""
    starts = np.cumsum([0] + [len(p.vertices) for p in parts])
    verts = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + s for p, s in zip(parts, starts)])
    basis = np.zeros((52, len(verts), 3), np.float32)
    for p, s in zip(parts, starts):
        for k, d in p.deltas.items():
            basis[k, s: s + len(d)] = d
    vertex_parts = np.concatenate([np.full(len(p.vertices), p.part, np.uint8) for p in parts])
    if g.doc.get("extensions", {}).get("VRM") is not None:  # VRM 0.x faces -Z; voca-cn's faces look +Z
        verts, basis = verts * [-1, 1, -1], basis * [-1, 1, -1]
    lips, jaw, inner = _regions(verts.astype(np.float32), basis, vertex_parts)
    return Avatar(
        name=g.path.stem, vertices=verts.astype(np.float32), faces=faces, basis=basis.astype(np.float32),
        vertex_parts=vertex_parts, lip_vertices=lips, jaw_vertices=jaw, inner_lip=inner,
        licence=str(g.doc.get("asset", {}).get("copyright", "")),
        provenance=f"glTF {g.path.name} ({g.doc.get('asset', {}).get('generator', 'unknown generator')})",
        vertex_colors=np.concatenate([p.colors for p in parts]).astype(np.float32),
        source=g, mesh_targets=mesh_targets)


def _regions(verts: np.ndarray, basis: np.ndarray, parts: np.ndarray):
    """Lip vertices (moved by mouth shapes), jaw vertices (moved by jawOpen or mouth shapes) and one
    inner-lip pair (upper, lower) from what the shapes move; eyelids stand in for the eyes in
    framing when the avatar has no eye meshes."""
    skin = parts == PARTS.index("skin")
    move = np.linalg.norm(basis, axis=2)  # (52, N) metres
    mouth = move[[i for i in _MOUTH if NAMES[i] != "jawOpen"]].max(0)
    jaw_move = move[INDEX["jawOpen"]]
    lips = np.where(skin & (mouth > 0.25 * mouth.max()))[0] if mouth.max() > 0 else np.array([], int)
    jaw = np.where(skin & ((jaw_move > 0.05 * jaw_move.max()) | (mouth > 0)))[0]
    if len(lips) == 0:
        lips = jaw
    if not (parts == PARTS.index("eye")).any():
        lids = move[[INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]].max(0)
        if lids.max() > 0:
            parts[(lids > 0.25 * lids.max()) & skin] = PARTS.index("eye")
    inner = _inner_lip(verts, jaw_move, lips)
    dy = basis[INDEX["jawOpen"], :, 1]
    if len(lips) >= 2 and dy[inner[0, 1]] >= dy[inner[0, 0]]:  # the pair does not part (lips drawn apart
        inner = _parting_pair(verts, dy, lips)                   # by an expression): the pair that does
    return lips.astype(np.int32), jaw.astype(np.int32), inner


def _parting_pair(verts: np.ndarray, dy: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """(1, 2) near the midline: the lip vertex jawOpen moves down most and, near it, the one it moves
    up most (or down least). dy: (N,) vertical offset of each vertex at jawOpen = 1."""
    v = verts[lips]
    central = lips[np.abs(v[:, 0] - np.median(v[:, 0])) < 0.08 * (np.ptp(v[:, 0]) or 1.0)]
    central = central if len(central) >= 2 else lips
    lower = central[np.argmin(dy[central])]
    near = central[np.linalg.norm(verts[central] - verts[lower], axis=1) < 0.25 * (np.ptp(v[:, 0]) or 1.0)]
    return np.array([[near[np.argmax(dy[near])], lower]], np.int32)


def _inner_lip(verts: np.ndarray, jaw_move: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """(1, 2) the central inner-lip pair: the highest lip vertex near the midline that jawOpen moves
    (lower lip) and the lip vertex just above it that jawOpen moves least (upper lip)."""
    if len(lips) < 2 or jaw_move.max() == 0:
        return np.zeros((1, 2), np.int32)
    v = verts[lips]
    width = np.ptp(v[:, 0]) or 1.0
    central = lips[np.abs(v[:, 0] - np.median(v[:, 0])) < 0.08 * width]
    central = central if len(central) >= 2 else lips
    moving = central[jaw_move[central] > 0.5 * jaw_move[central].max()]
    lower = moving[np.argmax(verts[moving, 1])]
    above = central[verts[central, 1] > verts[lower, 1]]
    if len(above) == 0:
        return np.array([[lower, lower]], np.int32)
    still = above[jaw_move[above] < 0.5 * jaw_move[lower]]
    pool = still if len(still) else above
    upper = pool[np.argmin(np.linalg.norm(verts[pool] - verts[lower], axis=1))]
    return np.array([[upper, lower]], np.int32)


# =============================================================================== writing
def write_animation_glb(path: str | os.PathLike, template: Template, weights: np.ndarray, fps: float,
                        head: np.ndarray | None = None) -> None:
    """Write ``animation.glb``: the template's mesh (or the whole avatar) plus one animation named
    ``voca_cn`` whose LINEAR ``weights`` channels hold the curves and whose ``rotation`` channel
    turns the head, frame i at time i / fps.

    weights: (T, 52) in ARKit order; head: (T, 3) radians (yaw, pitch, roll), None for still.
    Written to a temporary name, then renamed.
    """
    w = np.asarray(weights, np.float32)
    head = np.zeros((len(w), 3), np.float32) if head is None else np.asarray(head, np.float32)
    if isinstance(template, Avatar) and template.source is not None:
        b, targets = _avatar_document(template)
        bone, flip = _head_bone(b.doc), template.source.doc.get("extensions", {}).get("VRM") is not None
    else:
        b, targets = _template_document(template)
        bone, flip = 0, False
    times = (np.arange(len(w), dtype=np.float64) / fps).astype(np.float32)
    anim = {"name": ANIMATION_NAME, "samplers": [], "channels": []}
    t_acc = b.accessor(times[:, None], "SCALAR", bounds=True)
    for node, drive in targets:
        values = np.clip(w @ drive.T, 0.0, 1.0).astype(np.float32)  # (T, K) target weights
        anim["samplers"].append({"input": t_acc, "interpolation": "LINEAR",
                                 "output": b.accessor(values.reshape(-1, 1), "SCALAR")})
        anim["channels"].append({"sampler": len(anim["samplers"]) - 1, "target": {"node": node, "path": "weights"}})
    if bone is not None:
        quats = _bone_rotations(b.doc, bone, head_matrices(head), flip)
        anim["samplers"].append({"input": t_acc, "interpolation": "LINEAR", "output": b.accessor(quats, "VEC4")})
        anim["channels"].append({"sampler": len(anim["samplers"]) - 1, "target": {"node": bone, "path": "rotation"}})
    b.doc["animations"] = [anim, *b.doc.get("animations", [])]  # first: the take importers play
    path = Path(path)
    atomic_write(path, b.glb())


def _template_document(t: Template) -> tuple[_Builder, list[tuple[int, np.ndarray]]]:
    """One node, one mesh: positions, normals, part colours, one morph target per present shape."""
    hidden = t.vertex_parts == PARTS.index("hidden")
    faces = t.faces[~hidden[t.faces].any(axis=1)].astype(np.uint32)
    colors = albedo(t)  # the preview's colours: parts, lip tint, or the avatar's own
    present = np.where(t.present)[0].tolist()
    pivot = t.neck_pivot().astype(float).tolist()
    doc = {"asset": {"version": "2.0", "generator": "voca_cn"}, "scene": 0,
           "scenes": [{"nodes": [0]}],
           "nodes": [{"name": "head", "translation": pivot, "children": [1]},  # turns about the neck
                     {"name": t.name, "mesh": 0, "translation": [-x for x in pivot]}],
           "materials": [{"name": "skin", "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 0.6}}]}
    b = _Builder(doc)
    normals = vertex_normals(t.vertices, faces.astype(np.int64))
    normals[np.linalg.norm(normals, axis=1) < 0.5] = (0.0, 0.0, 1.0)  # vertices no drawn triangle uses
    attrs = {"POSITION": b.accessor(t.vertices.astype(np.float32), "VEC3", bounds=True, target=34962),
             "NORMAL": b.accessor(normals, "VEC3", target=34962),
             "COLOR_0": b.accessor(colors.astype(np.float32), "VEC3", target=34962)}
    targets = [{"POSITION": b.accessor(t.basis[k], "VEC3", bounds=True, target=34962)} for k in present]
    doc["meshes"] = [{"name": t.name, "weights": [0.0] * len(present),
                      "extras": {"targetNames": [NAMES[k] for k in present]},
                      "primitives": [{"attributes": attrs, "material": 0, "targets": targets,
                                      "indices": b.accessor(faces.reshape(-1, 1), "SCALAR", target=34963)}]}]
    return b, [(1, one_hot(present))]


def _avatar_document(a: Avatar) -> tuple[_Builder, list[tuple[int, np.ndarray]]]:
    """The source file's document with all buffers (and external images) merged into one GLB buffer;
    every node that instances a mesh with ARKit targets gets a channel."""
    g = a.source
    doc = copy.deepcopy(g.doc)
    doc["animations"] = [an for an in doc.get("animations", []) if an.get("name") != ANIMATION_NAME]
    if not doc["animations"]:
        del doc["animations"]
    b = _Builder(doc)
    starts = []
    for data in g.buffers:
        b.bin += b"\0" * (-len(b.bin) % 16)  # keeps every accessor's alignment
        starts.append(len(b.bin))
        b.bin += data
    for v in doc.get("bufferViews", []):
        v["byteOffset"] = v.get("byteOffset", 0) + starts[v["buffer"]]
        v["buffer"] = 0
    for img in doc.get("images", []):
        if "uri" in img:
            data = uri_bytes(g, img["uri"], "an image's uri")
            img.setdefault("mimeType", "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png")
            img["bufferView"] = b.view(data)
            del img["uri"]
    if any(compressed.BASISU in t.get("extensions", {}) and "source" not in t for t in doc.get("textures", [])):
        doc["images"].append({"bufferView": b.view(_WHITE_PNG), "mimeType": "image/png"})
    compressed.plain_textures(doc, len(doc.get("images", [])) - 1)
    for mesh in doc.get("meshes", []):  # importers (Blender) name shape keys from the mesh's extras only
        if target_names(mesh) and "targetNames" not in mesh.get("extras", {}):
            mesh.setdefault("extras", {})["targetNames"] = target_names(mesh)
    targets = [(n, a.mesh_targets[node["mesh"]]) for n, node in enumerate(doc.get("nodes", []))
               if "mesh" in node and np.any(a.mesh_targets.get(node["mesh"], 0))]
    return b, targets


def _head_bone(doc: dict) -> int | None:
    """The node to turn: the one named like a head bone (``Head``, ``J_Bip_C_Head``,
    ``mixamorig:Head``; not ``HeadTop_End``), else a neck, else the scene's first root."""
    reachable = node_matrices(doc)
    names = {i: str(doc["nodes"][i].get("name", "")).lower() for i in reachable}
    for pattern in (r"(^|[^a-z])head$", r"(^|[^a-z])neck$", r"head(?!.*(top|end|wear|set|phone))", r"neck"):
        hits = sorted(i for i, n in names.items() if re.search(pattern, n) and "mesh" not in doc["nodes"][i])
        if hits:
            return hits[0]
    scenes = doc.get("scenes", [])
    roots = scenes[doc.get("scene", 0)].get("nodes", []) if scenes else []
    return roots[0] if roots else None


def _bone_rotations(doc: dict, bone: int, rot: np.ndarray, flip: bool) -> np.ndarray:
    """(T, 4) float32 glTF quaternions (x, y, z, w) for ``bone``: its rest rotation followed by the
    head rotation ``rot`` (T, 3, 3), given in voca_cn's head frame (world axes, face toward +Z;
    ``flip``: the file faces -Z, as VRM 0.x does), carried into the bone's parent frame."""
    from scipy.spatial.transform import Rotation

    node = doc["nodes"][bone]
    if "matrix" in node:  # an animated node needs TRS
        m = np.array(node.pop("matrix"), float).reshape(4, 4).T
        scale = np.linalg.norm(m[:3, :3], axis=0)
        node.update(translation=m[:3, 3].tolist(), scale=scale.tolist(),
                    rotation=Rotation.from_matrix(m[:3, :3] / scale).as_quat().tolist())
    world = node_matrices(doc)
    parent = next((i for i, n in enumerate(doc["nodes"]) if bone in n.get("children", [])), None)
    p = np.eye(3) if parent is None else world[parent][:3, :3]
    p = p / np.linalg.norm(p, axis=0)  # rotation part only
    f = np.diag([-1.0, 1.0, -1.0]) if flip else np.eye(3)
    rest = Rotation.from_quat(node.get("rotation", (0, 0, 0, 1))).as_matrix()
    local = np.einsum("ij,tjk,kl,lm->tim", p.T @ f, rot.astype(float), f @ p, rest)
    q = Rotation.from_matrix(local).as_quat()
    q[q[:, 3] < 0] *= -1  # one hemisphere: LINEAR interpolation between neighbours stays short
    return q.astype(np.float32)
