"""Wavefront OBJ (and PLY) meshes: read in the file's vertex order, write one OBJ per frame."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.formats.animation import template_id


def read_obj(path: str | os.PathLike):
    """Parse an OBJ by hand, in the file's vertex order -> (vertices (N, 3) float64, faces (F, 3),
    uv (M, 2) float32 or None, faces_uv (F, 3) or None).

    General loaders split vertices at UV seams and so break the index correspondence with a
    blendshape basis; this never does.
    """
    verts, uvs, polys, polys_uv = [], [], [], []
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"v "):
                verts.append(line[2:])
            elif line.startswith(b"vt "):
                uvs.append(line.split()[1:3])
            elif line.startswith(b"f "):
                toks = [t.split(b"/") for t in line.split()[1:]]
                polys.append([int(t[0]) for t in toks])
                if len(toks[0]) > 1 and toks[0][1]:
                    polys_uv.append([int(t[1]) for t in toks])
    v = np.array(b" ".join(verts).split(), dtype=np.float64).reshape(-1, 3)
    uv = np.array(uvs, dtype=np.float32) if uvs else None
    faces_uv = triangulate(polys_uv, len(uv)) if uv is not None and len(polys_uv) == len(polys) else None
    return v, triangulate(polys, len(v)), uv, faces_uv


def read_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) and triangulated faces (F, 3) of an OBJ or PLY, in the file's vertex order."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".obj":
            v, faces, _, _ = read_obj(path)
        elif suffix == ".ply":
            v, faces = _read_ply(path)
        else:
            raise VocaError(f"{path}: unsupported mesh type {suffix!r}; give an .obj, .ply, "
                            "a template .npz or a built-in name")
    except VocaError:
        raise
    except (OSError, ValueError, OverflowError, IndexError) as e:
        raise VocaError(f"cannot read mesh {path} ({str(e)[:200]}); check the file is a valid OBJ/PLY") from None
    if v.ndim != 2 or v.shape[1:] != (3,) or len(v) == 0 or not np.isfinite(v).all():
        raise VocaError(f"mesh {path} has no vertices or non-finite ones; export it again")
    return v.astype(np.float32), faces


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of a PLY via trimesh, whose parser reports a damaged file with many
    exception types: every one becomes ValueError."""
    import trimesh

    try:
        mesh = trimesh.load(path, process=False, maintain_order=True)
        v, faces = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - see docstring
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return v, faces.reshape(-1, 3) if faces.size else np.zeros((0, 3), np.int64)


def triangulate(polys: list[list[int]], n_vertices: int) -> np.ndarray:
    """Fan-triangulate polygons given with 1-based (or negative, relative) OBJ indices -> (F, 3)."""
    tris = []
    for p in polys:
        p = [i - 1 if i > 0 else n_vertices + i for i in p]
        tris.extend((p[0], p[k], p[k + 1]) for k in range(1, len(p) - 1))
    return np.array(tris, dtype=np.int32).reshape(-1, 3)


