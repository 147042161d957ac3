"""Forced alignment of English speech to a transcript with pocketsphinx 5 and its shipped model.

Robustness, in order: text normalisation (punctuation, case); letter-to-sound for words missing
from CMUdict (espeak-ng's IPA, mapped into the ARPAbet set of the acoustic model); faint dither
against digital silence; retries over silence paddings and wider beams. Where pocketsphinx finds
no path at all (noise, echo, a phone line), :func:`align_probabilities` aligns the same
pronunciations to per-frame phone probabilities (the caller's phonetic stage) by Viterbi, with
optional silence between words, so the words are timed inside the detected speech; and
:func:`confidence` scores any alignment against those probabilities (a transcript that does not
match the audio scores low).
"""

from __future__ import annotations

import re
import subprocess

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

    def pronunciations(self, text: str) -> list[tuple[str, list[str]]]:
        """(word, ARPAbet phones) for each word of ``text``: CMUdict's first pronunciation, else
        letter-to-sound."""
        dec = self._make(0)
        words = self._prepare(normalise(text), dec)
        return [(w, dec.lookup_word(w).split()) for w in words]

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


MIN_PHONE_FRAMES = 3  # 30 ms: the shortest phone the probability alignment allows
PROB_FLOOR = 1e-3  # probabilities below this count as this (one misheard frame must not veto a path)


def speech_presence(audio: np.ndarray) -> np.ndarray:
    """(S,) float32 16 kHz -> (F,) float in (0, 1), 100/s: how likely each 10 ms frame is speech,
    from its loudness between the recording's floor (10th percentile of frame power, the noise)
    and its peaks (97th percentile), a sharp step 40 % of the way up; smoothed over 50 ms."""
    from voca_cn.audio.features import log_mel

    mel = log_mel(audio).astype(np.float64)
    top = mel.max(axis=1, keepdims=True)
    e = top[:, 0] + np.log(np.exp(mel - top).sum(axis=1))
    e = np.convolve(np.pad(e, 2, mode="edge"), np.ones(5) / 5, "valid")
    lo, hi = np.percentile(e, [10, 97])
    mid, width = lo + 0.4 * (hi - lo), max(hi - lo, 1e-3) / 24
    return 1 / (1 + np.exp(-np.clip((e - mid) / width, -30, 30)))


def align_probabilities(probs: np.ndarray, words: list[tuple[str, list[str]]], duration: float,
                        presence: np.ndarray | None = None, rate: float = 100.0) -> tuple[list[Segment], list[Segment]]:
    """Viterbi alignment of pronunciations to (F, P) phone probabilities over the inventory
    (``rate`` frames/s, row t describing the audio around t / rate s).

    The path runs through every word's phones in order (each at least :data:`MIN_PHONE_FRAMES`
    frames), with optional silence before, between and after words; a phone's score per frame is
    the log of its viseme class's probability (the phones one viseme shares are confused most),
    plus, with ``presence`` ((F,) from :func:`speech_presence`), the log of the frame being
    speech (silence: of it not being), so the words are timed inside the detected speech.
    Returns (phones, words) as :meth:`Aligner.align` does, covering [0, duration]."""
    from voca_cn.audio.features import VISEME_OF_PHONE, viseme_probabilities
    from voca_cn.core.phones import PHONE_INDEX

    logv = np.log(np.maximum(viseme_probabilities(probs), PROB_FLOOR))  # (F, 22)
    labels, owner, optional = ["sil"], [-1], [True]
    for k, (_, pron) in enumerate(words):
        for a in pron:
            labels += [from_arpabet(a)] * MIN_PHONE_FRAMES
            owner += [k] * MIN_PHONE_FRAMES
            optional += [False] * MIN_PHONE_FRAMES
        labels, owner, optional = labels + ["sil"], owner + [-1], optional + [True]
    if len(probs) < sum(not o for o in optional):
        raise VocaError(f"the audio ({duration:.2f} s) is too short for the transcript's "
                        f"{len(words)} words; check that the transcript matches the audio")
    visemes = VISEME_OF_PHONE[[PHONE_INDEX[p] for p in labels]]
    scores = logv[:, visemes]
    if presence is not None:
        p = np.clip(presence[:len(scores)], PROB_FLOOR, 1 - PROB_FLOOR)
        p = np.pad(p, (0, len(scores) - len(p)), constant_values=0.5)
        scores = scores + np.where(visemes == 0, np.log(1 - p)[:, None], np.log(p)[:, None])
    first = _first_of_run(labels, owner)
    path = viterbi(scores, np.array(optional), first)
    return _path_segments(path, labels, owner, first, words, duration, rate)


