"""VRM avatars without "perfect sync": their standard expressions driven from our ARKit curves.

Every VRM has the preset expressions (VRM 0.x blend shape groups A, I, U, E, O, Blink...; VRM 1.0
``aa``, ``ih``, ``ou``, ``ee``, ``oh``, ``blink``...), each binding morph targets at a weight. An
expression's weight is a fixed linear mix of ARKit weights (``DRIVE``), so a morph target's weight is
too: ``target_matrices`` gives, per mesh, a (targets, 52) matrix M with target weights = w @ M.T. The
avatar reader folds M into the template basis (the preview), the glTF writer into the channels, and
``voca-cn stream --vmc-names vrm`` sends the expressions by name.
"""

from __future__ import annotations

import numpy as np

from voca_cn.core.arkit import INDEX

# expression (VRM 1.0 preset name) -> {ARKit shape: weight}: how our curves drive it
DRIVE: dict[str, dict[str, float]] = {
    "aa": {"jawOpen": 1.0},
    "ih": {"mouthStretchLeft": 0.5, "mouthStretchRight": 0.5},
    "ee": {"mouthSmileLeft": 0.5, "mouthSmileRight": 0.5},
    "ou": {"mouthPucker": 1.0},
    "oh": {"mouthFunnel": 1.0},
    "blink": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5},
    "blinkLeft": {"eyeBlinkLeft": 1.0},
    "blinkRight": {"eyeBlinkRight": 1.0},
}
# VRM 0.x preset names -> VRM 1.0 names
V0_NAMES = {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh", "blink": "blink",
            "blink_l": "blinkLeft", "blink_r": "blinkRight"}
# the VMC names VRM 0.x receivers (VSeeFace, VNyan) show for each expression
VMC_NAMES = {"aa": "A", "ih": "I", "ou": "U", "ee": "E", "oh": "O", "blink": "Blink",
             "blinkLeft": "Blink_L", "blinkRight": "Blink_R"}


def drive_matrix() -> tuple[list[str], np.ndarray]:
    """(expression names (E,), (E, 52) float32): expression weights = w @ matrix.T."""
    names = list(DRIVE)
    m = np.zeros((len(names), 52), np.float32)
    for e, name in enumerate(names):
        for shape, weight in DRIVE[name].items():
            m[e, INDEX[shape]] = weight
    return names, m


def expression_weights(weights: np.ndarray) -> tuple[list[str], np.ndarray]:
    """ARKit weights (T, 52) -> (expression names, (T, E) weights in [0, 1])."""
    names, m = drive_matrix()
    return names, np.clip(np.asarray(weights, np.float32) @ m.T, 0.0, 1.0)


def _binds(doc: dict) -> dict[str, list[tuple[int, int, float]]]:
    """expression -> [(mesh, morph target, weight 0..1)] for the presets ``DRIVE`` knows."""
    out: dict[str, list[tuple[int, int, float]]] = {}
    ext = doc.get("extensions", {})
    if "VRMC_vrm" in ext:  # VRM 1.0: binds name nodes
        nodes = doc.get("nodes", [])
        for name, e in ext["VRMC_vrm"].get("expressions", {}).get("preset", {}).items():
            if name in DRIVE:
                out[name] = [(nodes[b["node"]]["mesh"], int(b["index"]), float(b.get("weight", 1.0)))
                             for b in e.get("morphTargetBinds", []) if "mesh" in nodes[b["node"]]]
    elif "VRM" in ext:  # VRM 0.x: binds name meshes, weights 0..100
        for g in ext["VRM"].get("blendShapeMaster", {}).get("blendShapeGroups", []):
            name = V0_NAMES.get(str(g.get("presetName", "")).lower())
            if name:
                out[name] = [(int(b["mesh"]), int(b["index"]), float(b.get("weight", 100)) / 100)
                             for b in g.get("binds", [])]
    if "blinkLeft" in out or "blinkRight" in out:
        out.pop("blink", None)  # both eyes' own blinks are driven: the joint one would double them
    return out


def target_matrices(doc: dict, counts: dict[int, int]) -> dict[int, np.ndarray]:
    """Per mesh with bound targets: (targets, 52) float32, target weights = w @ M.T. ``counts``: mesh ->
    number of morph targets. Empty when the file has no VRM expressions that move anything we drive."""
    names, m = drive_matrix()
    out: dict[int, np.ndarray] = {}
    for name, binds in _binds(doc).items():
        row = m[names.index(name)]
        for mesh, index, weight in binds:
            if mesh in counts and 0 <= index < counts[mesh]:
                out.setdefault(mesh, np.zeros((counts[mesh], 52), np.float32))[index] += weight * row
    return out
