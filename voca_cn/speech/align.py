"""Forced alignment of English speech to a transcript with pocketsphinx 5 and its shipped model.

Robustness, in order: text normalisation (punctuation, case); letter-to-sound for words missing
from CMUdict (espeak-ng's IPA, mapped into the ARPAbet set of the acoustic model); faint dither
against digital silence; retries over silence paddings and wider beams; then the same retries on
the take with its noise spectrally gated out (PyPI ``noisereduce``: non-stationary, then
stationary), because the acoustic model knows clean speech and loses the words in noise. Where it
finds no path at all it raises :class:`NoPath` (:mod:`voca_cn.motion.transcript` then aligns by
Viterbi).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.phones import AZURE, TO_ARPABET, from_arpabet, parse_ipa
from voca_cn.core.timing import SR, Segment, merge_silences

# Silence padding tried in turn: the phone-level pass of pocketsphinx fails on some utterances
# with one padding and succeeds with another.
PADS = (0.3, 0.0, 0.15)
FRAME = 0.01  # pocketsphinx frames are 10 ms
WORD_PAD = 0.1  # silence around one word's audio in the per-word fallback
# Beam settings tried in turn: pocketsphinx defaults, then wider.
BEAMS = ({}, {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80},
         {"beam": 1e-120, "wbeam": 1e-100, "pbeam": 1e-120})
# The en-us acoustic model's phone set; inventory phones outside it fold to the nearest one.
_PS_PHONES = set("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S "
                 "SH T TH UH UW V W Y Z ZH".split())
_PS_FALLBACK = {"ə": "AH", "ɚ": "ER", "ɾ": "T", "e": "EY", "o": "OW", "a": "AA", "ʔ": "T",
                "x": "K", "r": "R", "ɒ": "AA", "ɜ": "ER", "ɨ": "IH", "y": "UW", "sil": None}


class NoPath(VocaError):
    """pocketsphinx found no alignment of the transcript to the audio."""


def read_transcript(path: str | os.PathLike) -> str:
    """A transcript file's words: UTF-8 text (a BOM is fine). Other encodings are refused with one
    line naming the file, rather than aligned as mojibake."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig").strip()
    except UnicodeDecodeError as e:
        raise VocaError(f"transcript {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at {e.start}); "
                        "save it as UTF-8") from None
    except OSError as e:
        raise VocaError(f"cannot read transcript {path} ({e.strerror or e}); check the path") from None


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
        # how the last utterance was aligned: "utterance" (both passes on the whole), "per-word"
        # (phone pass word by word), and how many words got spread phones (last resort)
        self.method, self.spread_words = "", 0

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
        # 10 held-out grid-s1 takes with white noise at 5 dB SNR: 9 found no path as they were, none
        # with the gated copies (phone boundaries a mean 65 ms from the clean take's, one take 530 ms)
        for stationary in (None, False, True):
            try:
                return self._align(audio if stationary is None else denoised(audio, stationary), words)
            except NoPath as e:
                error = e
        raise error

    def _align(self, audio: np.ndarray, words: list[str]) -> tuple[list[Segment], list[Segment]]:
        duration = len(audio) / SR
        last_error, word_path = None, None
        for pad, level in [(pad, level) for pad in PADS for level in range(len(BEAMS))]:
            result, seg, last_error = self._two_pass(audio, words, pad, level)
            if result is not None:
                self.method, self.spread_words = "utterance", 0
                return self._segments(result, duration, pad)
            if word_path is None and seg is not None:
                word_path = (seg, pad, level)
        if word_path is not None:
            return self._per_word(audio, *word_path)
        raise NoPath(f"forced alignment failed ({last_error or 'no path'}); check that the "
                     "transcript matches the audio and the audio is English speech")

    def _two_pass(self, audio, words, pad, level):
        """pocketsphinx's word pass, then its phone pass. Returns (phone-level result or None,
        complete word path or None, error)."""
        silence = np.zeros(int(pad * SR), np.float32)
        pcm = to_pcm(np.concatenate([silence, audio, silence]))
        dec = self._make(level)
        seg = None
        try:
            dec.set_align_text(" ".join(self._prepare(words, dec)))
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            seg = [(s.word, s.start_frame, s.end_frame + 1, dec.lookup_word(s.word)) for s in dec.seg() or []]
            if sum(not w.startswith(("<", "[")) for w, *_ in seg) != len(words):
                return None, None, "the word pass found no complete path"
            dec.set_alignment()
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            result = [(w.name, w.start, w.duration, [(p.name, p.start, p.duration) for p in w])
                      for w in dec.get_alignment()]
        except RuntimeError as e:
            return None, seg, e
        aligned = [name for name, *_ in result if not name.startswith(("<", "["))]
        if len(aligned) == len(words):  # a failed search returns a partial path
            return result, seg, None
        return None, seg, f"only {len(aligned)} of {len(words)} words aligned"

    def _per_word(self, audio, seg, pad, level):
        """Fallback when the utterance's phone pass fails but its word pass succeeded: phone
        alignment of each word's own stretch of audio; a word that fails that too gets its
        phones spread over its span in proportion to typical phone durations."""
        result = []
        self.method, self.spread_words = "per-word", 0
        for word, start, end, pron in seg:
            if word.startswith(("<", "[")) or not pron:
                result.append((word, start, end - start, []))
                continue
            s0, s1 = max(int((start * FRAME - pad) * SR), 0), int((end * FRAME - pad) * SR)
            sub, _, _ = self._two_pass(audio[s0:s1], [word], WORD_PAD, level)
            offset = start - round(WORD_PAD / FRAME)
            phones = []
            for w, *_, wp in sub or []:
                if w == word:  # clipped to the word's span from the utterance's word pass
                    for p, ps, pd in wp:
                        a, b = max(offset + ps, start), min(offset + ps + pd, end)
                        if b > a:
                            phones.append((p, a, b - a))
            if not phones:
                phones = _spread(pron.split(), start, end)
                self.spread_words += 1
            result.append((word, start, end - start, phones))
        return self._segments(result, len(audio) / SR, pad)

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


