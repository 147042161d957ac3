"""Mandarin text -> phones: Chinese characters (simplified or traditional), pinyin with tone
numbers or tone marks, and English words mixed in, as people write them.

Characters go through pypinyin, whose phrase dictionary picks the reading of polyphonic
characters from their word (银行 yínháng, 行走 xíngzǒu; 重要 zhòng, 重新 chóng). Each syllable
becomes inventory phones (:data:`voca_cn.core.phones.PHONES`) the way standard Mandarin says it:
aspiration and tone do not move the lips, so b/p, d/t, g/k share a phone. Erhua: a 儿 after a
character (一点儿, 哪儿, 小孩儿) or an r-final in pinyin (diǎnr) merges into the syllable before it
as an r-coloured vowel, losing its n/i coda, except where 儿 means "child" (女儿, 儿子, 婴儿).
Latin words without tones in a text with characters are English (espeak-ng, en-us).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from voca_cn import VocaError
from voca_cn.speech.espeak_ipa import espeak_words

# initial -> phone (aspirated and plain stops share one: the lips and tongue do the same)
_INITIALS = {"zh": "tʂ", "ch": "tʂ", "sh": "ʂ", "b": "p", "p": "p", "m": "m", "f": "f", "d": "t",
             "t": "t", "n": "n", "l": "l", "g": "k", "k": "k", "h": "x", "j": "tɕ", "q": "tɕ",
             "x": "ɕ", "r": "ʐ", "z": "ts", "c": "ts", "s": "s"}
# final (y/w spellings undone, ü written v) -> phones
_FINALS = {
    "a": "a", "o": "w o", "e": "ɤ", "ê": "ɛ", "er": "ɚ", "ai": "aɪ", "ei": "eɪ", "ao": "aʊ",
    "ou": "oʊ", "an": "a n", "en": "ə n", "ang": "ɑ ŋ", "eng": "ə ŋ", "ong": "ʊ ŋ",
    "i": "i", "ia": "j a", "ie": "j ɛ", "iao": "j aʊ", "iou": "j oʊ", "ian": "j ɛ n", "in": "i n",
    "iang": "j ɑ ŋ", "ing": "i ŋ", "iong": "j ʊ ŋ", "io": "j o",
    "u": "u", "ua": "w a", "uo": "w o", "uai": "w aɪ", "uei": "w eɪ", "uan": "w a n", "uen": "w ə n",
    "uang": "w ɑ ŋ", "ueng": "w ə ŋ",
    "v": "y", "ve": "ɥ ɛ", "van": "ɥ ɛ n", "vn": "y n",
    "m": "m", "n": "n", "ng": "ŋ", "hm": "x m", "hng": "x ŋ",
}
_Y = {"yi": "i", "yin": "in", "ying": "ing", "yu": "v", "yue": "ve", "yuan": "van", "yun": "vn",
      "you": "iou", "yong": "iong"}
_W = {"wu": "u", "wong": "ueng"}
_CONTRACTED = {"iu": "iou", "ui": "uei", "un": "uen"}
_DIGITS = "líng yī èr sān sì wǔ liù qī bā jiǔ".split()
# 儿 is a syllable of its own (not erhua) in these words: it means "child" there
_FULL_ER = set("女婴幼孤健宠胎乳患骄孩") | {"儿"}
_FULL_ER_AFTER = set("子童女孙媳科歌戏时")
_HANZI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+|[0-9]+|[A-Za-zÀ-ɏüÜêÊ0-9'’]+")


def syllable_phones(syllable: str) -> list[str]:
    """One toneless pinyin syllable (``zhuang``, ``lv``/``lü``, ``dianr``) -> inventory phones."""
    s = syllable.lower().replace("ü", "v").replace("u:", "v")
    erhua = s.endswith("r") and s not in ("er", "r")
    if erhua:
        s = s[:-1]
    if s in _Y:
        initial, final = "", _Y[s]
    elif s in _W:
        initial, final = "", _W[s]
    elif s[:1] == "y":
        initial, final = "", "i" + s[1:]
    elif s[:1] == "w":
        initial, final = "", "u" + s[1:]
    else:
        initial = next((i for i in ("zh", "ch", "sh") if s.startswith(i)), s[:1] if s[:1] in _INITIALS else "")
        if s in ("m", "n", "ng", "hm", "hng"):  # syllabic nasals and interjections
            initial = ""
        final = s[len(initial):]
        if initial in ("j", "q", "x") and final.startswith("u"):
            final = "v" + final[1:]
        final = _CONTRACTED.get(final, final)
    if final not in _FINALS:
        raise KeyError(syllable)
    phones = _FINALS[final].split()
    if final == "i" and initial in ("z", "c", "s", "zh", "ch", "sh", "r"):
        phones = ["ɨ"]  # the apical vowel of zi, shi: the tongue stays, the lips spread less
    if final == "o" and initial == "":
        phones = ["o"]
    if erhua:
        phones = _rhotacise(phones)
    return ([_INITIALS[initial]] if initial else []) + phones


def _rhotacise(phones: list[str]) -> list[str]:
    """Erhua: the final loses its n/ŋ coda or i/u offglide and ends r-coloured (diǎnr -> tjɛɚ)."""
    if phones[-1] in ("n", "ŋ"):
        phones = phones[:-1]
    if phones[-1] in ("aɪ", "eɪ"):
        phones = phones[:-1] + [phones[-1][0]]
    if phones[-1] == "ɚ":
        return phones
    return phones + ["ɚ"]


@functools.lru_cache(maxsize=None)
def _syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows (~420)."""
    from pypinyin.pinyin_dict import pinyin_dict

    out = set()
    for readings in pinyin_dict.values():
        for r in readings.split(","):
            out.add(strip_tone(r))
    return frozenset(s for s in out if s.isalpha())


