"""Forced alignment of English speech to a transcript with pocketsphinx 5 and its shipped model.

Robustness, in order: text normalisation (punctuation, case); letter-to-sound for words missing
from CMUdict (espeak-ng's IPA, mapped into the ARPAbet set of the acoustic model); faint dither
against digital silence; retries over silence paddings and wider beams.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import numpy as np

from voca_cn import VocaError
from voca_cn.audio import SR
from voca_cn.phones import TO_ARPABET, from_arpabet, parse_ipa

# Silence padding tried in turn: the phone-level pass of pocketsphinx fails on some utterances
# with one padding and succeeds with another.
PADS = (0.3, 0.0, 0.15)
FRAME = 0.01  # pocketsphinx frames are 10 ms
# Beam settings tried in turn: pocketsphinx defaults, then wider.
BEAMS = ({}, {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80},
         {"beam": 1e-120, "wbeam": 1e-100, "pbeam": 1e-120})
# The en-us acoustic model's phone set; inventory phones outside it fold to the nearest one.
_PS_PHONES = set("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S "
                 "SH T TH UH UW V W Y Z ZH".split())
_PS_FALLBACK = {"ə": "AH", "ɚ": "ER", "ɾ": "T", "e": "EY", "o": "OW", "a": "AA", "ʔ": "T",
                "x": "K", "r": "R", "ɒ": "AA", "ɜ": "ER", "ɨ": "IH", "y": "UW", "sil": None}


@dataclass(frozen=True)
class Segment:
    """One aligned unit: an inventory phone (or a word) from ``start`` to ``end`` seconds."""
    label: str
    start: float
    end: float


def normalise(text: str) -> list[str]:
    """Lower-case words for the aligner: punctuation dropped, apostrophes and digits kept."""
    text = text.lower().replace("&", " and ").replace("%", " percent ")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text)


def letter_to_sound(word: str) -> list[str]:
    """ARPAbet pronunciation of a word CMUdict lacks, from espeak-ng's IPA (en-us)."""
    try:
        ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", "en-us", word], capture_output=True,
                             text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise VocaError(f"espeak-ng is needed for out-of-dictionary words ({e}); install it "
                        "(see README setup)") from None
    out = []
    for p in parse_ipa(ipa):
        a = TO_ARPABET.get(p)
        if a not in _PS_PHONES:
            a = _PS_FALLBACK.get(p)
        if a:
            out.append(a)
    return out


def to_pcm(audio: np.ndarray) -> bytes:
    """16-bit PCM for pocketsphinx, with faint fixed dither: digital silence (TTS output, padding)
    has -inf log energy and derails the model's cepstral normalisation."""
    dither = np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32) * 3e-4
    return (np.clip(audio + dither, -1, 1) * 32767).astype(np.int16).tobytes()


class Aligner:
    """Forced aligner. A fresh pocketsphinx decoder serves each attempt (loading takes ~0.1 s):
    a decoder left in alignment mode fails on the next utterance."""

    def __init__(self):
        from pocketsphinx import Decoder

        self._make = lambda level: Decoder(lm=None, loglevel="FATAL", **BEAMS[level])

    def _prepare(self, words: list[str], dec) -> list[str]:
        for w in words:
            if dec.lookup_word(w) is None:
                pron = letter_to_sound(w)
                if not pron:
                    raise VocaError(f"cannot pronounce {w!r}; spell it out in the transcript")
                dec.add_word(w, " ".join(pron), True)
        return words

    def align(self, audio: np.ndarray, text: str) -> tuple[list[Segment], list[Segment]]:
        """Align 16 kHz mono audio (S,) float32 to ``text``.

        Returns (phones, words): phone segments over the inventory (silences as ``sil``) and word
        segments, times in seconds from the start of ``audio``, covering it end to end.
        """
        words = normalise(text)
        if not words:
            raise VocaError("the transcript has no words; give the text that is spoken")
        last_error = None
        for pad, level in [(pad, level) for pad in PADS for level in range(len(BEAMS))]:
            silence = np.zeros(int(pad * SR), np.float32)
            pcm = to_pcm(np.concatenate([silence, audio, silence]))
            dec = self._make(level)
            try:
                dec.set_align_text(" ".join(self._prepare(words, dec)))
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
                dec.set_alignment()
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
                result = [(w.name, w.start, w.duration, [(p.name, p.start, p.duration) for p in w])
                          for w in dec.get_alignment()]
            except RuntimeError as e:
                last_error = e
                continue
            aligned = [name for name, *_ in result if not name.startswith(("<", "["))]
            if len(aligned) == len(words):  # a failed search returns a partial path
                return self._segments(result, len(audio) / SR, pad)
            last_error = f"only {len(aligned)} of {len(words)} words aligned"
        raise VocaError(f"forced alignment failed ({last_error or 'no path'}); check that the "
                        "transcript matches the audio and the audio is English speech")

    @staticmethod
    def _segments(result, duration: float, pad: float) -> tuple[list[Segment], list[Segment]]:
        phones, words = [], []

        def clip(t):
            return float(min(max(t * FRAME - pad, 0.0), duration))

        for name, start, dur, wphones in result:
            name = "sil" if name.startswith(("<", "[")) else re.sub(r"\(\d+\)$", "", name)
            words.append(Segment(name, clip(start), clip(start + dur)))
            for pname, pstart, pdur in wphones:
                s, e = clip(pstart), clip(pstart + pdur)
                if e > s:
                    phones.append(Segment(from_arpabet(pname), s, e))
        return merge_silences(phones, duration), [w for w in words if w.end > w.start]


def merge_silences(phones: list[Segment], duration: float) -> list[Segment]:
    """Fill gaps with silence, merge adjacent silences, cover [0, duration]."""
    out: list[Segment] = []
    t = 0.0
    for p in phones:
        if p.start > t + 1e-6:
            out.append(Segment("sil", t, p.start))
        out.append(p)
        t = p.end
    if t < duration - 1e-6:
        out.append(Segment("sil", t, duration))
    merged: list[Segment] = []
    for p in out:
        if merged and p.label == "sil" and merged[-1].label == "sil":
            merged[-1] = Segment("sil", merged[-1].start, p.end)
        else:
            merged.append(p)
    return merged
