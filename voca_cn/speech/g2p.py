"""Transcript -> phones, per language: the words of a text with their inventory phones.

A language with its own text-to-phone module is one line in :data:`G2P`; every other language
espeak-ng speaks goes through its IPA (``espeak-ng -q --ipa -v LANG``), parsed into the inventory
(:func:`voca_cn.core.phones.parse_ipa`). ``language="auto"`` picks Mandarin for text with
Chinese characters or toned pinyin and English otherwise; any other language must be named.
"""

from __future__ import annotations

import functools
import re
from typing import Callable

from voca_cn import VocaError
from voca_cn.speech import mandarin
from voca_cn.speech.espeak_ipa import Word, espeak_languages, espeak_words

# language code -> text -> words; languages not listed use espeak-ng
G2P: dict[str, Callable[[str], list[Word]]] = {
    "cmn": mandarin.words,
}
# what people type -> the code used here (espeak-ng's codes otherwise)
ALIASES = {"zh": "cmn", "zh-cn": "cmn", "zh-hans": "cmn", "zh-hant": "cmn", "zh-tw": "cmn",
           "mandarin": "cmn", "chinese": "cmn", "english": "en", "en-us": "en", "german": "de",
           "french": "fr", "spanish": "es", "italian": "it", "fr-fr": "fr"}


def resolve(language: str | None, text: str) -> str:
    """``language`` (None/"auto", a code, an alias) -> a code of :data:`G2P` or of espeak-ng.

    Auto: Chinese characters, or pinyin with tones in most words, -> ``cmn``; otherwise ``en``,
    unless the text clearly reads as another language (py3langid): then a VocaError asks for
    ``--language``, so no German transcript is aligned with English rules unsaid."""
    code = (language or "auto").strip().lower().replace("_", "-")
    if code == "auto":
        if mandarin.has_hanzi(text):
            return "cmn"
        tokens = re.findall(r"\S+", text)
        toned = sum(mandarin.has_tones(re.sub(r"[^\w']", "", t)) for t in tokens)
        if tokens and toned >= 0.5 * len(tokens):
            return "cmn"
        other = _reads_as(text)
        if other:
            raise VocaError(f"the transcript reads as {other}, not English; pass --language {other} "
                            "(or --language en if it is English)")
        return "en"
    code = ALIASES.get(code, code)
    if code not in G2P and code not in espeak_languages():
        raise VocaError(f"language {language!r} is unknown; use auto, cmn or a code espeak-ng speaks "
                        "(espeak-ng --voices lists them: de, fr, es, ...)")
    return code


def words(text: str, language: str | None = "auto") -> list[Word]:
    """``text`` in ``language`` -> [(word, phones)], phones over the inventory, in order."""
    code = resolve(language, text)
    out = G2P[code](text) if code in G2P else espeak_words(text, code)
    out = [(w, p) for w, p in out if p]
    if not out:
        raise VocaError("the transcript has no words; give the text that is spoken")
    return out


NOT_ENGLISH = 0.8  # language-id probability above which an auto transcript is taken as not English


def _reads_as(text: str) -> str | None:
    """The language (an espeak-ng code) ``text`` clearly reads as when that is not English."""
    if len(re.findall(r"\w+", text)) < 3:  # a name or two: too short to tell
        return None
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    lang, p = _identifier(LanguageIdentifier, MODEL_FILE).classify(text)
    return lang if lang != "en" and p >= NOT_ENGLISH and lang in espeak_languages() else None


@functools.lru_cache(maxsize=1)
def _identifier(cls, model_file):
    return cls.from_model_file(model_file, norm_probs=True)