# Typical relative phone durations (vowels and diphthongs long, stops and flaps short) for the
# last-resort spread of a word's phones over its span.
_WEIGHT = {**{v: 2.0 for v in "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()},
           **{c: 0.8 for c in "B D G K P T DH".split()}}


def _spread(pron: list[str], start: int, end: int) -> list[tuple[str, int, int]]:
    """(phone, start frame, frames) for ``pron`` spread over frames [start, end)."""
    w = np.array([_WEIGHT.get(re.sub(r"\d", "", p), 1.0) for p in pron])
    edges = np.round(start + np.concatenate([[0], np.cumsum(w)]) / w.sum() * (end - start)).astype(int)
    return [(p, int(a), int(b - a)) for p, a, b in zip(pron, edges[:-1], edges[1:])]


def denoised(audio: np.ndarray, stationary: bool) -> np.ndarray:
    """(S,) float32 16 kHz -> the same length with its noise spectrally gated out (``noisereduce``;
    ``stationary``: one noise profile for the whole take, else one that follows the noise)."""
    import noisereduce

    return noisereduce.reduce_noise(y=audio, sr=SR, stationary=stationary).astype(np.float32)


def boundary_differences(a: list[Segment], b: list[Segment]) -> np.ndarray:
    """|start-time differences| (s) between the phones two timings of one utterance share.

    Phones are matched in order on their Azure viseme class (engines and CMUdict disagree on
    vowel qualities such as ə/ʌ, not on where a viseme changes); silences are left out.
    """
    from difflib import SequenceMatcher

    a = [p for p in a if p.label != "sil"]
    b = [p for p in b if p.label != "sil"]
    match = SequenceMatcher(None, [AZURE[p.label] for p in a], [AZURE[p.label] for p in b], autojunk=False)
    diffs = [abs(a[i + k].start - b[j + k].start)
             for i, j, n in match.get_matching_blocks() for k in range(n)]
    return np.array(diffs)