class ObjWriter:
    """Writes one OBJ per frame at disk speed: faces (and UVs) are formatted once and reused, vertex
    lines for many frames at once in numpy (:func:`vertex_lines`), the same bytes as ``"%.6f"``."""

    def __init__(self, template: Template):
        self.n, self.neutral = template.n_vertices, template.vertices
        lines = [f"# voca_cn {template_id(template)}\n"]
        if template.uv is not None:
            lines.append("".join(f"vt {u:.6f} {v:.6f}\n" for u, v in template.uv))
            f = np.concatenate([template.faces[:, :, None], template.faces_uv[:, :, None]], axis=2) + 1
            lines.append("".join("f %d/%d %d/%d %d/%d\n" % tuple(r) for r in f.reshape(-1, 6)))
        else:
            lines.append("".join("f %d %d %d\n" % tuple(r) for r in template.faces + 1))
        self.tail = "".join(lines).encode()

    def frame_bytes(self) -> int:
        """About how many bytes one frame's file takes (the neutral head's)."""
        return len(vertex_lines(self.neutral[None])[0]) + len(self.tail)

    def write(self, path: str | os.PathLike, vertices: np.ndarray) -> None:
        """One OBJ of vertices (N, 3) metres."""
        self.write_many([path], vertices[None])

    def write_many(self, paths: list, vertices: np.ndarray) -> None:
        """One OBJ per frame of vertices (T, N, 3) metres, frame t to ``paths[t]``."""
        step = max(1, 200_000 // self.n)  # frames formatted at once: ~30 MB of text and digits
        for s in range(0, len(vertices), step):
            for path, text in zip(paths[s:s + step], vertex_lines(vertices[s:s + step])):
                with open(path, "wb") as fh:
                    fh.write(text)
                    fh.write(self.tail)


def vertex_lines(vertices: np.ndarray) -> list[bytes]:
    """OBJ vertex lines ``v x y z`` of vertices (T, N, 3) -> one bytes block per frame, the same bytes
    as ``"v %.6f %.6f %.6f\n"``: the text is assembled from whole 4- and 8-byte pieces in numpy, not
    by Python per value (about 8x faster).

    Exact: a float32 times 10^6 is exact in float64 (24 + 14 significant bits), so rounding it
    half-to-even gives the digits ``%.6f`` prints; the sign follows the sign bit, as ``-0.000000``
    does. Each number is 16 bytes: its sign and whole digits right-aligned in 8 (``v `` first on x),
    ``.ddd``, ``ddd `` (``ddd\n`` on z); the zero bytes left of short numbers are then dropped.
    Values beyond 10^5 m (never a head) take the slow path."""
    v = np.asarray(vertices, np.float32)
    t, n = v.shape[:2]
    if t == 0 or not np.abs(v).max() < 1e5:
        return [("v %.6f %.6f %.6f\n" * n % tuple(f.ravel().tolist())).encode() for f in v]
    whole, frac = np.divmod(np.rint(np.abs(v).astype(np.float64) * 1e6).astype(np.int64).reshape(t * n, 3),
                            1_000_000)
    head = (ord("0") + whole % 10) << 56  # little-endian: the units digit is the 8th byte
    digits = np.ones_like(whole)
    for p in range(1, len(str(int(whole.max())))):
        more = whole >= 10 ** p
        head |= np.where(more, (ord("0") + whole // 10 ** p % 10) << (56 - 8 * p), 0)
        digits += more
    head |= np.where(np.signbit(v).reshape(t * n, 3), ord("-") << (56 - 8 * digits), 0)
    head[:, 0] |= ord("v") | ord(" ") << 8
    numbers = np.empty((t * n, 3, 4), "<u4")
    numbers[:, :, :2].view("<u8")[..., 0] = head
    numbers[:, :, 2] = _POINT_DIGITS[frac // 1000]
    numbers[:, :, 3] = _DIGITS_SPACE[frac % 1000]
    numbers[:, 2, 3] -= (ord(" ") - ord("\n")) << 24  # the line ends after z
    text = numbers.view(np.uint8).reshape(t, -1)
    keep = text != 0
    ends = np.cumsum(keep.sum(1))
    flat = text[keep].tobytes()
    return [flat[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends)]


_POINT_DIGITS = np.frombuffer(b"".join(b".%03d" % i for i in range(1000)), "<u4")  # ".000" ... ".999"
_DIGITS_SPACE = np.frombuffer(b"".join(b"%03d " % i for i in range(1000)), "<u4")  # "000 " ... "999 "


def deformed_chunks(template: Template, weights: np.ndarray, head: np.ndarray | None = None, chunk: int = 256):
    """Yield (first frame, vertices (<= chunk, N, 3) float32 metres) for weights (T, 52), the head turned
    by ``head`` (T, 3) radians when given, a chunk at a time so that memory stays bounded whatever the
    length; refuse weights that move vertices to infinity."""
    for s in range(0, len(weights), chunk):
        vertices = template.deform(weights[s:s + chunk], None if head is None else head[s:s + chunk])
        if not np.isfinite(vertices).all():  # finite but huge weights overflow float32
            raise VocaError(f"weights from frame {s} on move vertices to infinity; "
                            "keep blendshape weights near 0-1")
        yield s, vertices


def write_obj_sequence(directory: Path, template: Template, weights: np.ndarray,
                       progress: bool = True, head: np.ndarray | None = None) -> None:
    """meshes/000000.obj ... for weights (T, 52), the head turned by ``head`` (T, 3) radians when
    given; deformed in chunks so memory stays bounded."""
    from tqdm import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    writer = ObjWriter(template)
    with tqdm(total=len(weights), desc="OBJ", unit="frame", disable=not progress, file=sys.stderr) as bar:
        for s, vertices in deformed_chunks(template, weights, head):
            writer.write_many([directory / f"{i:06d}.obj" for i in range(s, s + len(vertices))], vertices)
            bar.update(len(vertices))
