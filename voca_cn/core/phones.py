"""One phone inventory (IPA-based, language-agnostic) and every mapping in and out of it.

In: ARPAbet (pocketsphinx, festival, flite) and IPA strings (espeak-ng's IPA phoneme events,
piper, letter-to-sound). Out: Azure's 22 viseme ids, Oculus's 15 visemes, Rhubarb's A-H/X
mouth shapes, and an ARKit pose per Azure viseme (the animator's targets).
"""

from __future__ import annotations

import unicodedata

import numpy as np

from voca_cn.core.arkit import INDEX

# ipa, azure viseme, oculus viseme, rhubarb shape, ARPAbet spellings (festival/flite lowercase too)
_TABLE = """
sil  0  sil X  SIL SP SPN NSN pau h# brth
i    6  ih  B  IY
ɪ    6  ih  B  IH
e    4  E   C  -
ɛ    4  E   C  EH
æ    1  aa  C  AE
a    2  aa  D  -
ɑ    2  aa  D  AA
ɒ    3  oh  E  -
ɔ    3  oh  E  AO
o    8  oh  F  -
ʊ    4  ou  E  UH
u    7  ou  F  UW
ʌ    1  aa  C  AH
ə    1  E   C  AX
ɚ    5  RR  E  AXR
ɝ    5  RR  E  ER
ɜ    5  E   E  -
y    7  ou  F  -
ø    8  oh  F  -
œ    4  E   C  -
ɨ    6  ih  B  IX
ɯ    6  ih  B  -
ɤ    1  E   C  -
aɪ   11 aa  D  AY
aʊ   9  aa  D  AW
ɔɪ   10 oh  E  OY
eɪ   4  E   C  EY
oʊ   8  oh  F  OW
p    21 PP  A  P
b    21 PP  A  B
m    21 PP  A  M EM
f    18 FF  G  F
v    18 FF  G  V
θ    19 TH  B  TH
ð    17 TH  B  DH
t    19 DD  B  T
d    19 DD  B  D
n    19 nn  B  N EN
s    15 SS  B  S
z    15 SS  B  Z
ʃ    16 CH  B  SH
ʒ    16 CH  B  ZH
tʃ   16 CH  B  CH
dʒ   16 CH  B  JH
k    20 kk  B  K
g    20 kk  B  G
ŋ    20 nn  B  NG
h    12 sil C  HH
l    14 nn  H  L EL
ɹ    13 RR  E  R
r    13 RR  E  -
ɾ    19 DD  B  DX
j    6  ih  B  Y
w    7  ou  F  W
ʔ    0  sil X  Q
x    20 kk  B  -
ɣ    20 kk  B  -
ʁ    20 RR  B  -
ç    12 kk  B  -
ɕ    16 CH  B  -
ʑ    16 CH  B  -
ʂ    16 CH  B  -
ʐ    16 CH  B  -
ts   15 SS  B  -
dz   15 SS  B  -
tɕ   16 CH  B  -
dʑ   16 CH  B  -
tʂ   16 CH  B  -
ɲ    19 nn  B  -
ʎ    14 nn  H  -
β    18 FF  G  -
ɸ    18 FF  G  -
ɥ    7  ou  F  -
"""

PHONES: tuple[str, ...]
AZURE: dict[str, int] = {}
OCULUS: dict[str, str] = {}
RHUBARB: dict[str, str] = {}
ARPABET: dict[str, str] = {}
_rows = [line.split() for line in _TABLE.strip().splitlines()]
PHONES = tuple(r[0] for r in _rows)
for ipa, az, oc, rh, *arpa in _rows:
    AZURE[ipa], OCULUS[ipa], RHUBARB[ipa] = int(az), oc, rh
    for a in arpa:
        if a != "-":
            ARPABET[a.upper()] = ipa
PHONE_INDEX: dict[str, int] = {p: i for i, p in enumerate(PHONES)}
TO_ARPABET: dict[str, str] = {}
for _a, _p in ARPABET.items():
    TO_ARPABET.setdefault(_p, _a)

OCULUS_VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
                                   "aa", "E", "ih", "oh", "ou")
RHUBARB_SHAPES: tuple[str, ...] = ("X", "A", "B", "C", "D", "E", "F", "G", "H")
N_AZURE = 22

# Sounds the IPA parser folds into the inventory (other languages' variants, r-colouring, ...).
_IPA_ALIASES = {
    "ɐ": "ə", "ɵ": "ə", "ɘ": "ə", "ᵻ": "ɪ", "ɛ̃": "ɛ", "ɑ̃": "ɑ", "ɔ̃": "ɔ", "œ̃": "œ",
    "ʏ": "y", "ɞ": "œ", "ɑ̈": "ɑ", "ä": "a", "ɶ": "œ", "ʉ": "u", "ɪ̈": "ɪ", "ʊ̈": "ʊ",
    "ɡ": "g", "ɫ": "l", "ʀ": "ʁ", "ɻ": "ɹ", "ʋ": "v", "ɦ": "h", "χ": "x", "ħ": "h", "ʕ": "h",
    "ɱ": "m", "ɳ": "n", "ɭ": "l", "ʈ": "t", "ɖ": "d", "c": "k", "ɟ": "g", "q": "k", "ɰ": "w",
    "ɬ": "l", "ɮ": "l", "ʝ": "j", "ð̞": "ð", "ɹ̩": "ɹ", "n̩": "n", "l̩": "l", "m̩": "m",
    "ɚ˞": "ɚ", "ɝ˞": "ɝ", "əʊ": "oʊ", "ɛə": "ɛ", "ɪə": "ɪ", "ʊə": "ʊ", "ei": "eɪ", "ai": "aɪ",
    "au": "aʊ", "ou": "oʊ", "oɪ": "ɔɪ", "ɑɪ": "aɪ", "ɑʊ": "aʊ", "ɒʊ": "oʊ",
}
_IGNORED = set("ˈˌːˑ.‿|‖ ʰʷʲ̩̯̥̬̪̺̞̝̟̠̃̈-_,'") | {"\u0361", "\u035c", "ʼ", "˞", "˥", "˦", "˧", "˨", "˩"}
_SYMBOLS = sorted(set(PHONES) | set(_IPA_ALIASES), key=len, reverse=True)


