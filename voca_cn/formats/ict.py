"""Import ICT-FaceKit's FaceXModel folder (MIT) as a voca-cn template.

Reads the upstream layout as shipped (``generic_neutral_mesh.obj``, 53 expression OBJs with
``_L/_R`` names, ``identity000..099.obj``), keeps the file's vertex order (``formats.obj.read_obj``, never a
loader that splits vertices at UV seams), converts cm to m, maps the
expression names to ARKit, and can bake an identity:
``V = neutral + sum_i a_i (identity_i - neutral)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES
from voca_cn.face.template import PARTS, Template, seat_teeth
from voca_cn.formats.obj import read_obj

CM = 0.01
N_IDENTITIES = 100
# Vertex index ranges of the upstream model (same order in every file).
_RANGES = [(0, 11247, "skin"), (11248, 13293, "mouth"), (13294, 14061, "skin"),
           (14062, 17038, "mouth"), (17039, 21450, "teeth"), (21451, 24590, "eye"),
           (24591, 26718, "hidden")]
FACE_END = 9408
INTERIOR = (14062, 21450)  # gums, tongue and teeth: moved together when the teeth are seated
# Multi-PIE landmarks: inner lip 61..67 and outer lip 48..59 (vertex ids from vertex_indices.json).
INNER_LIP_PAIRS = ((5533, 5517), (5711, 5966), (6216, 6470))  # (62, 66), (61, 67), (63, 65)
OUTER_LIP = (5708, 5695, 2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841)
MOUTH_CORNERS = (5708, 6213)  # landmarks 48, 54: where MediaPipe puts its 61, 291


def read_obj_vertices(path: Path, n: int | None = None) -> np.ndarray:
    """``v`` lines of an OBJ -> (N, 3) float64, in file order; ``n``: the count it must have (a
    truncated or foreign file is refused with one line)."""
    try:
        with open(path, "rb") as fh:
            rows = [line[2:].split()[:3] for line in fh if line.startswith(b"v ")]
        v = np.array(rows, dtype=np.float64)
    except OSError as e:
        raise VocaError(f"cannot read {path} ({e.strerror or e}); give the complete FaceXModel folder") from None
    except ValueError:  # ragged or non-numeric rows: a file cut off mid-line
        raise VocaError(f"{path} has broken vertex lines (truncated?); unpack the FaceXModel folder again") from None
    if v.ndim != 2 or v.shape[1] != 3 or (n is not None and len(v) != n) or not np.isfinite(v).all():
        raise VocaError(f"{path} has {len(v)} readable vertices, expected {n}: truncated or not part of "
                        "this ICT-FaceKit model; unpack the FaceXModel folder again")
    return v


def _expression_file(folder: Path, arkit: str) -> list[Path]:
    """ICT files making up one ARKit shape (``mouthSmileLeft`` -> ``mouthSmile_L.obj``; ARKit
    ``browInnerUp`` and ``cheekPuff`` are the sum of ICT's two halves)."""
    if (folder / f"{arkit}.obj").exists():  # jawLeft, mouthRight, ... keep ARKit's name
        return [folder / f"{arkit}.obj"]
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if arkit.endswith(side) and (folder / f"{arkit[:-len(side)]}{suffix}.obj").exists():
            return [folder / f"{arkit[:-len(side)]}{suffix}.obj"]
    halves = [folder / f"{arkit}_L.obj", folder / f"{arkit}_R.obj"]
    return halves if all(p.exists() for p in halves) else []


def identity_coefficients(seed: int, n: int = N_IDENTITIES) -> np.ndarray:
    """Random identity (PCA) coefficients, standard normal clipped to +-2: plausible heads."""
    return np.clip(np.random.default_rng(seed).standard_normal(n), -2.0, 2.0)


def import_ict(folder: str | os.PathLike, identity: np.ndarray | None = None, name: str = "ict") -> Template:
    """Build a Template from an upstream FaceXModel folder, optionally with identity coefficients."""
    folder = Path(folder)
    neutral_path = folder / "generic_neutral_mesh.obj"
    if not neutral_path.is_file():
        raise VocaError(f"{folder} is not an ICT-FaceKit FaceXModel folder (no generic_neutral_mesh.obj); "
                        "give the unpacked FaceXModel directory")
    v0, faces, uv, faces_uv = read_obj(neutral_path)
    n = len(v0)
    if n != _RANGES[-1][1] + 1:
        raise VocaError(f"{neutral_path} has {n} vertices, expected {_RANGES[-1][1] + 1}: not the "
                        "upstream ICT-FaceKit mesh")
    verts = v0.copy()
    if identity is not None:
        identity = np.asarray(identity, np.float64)
        if len(identity) > N_IDENTITIES:
            raise VocaError(f"at most {N_IDENTITIES} identity coefficients, got {len(identity)}")
        for i, a in enumerate(identity):
            if a != 0.0:
                verts += a * (read_obj_vertices(folder / f"identity{i:03d}.obj", n) - v0)
    basis = np.zeros((52, n, 3), np.float32)
    for k, arkit in enumerate(NAMES):
        for p in _expression_file(folder, arkit):
            basis[k] += ((read_obj_vertices(p, n) - v0) * CM).astype(np.float32)

    parts = np.zeros(n, np.uint8)
    for lo, hi, part in _RANGES:
        parts[lo:hi + 1] = PARTS.index(part)
    outer = verts[list(OUTER_LIP)]
    centre, half = outer.mean(0), (outer.max(0) - outer.min(0)) / 2 + 0.3  # +3 mm margin (cm units)
    face = np.arange(n) <= FACE_END
    ell = ((verts[:, 0] - centre[0]) / half[0]) ** 2 + ((verts[:, 1] - centre[1]) / half[1]) ** 2
    lips = np.where(face & (ell < 1) & (verts[:, 2] > centre[2] - 1.5))[0]
    jaw_motion = np.linalg.norm(basis[NAMES.index("jawOpen")], axis=1)
    jaw = np.union1d(lips, np.where(face & (jaw_motion > 0.001))[0])
    coeffs = "generic neutral" if identity is None else "identity " + ",".join(f"{a:.3f}" for a in identity)
    template = Template(
        name=name, vertices=(verts * CM).astype(np.float32), faces=faces, basis=basis,
        vertex_parts=parts, lip_vertices=lips.astype(np.int32), jaw_vertices=jaw.astype(np.int32),
        inner_lip=np.array(INNER_LIP_PAIRS, np.int32), mouth_corners=np.array(MOUTH_CORNERS, np.int32),
        licence="MIT (ICT-FaceKit, USC Institute for Creative Technologies)",
        provenance=f"ICT-FaceKit FaceXModel imported from {folder.resolve()}; cm -> m; {coeffs}",
        uv=uv, faces_uv=faces_uv,
    )
    # ICT's mouthRoll shapes pull the lips ~4 mm through the incisors: seat the teeth behind them.
    return seat_teeth(template, np.arange(INTERIOR[0], INTERIOR[1] + 1))