def _first_of_run(labels: list[str], owner: list[int]) -> np.ndarray:
    """(N,) bool: state i begins a phone (a phone's repeated states may only be entered in order,
    and its last one may loop)."""
    first = np.ones(len(labels), bool)
    for i in range(1, len(labels)):
        first[i] = not (labels[i] == labels[i - 1] and owner[i] == owner[i - 1] and owner[i] >= 0)
    return first


def viterbi(scores: np.ndarray, optional: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Best left-to-right path through N states over F frames: (F,) state per frame.

    scores (F, N): log score of state n at frame t. A state may repeat only if it is the last of
    its run (``first`` marks the start of each run of a phone's states, so a phone lasts at
    least its run's length); an ``optional`` state (silence) may be skipped. Starts in state 0
    or 1 (if 0 is optional), ends in N - 1 or N - 2 (if N - 1 is optional)."""
    n_frames, n = scores.shape
    last_of_run = np.append(first[1:], True)
    stay_ok = last_of_run | optional
    skip_from = np.zeros(n, bool)
    skip_from[2:] = optional[1:-1]  # n can be reached from n - 2 over an optional n - 1
    neg = -np.inf
    d = np.full(n, neg)
    d[0] = scores[0, 0]
    if optional[0] and n > 1:
        d[1] = scores[0, 1]
    back = np.zeros((n_frames, n), np.int8)  # 0 stay, 1 from n - 1, 2 from n - 2
    for t in range(1, n_frames):
        stay = np.where(stay_ok, d, neg)
        step = np.concatenate([[neg], d[:-1]])
        skip = np.where(skip_from, np.concatenate([[neg, neg], d[:-2]]), neg)
        best = np.argmax(np.stack([stay, step, skip]), axis=0)
        d = np.choose(best, [stay, step, skip]) + scores[t]
        back[t] = best
    end = n - 1 if not (optional[-1] and n > 1 and d[n - 2] > d[n - 1]) else n - 2
    if not np.isfinite(d[end]):
        raise VocaError("the transcript has more phones than the audio has frames; check that it matches the audio")
    path = np.empty(n_frames, np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = end
        end -= int(back[t, end])
    return path


def _path_segments(path, labels, owner, first, words, duration, rate):
    """Per-frame states -> (phones, words) Segments, phone runs merged, times in seconds."""
    phones, spans = [], {}
    change = np.flatnonzero(np.diff(path)) + 1
    bounds = np.concatenate([[0], change, [len(path)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        i = int(path[a])
        start, end = min(a / rate, duration), min(b / rate, duration)
        if end <= start:
            continue
        if phones and not first[i]:
            phones[-1] = Segment(phones[-1].label, phones[-1].start, end)  # the same phone's next state
        else:
            phones.append(Segment(labels[i], start, end))
        if owner[i] >= 0:
            lo, hi = spans.get(owner[i], (start, end))
            spans[owner[i]] = (min(lo, start), max(hi, end))
    word_segs = [Segment(words[k][0], *spans[k]) for k in sorted(spans)]
    return merge_silences([p for p in phones if p.label != "sil"], duration), word_segs


def confidence(probs: np.ndarray, phones: list[Segment], rate: float = 100.0) -> float:
    """How well an alignment matches (F, P) phone probabilities, 0-1: over the frames inside its
    phones (silence left out), the geometric mean of the aligned phone's viseme-class probability
    divided by the most probable class's (1: the phonetic stage hears exactly the aligned
    visemes; each frame counts at least 0.001, so one misheard frame does not zero it). On clean
    grid-s1 clips a matching transcript scores 0.7-0.9, another clip's transcript 0.06-0.12."""
    from voca_cn.audio.features import VISEME_OF_PHONE, frame_labels, viseme_probabilities

    spoken = [p for p in phones if p.label != "sil"]
    lab = frame_labels([p.label for p in spoken], [p.start for p in spoken], [p.end for p in spoken], len(probs))
    inside = VISEME_OF_PHONE[lab] != 0
    if not inside.any():
        return 0.0
    v = viseme_probabilities(probs[inside])
    ratio = v[np.arange(len(v)), VISEME_OF_PHONE[lab[inside]]] / np.maximum(v.max(axis=1), 1e-9)
    return float(np.exp(np.mean(np.log(np.maximum(ratio, PROB_FLOOR)))))


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