def from_arpabet(symbol: str) -> str:
    """ARPAbet phone (any case, stress digits allowed: ``AH0``) -> inventory phone."""
    s = symbol.upper().rstrip("012")
    if s in ARPABET:
        return ARPABET[s]
    if s.startswith("+") or s in ("", "<SIL>"):
        return "sil"
    raise KeyError(f"unknown ARPAbet phone {symbol!r}")


def parse_ipa(text: str) -> list[str]:
    """Split an IPA string into inventory phones (longest match first); stress, length and tone
    marks are dropped, unknown letters are skipped."""
    return [p for p, _, _ in parse_ipa_spans(text)]


def parse_ipa_spans(text: str) -> list[tuple[str, int, int]]:
    """Like :func:`parse_ipa`, with each phone's [start, end) character span in the NFC text."""
    s = unicodedata.normalize("NFC", text)
    out, i = [], 0
    while i < len(s):
        if s[i] in _IGNORED or s[i].isdigit():
            i += 1
            continue
        for sym in _SYMBOLS:
            if s.startswith(sym, i):
                out.append((_IPA_ALIASES.get(sym, sym), i, i + len(sym)))
                i += len(sym)
                break
        else:
            i += 1
    return out


def split_diphthong(phone: str) -> tuple[str, ...]:
    """Diphthongs animate as two targets (aɪ -> a, ɪ); other phones as one."""
    if len(phone) == 2 and phone not in ("tʃ", "dʒ", "ts", "dz", "tɕ", "dʑ", "tʂ"):
        return phone[0], phone[1]
    return (phone,)


# ----------------------------------------------------------------------------- ARKit poses
# One pose per Azure viseme, tuned by looking at renders of makehuman and ICT heads.
# mouthClose stays well below jawOpen (ICT's mouthClose is a corrective of jawOpen).
_POSES: dict[int, dict[str, float]] = {
    0: {},
    1: {"jawOpen": 0.30, "mouthLowerDownLeft": 0.15, "mouthLowerDownRight": 0.15,
        "mouthStretchLeft": 0.08, "mouthStretchRight": 0.08},
    2: {"jawOpen": 0.50, "mouthLowerDownLeft": 0.2, "mouthLowerDownRight": 0.2},
    3: {"jawOpen": 0.42, "mouthFunnel": 0.35, "mouthPucker": 0.10},
    4: {"jawOpen": 0.26, "mouthStretchLeft": 0.15, "mouthStretchRight": 0.15,
        "mouthSmileLeft": 0.08, "mouthSmileRight": 0.08},
    5: {"jawOpen": 0.18, "mouthFunnel": 0.30, "mouthPucker": 0.20},
    6: {"jawOpen": 0.10, "mouthSmileLeft": 0.30, "mouthSmileRight": 0.30,
        "mouthStretchLeft": 0.20, "mouthStretchRight": 0.20},
    7: {"jawOpen": 0.10, "mouthPucker": 0.70, "mouthFunnel": 0.25},
    8: {"jawOpen": 0.28, "mouthFunnel": 0.50, "mouthPucker": 0.30},
    9: {"jawOpen": 0.45, "mouthFunnel": 0.15},
    10: {"jawOpen": 0.32, "mouthFunnel": 0.35},
    11: {"jawOpen": 0.45, "mouthStretchLeft": 0.12, "mouthStretchRight": 0.12},
    12: {"jawOpen": 0.22},
    13: {"jawOpen": 0.14, "mouthFunnel": 0.30, "mouthPucker": 0.25},
    14: {"jawOpen": 0.18, "mouthStretchLeft": 0.08, "mouthStretchRight": 0.08},
    15: {"jawOpen": 0.04, "mouthStretchLeft": 0.22, "mouthStretchRight": 0.22,
         "mouthSmileLeft": 0.12, "mouthSmileRight": 0.12},
    16: {"jawOpen": 0.07, "mouthFunnel": 0.45, "mouthPucker": 0.20},
    17: {"jawOpen": 0.12, "tongueOut": 0.25},
    18: {"jawOpen": 0.06, "mouthRollLower": 0.55, "mouthUpperUpLeft": 0.15,
         "mouthUpperUpRight": 0.15},
    19: {"jawOpen": 0.11, "mouthStretchLeft": 0.08, "mouthStretchRight": 0.08},
    20: {"jawOpen": 0.16},
    21: {"mouthPressLeft": 0.35, "mouthPressRight": 0.35, "mouthRollLower": 0.12,
         "mouthRollUpper": 0.12, "mouthClose": 0.0},
}


def _pose_matrix() -> np.ndarray:
    m = np.zeros((N_AZURE, 52), np.float32)
    for vid, pose in _POSES.items():
        for name, w in pose.items():
            m[vid, INDEX[name]] = w
    return m


VISEME_POSES: np.ndarray = _pose_matrix()  # (22, 52) ARKit weights per Azure viseme


def phone_pose(phone: str) -> np.ndarray:
    """(52,) ARKit target of one inventory phone."""
    return VISEME_POSES[AZURE[phone]]
