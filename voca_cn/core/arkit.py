"""The 52 ARKit blendshape names (Apple's camelCase), in Apple's documented order.

Every weight array in voca_cn is (T, 52) in this order; exporters that need other
spellings (Live Link PascalCase, ICT's ``_L/_R``) convert at the edge.
"""

import re

NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)
assert len(NAMES) == 52
INDEX: dict[str, int] = {n: i for i, n in enumerate(NAMES)}

# Live Link Face's CSV column order (Epic's app): Apple's order except that the right/left pairs of
# jaw and mouth sideways shapes come right first.
LIVE_LINK: tuple[str, ...] = tuple(
    n[0].upper() + n[1:] for n in NAMES[:15] + ("jawRight", "jawLeft") + NAMES[17:21]
    + ("mouthRight", "mouthLeft") + NAMES[23:])
assert sorted(LIVE_LINK) == sorted(n[0].upper() + n[1:] for n in NAMES)

GAZE_FULL = 0.5236  # radians (30 degrees): the eye rotation an eyeLook weight of 1 stands for


def gaze_angles(weights):
    """(T, 52) weights -> (T, 2) float32 gaze (yaw, pitch) radians, both eyes averaged: yaw > 0
    looks to the character's left (eyeLookOutLeft, eyeLookInRight), pitch > 0 down."""
    import numpy as np

    w = np.asarray(weights, np.float64)
    i = INDEX
    yaw = (w[:, i["eyeLookOutLeft"]] + w[:, i["eyeLookInRight"]] - w[:, i["eyeLookInLeft"]] - w[:, i["eyeLookOutRight"]])
    pitch = (w[:, i["eyeLookDownLeft"]] + w[:, i["eyeLookDownRight"]] - w[:, i["eyeLookUpLeft"]]
             - w[:, i["eyeLookUpRight"]])
    return (np.stack([yaw, pitch], 1) / 2 * GAZE_FULL).astype(np.float32)


_KEYS: dict[str, int] = {n.lower(): i for i, n in enumerate(NAMES)}
# Prefixes and suffixes exporters wrap shape names in (lower case, separators removed).
_AFFIXES = ("arkit", "blendshape", "shape", "morph", "bs", "facial", "face", "target")


def match(name: str) -> tuple[int, int] | None:
    """ARKit index of a morph target / shape key name and how sure the match is, or None.

    Returns (index, rank): rank 0 = the ARKit name up to case (``jawOpen``, ``JawOpen``), 1 = after
    removing separators, prefixes and suffixes (``blendShape1.jawOpen``, ``A25_Jaw_Open``,
    ``eyeBlink_L``, ``ARKit_jawOpen_morph``), 2 = one half of a symmetric shape split by side
    (``browInnerUp_L`` drives ``browInnerUp``).
    """
    s = re.sub(r"\.\d{3}$", "", name.strip())               # Blender's duplicate suffix jawOpen.001
    if s.lower() in _KEYS:
        return _KEYS[s.lower()], 0
    s = re.sub(r"[._ -]([LRlr])$", r"\1", s)                # eyeBlink.L -> eyeBlinkL before the split
    s = re.split(r"[.:|/]", s)[-1]                          # blendShape1.jawOpen, Head:jawOpen
    s = re.sub(r"^[A-Za-z]\d+_", "", s)                     # Character Creator's A25_Jaw_Open
    key = re.sub(r"[^0-9a-z]", "", s.lower())
    for k in _strip_affixes(key):
        if k in _KEYS:
            return _KEYS[k], 1
        side = {"l": "left", "r": "right"}.get(k[-1:])
        if side and k[:-1] + side in _KEYS:
            return _KEYS[k[:-1] + side], 1
        for half in ("left", "right", "l", "r"):
            if k.endswith(half) and k[: -len(half)] in _KEYS:
                return _KEYS[k[: -len(half)]], 2
    return None


def _strip_affixes(key: str) -> list[str]:
    """The key, then the key with each known prefix/suffix (and trailing digits) removed."""
    out = [key]
    for a in _AFFIXES:
        for k in list(out):
            k2 = re.sub(r"^" + a + r"\d*", "", k)
            k3 = re.sub(a + r"\d*$", "", k2)
            out += [x for x in (k2, k3) if x and x not in out]
    return out
