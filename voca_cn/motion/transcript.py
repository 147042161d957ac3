"""Transcript -> phone timings in any language: the one entry point for ``--text``.

The transcript's words and phones come from :mod:`voca_cn.speech.g2p` (Mandarin through pypinyin,
other languages through espeak-ng). English goes to pocketsphinx's forced aligner
(:mod:`voca_cn.speech.align`), every other language to Viterbi decoding of the phone probabilities
the model hears (:mod:`voca_cn.speech.viterbi`; with the shipped default the clean and robust
stages mixed as the lips are, :meth:`AudioAnimator.hear`). English is aligned both ways, the
Viterbi path with a speech-presence term that keeps its words inside the detected speech, and
pocketsphinx's path is kept unless it fits the probabilities clearly worse than Viterbi's
(:data:`TRUST`): pocketsphinx knows clean English timing better, the robust stage hears noise,
rooms and phone lines better, and where pocketsphinx finds no path at all a matching transcript is
still never refused. Every alignment gets a confidence (pocketsphinx's timing is scored as
Viterbi's is); low confidence is said on stderr; a transcript that matches almost nothing of a take
clear enough to tell is an error, whichever aligner's path is kept (pocketsphinx forces a path
through almost any English text).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from voca_cn import VocaError
from voca_cn.core.timing import SR, Segment
from voca_cn.speech import g2p, viterbi
from voca_cn.speech.align import Aligner, NoPath

# Languages pocketsphinx aligns (its shipped en-us model); the others use the phonetic stage.
POCKETSPHINX = {"en"}
# Thresholds from benchmarks/languages.py and Kathleen's real speech: right transcripts scored
# 0.45-0.9 on Kathleen and >= 0.17 on held-out voices; other sentences and languages <= 0.17.
LOW_CONFIDENCE = 0.35  # below: say so on stderr, naming the words that fit worst
NO_MATCH = 0.08  # below: the transcript is not what was said (another language, other text)
# ... over the whole take or over its detected speech alone (viterbi.speech_presence): a take's pauses
# fit any transcript, so on a short take, half pauses, another sentence of the same grammar (GRID's)
# kept a whole-take score of 0.1-0.6 (benchmarks/mismatch.py, validation split: over the speech,
# matching transcripts >= 0.24, other utterances' median 0.04; a half-wrong transcript ~0.1, warned).
BAD_WORD, BAD_RUN = 0.1, 3  # this many words in a row scoring below BAD_WORD: a stretch that disagrees
# pocketsphinx's path is kept while it scores at least TRUST x the Viterbi path's confidence (both
# under the same probabilities); chosen on the validation split by voca_cn.training.calibrate_route
# (nearly flat from 0.05 to 0.8 there), never on the benchmark's test clips.
TRUST = 0.3
# Below this dynamic range (dB, a take's loud frames over its floor: clean takes 20-60, white noise at
# 10 dB SNR 13-18, babble at 0 dB 8-14) the confidence cannot tell a matching transcript from another
# one, so a low score is said, not refused (a matching transcript of a noisy take must still animate).
# Chosen with benchmarks/mismatch.py on the validation split: matching transcripts scored >= 0.19
# above it (lowest 0.05, in babble at 0 dB, below it), other utterances' mostly under NO_MATCH.
NOISY_RANGE_DB = 18.0


@dataclass
class TranscriptAlignment:
    """phones, words: segments covering the audio; language: the code used; method: pocketsphinx
    or viterbi; confidence: 0-1; fallback: English aligned by Viterbi, because pocketsphinx found no
    path (``pocketsphinx`` None) or its path scored only ``pocketsphinx`` (confidence) against
    Viterbi's ``confidence``; viterbi: where pocketsphinx's path is kept, what Viterbi's scored;
    speech: the better path's confidence over the take's detected speech alone (what a transcript
    is refused by, with ``fit``: :func:`refuses`)."""
    phones: list[Segment]
    words: list[Segment]
    language: str
    method: str
    confidence: float | None = None
    fallback: bool = False
    pocketsphinx: float | None = None
    viterbi: float | None = None
    speech: float | None = None

    @property
    def fit(self) -> float:
        """What the transcript is judged by (:func:`refuses`): the better of the two paths' confidence.
        pocketsphinx forces a path through almost any English text, so a kept path of its own says
        only how well its timing fits."""
        return max(self.confidence, self.viterbi or 0.0)


def align(audio: np.ndarray, text: str, language: str | None = "auto", animator=None,
          method: str | None = None, probs: np.ndarray | None = None) -> TranscriptAlignment:
    """Align 16 kHz mono (S,) float32 ``audio`` to ``text`` in ``language`` (auto: Chinese script
    or toned pinyin -> cmn, else en). ``animator``: a loaded
    :class:`voca_cn.motion.lipsync.AudioAnimator` whose probabilities are aligned to (default: the
    shipped mix); ``method``: force ``pocketsphinx`` or ``viterbi`` alone (benchmarks); ``probs``:
    what ``animator.hear(audio)`` gives, where the caller has it already."""
    from voca_cn.motion.lipsync import AudioAnimator

    code = g2p.resolve(language, text)
    if method == "pocketsphinx" and code not in POCKETSPHINX:
        raise VocaError(f"pocketsphinx has no {code!r} model here; use the viterbi aligner")
    probs = (animator or AudioAnimator.load()).hear(audio) if probs is None else probs
    entries, duration = g2p.words(text, code), len(audio) / SR
    power = viterbi.frame_power(audio)
    range_db, presence = viterbi.dynamic_range_db(power), viterbi.speech_presence(power)
    on_speech = lambda phones: viterbi.confidence(probs, phones, presence)  # noqa: E731
    if code not in POCKETSPHINX or method == "viterbi":
        result = viterbi.align(probs, entries, duration)
        speech = on_speech(result.phones)
        check(result, entries, code, range_db, speech)
        return TranscriptAlignment(result.phones, result.words, code, "viterbi", result.confidence, speech=speech)
    try:  # English: the speech presence keeps Viterbi's words inside the speech
        phones, words = Aligner().align(audio, text)
    except NoPath:
        if method == "pocketsphinx":
            raise
        result = viterbi.align(probs, entries, duration, presence)
        speech = on_speech(result.phones)
        check(result, entries, code, range_db, speech)
        return TranscriptAlignment(result.phones, result.words, code, "viterbi", result.confidence, True, speech=speech)
    score, speech, result = viterbi.confidence(probs, phones), on_speech(phones), None
    if method != "pocketsphinx":
        try:
            result = viterbi.align(probs, entries, duration, presence)
        except VocaError:  # e.g. fast speech shorter than Viterbi's minimum phone durations allow
            pass
        if result is not None:
            speech = max(speech, on_speech(result.phones))
        if result is not None and not keeps_pocketsphinx(score, result.confidence):
            check(result, entries, code, range_db, speech)
            return TranscriptAlignment(result.phones, result.words, code, "viterbi", result.confidence, True, score,
                                       speech=speech)
    kept = TranscriptAlignment(phones, words, code, "pocketsphinx", score,
                               viterbi=None if result is None else result.confidence, speech=speech)
    if result is not None:  # judged by the better fit (its timing by the rule above), its words by Viterbi's
        check(replace(result, confidence=kept.fit), entries, code, range_db, speech)
    elif method != "pocketsphinx" and refuses(score, range_db, speech):
        raise VocaError(no_match(min(score, speech), code))
    return kept


def keeps_pocketsphinx(score: float, viterbi_confidence: float, trust: float = TRUST) -> bool:
    """Whether pocketsphinx's path (its confidence ``score`` under the model's probabilities) is
    kept over the Viterbi path of the same probabilities."""
    return score >= trust * viterbi_confidence


def refuses(confidence: float, range_db: float, speech: float) -> bool:
    """Whether a transcript aligned with ``confidence`` (``speech``: over the detected speech alone)
    to a take whose loud frames stand ``range_db`` over its floor
    (:func:`voca_cn.speech.viterbi.dynamic_range_db`) is refused as not what was said: only in a
    take clear enough for the score to tell."""
    return range_db >= NOISY_RANGE_DB and min(confidence, speech) < NO_MATCH


def no_match(confidence: float, code: str) -> str:
    return (f"the transcript does not match the audio (alignment confidence {confidence:.2f}, language {code}); "
            "check the text and --language")


def note(result: dict) -> str:
    """The stderr line saying how a transcript was aligned and how confidently (``result``: the
    fields of a :class:`TranscriptAlignment`, or an ``Animation.alignment``)."""
    ps = result.get("pocketsphinx")
    how = ("pocketsphinx" if result["method"] == "pocketsphinx" else "the phonetic stage" if not result.get("fallback")
           else "the phonetic stage (pocketsphinx found no path)" if ps is None
           else f"the phonetic stage (pocketsphinx's path fit worse: {ps:.2f})")
    return f"voca-cn: alignment by {how}, confidence {result['confidence']:.2f}"


def check(result, entries, code: str, range_db: float, speech: float) -> None:
    """Raise when the transcript fits nothing of a take with this dynamic range, or nothing of its
    speech (:func:`refuses`); warn on stderr when it fits badly in places."""
    if refuses(result.confidence, range_db, speech):
        raise VocaError(no_match(min(result.confidence, speech), code))
    bad = result.word_confidence < BAD_WORD
    run = longest = 0
    for b in bad:
        run = run + 1 if b else 0
        longest = max(longest, run)
    if result.confidence < LOW_CONFIDENCE or longest >= BAD_RUN:
        worst = [entries[k][0] for k in np.argsort(result.word_confidence)[:6]]
        print(f"voca-cn: low confidence {result.confidence:.2f} aligning the {code} transcript: text and "
              f"audio disagree in places (worst words: {' '.join(worst)})", file=sys.stderr)
