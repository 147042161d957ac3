"""Transcript -> phone timings in any language: the one entry point for ``--text``.

The transcript's words and phones come from :mod:`voca_cn.speech.g2p` (Mandarin through pypinyin,
other languages through espeak-ng). English goes to pocketsphinx's forced aligner
(:mod:`voca_cn.speech.align`), every other language to Viterbi decoding of the phonetic stage's
phone probabilities (:mod:`voca_cn.speech.viterbi`). Low confidence is said on stderr; a
transcript that matches almost nothing of the audio is an error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from voca_cn import VocaError
from voca_cn.core.timing import SR, Segment
from voca_cn.motion.phonetic import PhoneticStage
from voca_cn.speech import g2p, viterbi
from voca_cn.speech.align import Aligner

# Languages pocketsphinx aligns (its shipped en-us model); the others use the phonetic stage.
POCKETSPHINX = {"en"}
# Thresholds from benchmarks/languages.py and Kathleen's real speech: right transcripts scored
# 0.45-0.9 on Kathleen and >= 0.17 on held-out voices; other sentences and languages <= 0.17.
LOW_CONFIDENCE = 0.35  # below: say so on stderr, naming the words that fit worst
NO_MATCH = 0.08  # below: the transcript is not what was said (another language, other text)
BAD_WORD, BAD_RUN = 0.1, 3  # this many words in a row scoring below BAD_WORD: a stretch that disagrees


@dataclass
class TranscriptAlignment:
    """phones, words: segments covering the audio; language: the code used; method: pocketsphinx
    or viterbi; confidence: 0-1 (viterbi) or None (pocketsphinx reports none)."""
    phones: list[Segment]
    words: list[Segment]
    language: str
    method: str
    confidence: float | None = None


def align(audio: np.ndarray, text: str, language: str | None = "auto", stage=None,
          method: str | None = None) -> TranscriptAlignment:
    """Align 16 kHz mono (S,) float32 ``audio`` to ``text`` in ``language`` (auto: Chinese script
    or toned pinyin -> cmn, else en). ``stage``: a loaded :class:`PhoneticStage` to reuse;
    ``method``: force ``pocketsphinx`` or ``viterbi`` (benchmarks)."""
    code = g2p.resolve(language, text)
    method = method or ("pocketsphinx" if code in POCKETSPHINX else "viterbi")
    if method == "pocketsphinx":
        if code not in POCKETSPHINX:
            raise VocaError(f"pocketsphinx has no {code!r} model here; use the viterbi aligner")
        phones, words = Aligner().align(audio, text)
        return TranscriptAlignment(phones, words, code, method)
    entries = g2p.words(text, code)
    probs = (stage or PhoneticStage.load())(audio)
    result = viterbi.align(probs, entries, len(audio) / SR)
    check(result, entries, code)
    return TranscriptAlignment(result.phones, result.words, code, "viterbi", result.confidence)


def check(result, entries, code: str) -> None:
    """Raise when the transcript fits nothing; warn on stderr when it fits badly in places."""
    if result.confidence < NO_MATCH:
        raise VocaError(f"the transcript does not match the audio (alignment confidence "
                        f"{result.confidence:.2f}, language {code}); check the text and --language")
    bad = result.word_confidence < BAD_WORD
    run = longest = 0
    for b in bad:
        run = run + 1 if b else 0
        longest = max(longest, run)
    if result.confidence < LOW_CONFIDENCE or longest >= BAD_RUN:
        worst = [entries[k][0] for k in np.argsort(result.word_confidence)[:6]]
        print(f"voca-cn: low confidence {result.confidence:.2f} aligning the {code} transcript: text and "
              f"audio disagree in places (worst words: {' '.join(worst)})", file=sys.stderr)