def strip_tone(syllable: str) -> str:
    """``nǚ`` / ``nv3`` / ``nü3`` -> ``nv``: tone marks and numbers dropped, ü as v."""
    s = unicodedata.normalize("NFD", syllable.lower().replace("ü", "v").replace("ê", "e"))
    s = "".join(c for c in s if c == "\u0308" or not unicodedata.combining(c))
    return re.sub(r"[0-9]", "", unicodedata.normalize("NFC", s).replace("ü", "v").replace("u\u0308", "v"))


def split_pinyin(word: str) -> list[str] | None:
    """A run of pinyin (``nǐhǎo``, ``ni3hao3``, ``xi'an``, ``yidianr``) -> toneless syllables, or None
    when it is not pinyin. Longest syllable first, backtracking; apostrophes split."""
    known = _syllables()
    out: list[str] = []
    for part in re.split(r"['’0-9]+", strip_tone(word)):
        if not part:
            continue

        @functools.lru_cache(maxsize=None)
        def parse(i: int, part: str = part) -> tuple[str, ...] | None:
            if i == len(part):
                return ()
            for j in range(min(len(part), i + 7), i, -1):
                piece = part[i:j]
                if piece in known or (piece.endswith("r") and piece[:-1] in known and piece != "r"):
                    rest = parse(j)
                    if rest is not None:
                        return (piece,) + rest
            return None

        syllables = parse(0)
        if syllables is None:
            return None
        out += syllables
    return out


def has_tones(word: str) -> bool:
    """Pinyin written with tone marks (nǐ) or tone numbers (ni3)."""
    if re.fullmatch(r"(?:[a-zü:]+[1-5])+", word.lower()):
        return True
    marks = {"\u0304", "\u0301", "\u030c", "\u0300"}
    return any(c in marks for c in unicodedata.normalize("NFD", word))


def has_hanzi(text: str) -> bool:
    return bool(_HANZI.search(text))


def words(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Mandarin transcript -> [(word, phones)], one entry per syllable (pauses may fall between
    syllables) or per English word. Raises VocaError when nothing is pronounceable."""
    hanzi = has_hanzi(text)
    out: list[tuple[str, tuple[str, ...]]] = []
    for token in _TOKEN.findall(text):
        if _HANZI.match(token):
            out += _characters(token)
        elif token.isdigit():
            out += [(d, tuple(syllable_phones(strip_tone(_DIGITS[int(d)])))) for d in token]
        else:
            syllables = split_pinyin(token) if has_tones(token) or not hanzi else None
            if syllables:
                out += [(s, tuple(syllable_phones(s))) for s in syllables]
            else:
                out += espeak_words(token, "en-us")
    if not out:
        raise VocaError("the transcript has no Mandarin words (characters or pinyin); give the text "
                        "that is spoken")
    return out


def _characters(run: str) -> list[tuple[str, tuple[str, ...]]]:
    """A run of characters -> one (character, phones) per syllable, erhua merged."""
    from pypinyin import Style, lazy_pinyin

    readings = lazy_pinyin(run, style=Style.NORMAL, errors=lambda s: [""] * len(s), v_to_u=False)
    out: list[tuple[str, tuple[str, ...]]] = []
    for k, (char, reading) in enumerate(zip(run, readings)):
        if not reading:
            continue
        nxt = run[k + 1] if k + 1 < len(run) else ""
        if char == "儿" and out and run[k - 1] not in _FULL_ER and nxt not in _FULL_ER_AFTER:
            label, phones = out[-1]
            out[-1] = (label + char, tuple(_rhotacise(list(phones))))
            continue
        out.append((char, tuple(syllable_phones(strip_tone(reading)))))
    return out
