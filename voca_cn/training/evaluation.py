"""``voca-cn evaluate``: quality and speed of every animation method against a reference.

Methods, each from the audio alone unless said:
- ``model``: the shipped phonetic stage + lip-sync network;
- ``aligned``: ``--text``, the model hearing the transcript's forced alignment (needs the text);
- ``recognition``: pocketsphinx phone recognition -> procedural animator (Rhubarb-like);
- ``amplitude``: jawOpen from the audio's loudness (the classic game baseline).
References: the procedural animator on the engine's own phone timings (synthetic corpus items)
or on the forced alignment of the transcript (real speech, ``--pairs``). Metric definitions:
../shared/DESIGN.md. Lip aperture = the template's central inner-lip gap.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.api import animate as animate_audio
from voca_cn.audio import load as audio_io
from voca_cn.audio.features import VISEME_OF_PHONE, segment_labels
from voca_cn.core.arkit import INDEX
from voca_cn.core.phones import VISEME_POSES
from voca_cn.core.signal import lag_frames, peak_lag, pearson
from voca_cn.core.timing import SR, Segment
from voca_cn.motion.lipsync import AudioAnimator
from voca_cn.motion.procedural import animate
from voca_cn.speech.align import Aligner, read_transcript
from voca_cn.speech.recognize import PhoneRecognizer
from voca_cn.training.corpus import (
    load_item,
    read_manifest,
    split_of_prompt,
    target_curves,
    video_clip,
    video_transcripts,
)

METHODS = ("model", "aligned", "recognition", "amplitude")
MAX_LAG = 20  # frames searched each way for the lag (333 ms)


@dataclass
class Case:
    """One utterance to evaluate: audio, transcript (or None), reference phones and curves."""
    name: str
    audio: np.ndarray
    text: str | None
    phones: list[Segment]
    weights: np.ndarray
    language: str = "en"
    real: "RealLips | None" = None


@dataclass
class RealLips:
    """What a tracked face did while saying a case: calibrated ARKit curves (T, 52) and the
    inner-lip aperture (T,) at 60 fps, and the speech window (first to last phone +-100 ms, s)."""
    weights: np.ndarray
    aperture: np.ndarray
    window: tuple[float, float]

    def speech(self, n: int) -> slice:
        """The speech window as 60 fps frames of a curve of ``n`` frames."""
        return slice(int(max(0.0, self.window[0]) * 60), min(n, int(np.ceil(self.window[1] * 60))))


@dataclass
class Tally:
    """Running sums for one method over many utterances."""
    frames: int = 0
    lve: float = 0.0
    lve_sq: float = 0.0
    vis_hit: int = 0
    vis_pred: int = 0
    vis_ref: int = 0
    bilabial_hit: int = 0
    bilabials: int = 0
    xcorr: np.ndarray = field(default_factory=lambda: np.zeros(2 * MAX_LAG + 1))
    jitter: float = 0.0
    jitter_ref: float = 0.0
    audio_s: float = 0.0
    wall_s: float = 0.0
    items: int = 0


# ----------------------------------------------------------------------------- methods
class Methods:
    """Loads what each method needs once; ``run(name, case)`` -> (T, 52) weights or None."""

    def __init__(self, methods=METHODS, model_dir=None):
        self.methods, self.model_dir = methods, model_dir
        if "recognition" in methods:
            self.recognizer = PhoneRecognizer()

    def animator(self):
        """The model (loaded once): ``aligned`` aligns to its probabilities as ``--text`` does."""
        if getattr(self, "_animator", None) is None:
            self._animator = AudioAnimator.load(self.model_dir)
        return self._animator

    def run(self, name: str, case: Case, n: int) -> np.ndarray | None:
        duration = len(case.audio) / SR
        if name == "model":
            result = animate_audio(case.audio, SR, model=self.model_dir)
            self.probs = result.probabilities  # kept for the phone accuracy
            return result.weights[:n]
        if name == "aligned":
            if case.text is None or case.language != "en":
                return None  # no English transcript: no forced alignment
            try:  # the --text path: the model hearing the transcript's alignment
                return animate_audio(case.audio, SR, text=case.text, language="en", model=self.animator()).weights[:n]
            except VocaError:
                return None
        if name == "recognition":
            return animate(self.recognizer.recognize(case.audio), duration)[:n]
        if name == "amplitude":
            return amplitude_jaw(case.audio, n)
        raise ValueError(name)


def amplitude_jaw(audio: np.ndarray, n: int, fps: int = 60) -> np.ndarray:
    """jawOpen from loudness: per frame RMS in dB mapped from [-50, -15] dBFS to [0, 0.5]."""
    hop = SR // fps
    padded = np.pad(audio, (0, max(0, n * hop - len(audio))))[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(padded ** 2, axis=1) + 1e-10)
    w = np.zeros((n, 52), np.float32)
    w[:, INDEX["jawOpen"]] = 0.5 * np.clip((db + 50) / 35, 0, 1)
    return w


# ----------------------------------------------------------------------------- metrics
class Scorer:
    """Frame metrics on one template: lip vertices (mm), dominant viseme, inner-lip gap."""

    def __init__(self, template):
        self.t = template
        lips = template.lip_vertices
        self.lip_rest = template.vertices[lips] * 1000
        self.lip_basis = template.basis[:, lips] * 1000  # (52, L, 3) mm
        b = self.lip_basis.reshape(52, -1)
        self.gram = b @ b.T
        self.poses = VISEME_POSES

    def lips(self, w: np.ndarray) -> np.ndarray:
        return self.lip_rest + np.einsum("ti,ilk->tlk", w, self.lip_basis)

    def visemes(self, w: np.ndarray) -> np.ndarray:
        """(T,) Azure id of the viseme pose nearest each frame in lip-vertex space."""
        d = w[:, None, :] - self.poses[None]
        return np.einsum("tki,ij,tkj->tk", d, self.gram, d).argmin(1)

    def gap_mm(self, w: np.ndarray) -> np.ndarray:
        return self.t.inner_lip_gap(self.t.deform(w)) * 1000

    def add(self, tally: Tally, pred: np.ndarray, ref: np.ndarray, phones: list[Segment]) -> None:
        n = min(len(pred), len(ref))
        pred, ref = pred[:n], ref[:n]
        lp, lr = self.lips(pred), self.lips(ref)
        err = np.linalg.norm(lp - lr, axis=-1).max(1)
        tally.frames += n
        tally.lve += err.sum()
        tally.lve_sq += (err ** 2).sum()
        vp, vr = self.visemes(pred), self.visemes(ref)
        tally.vis_hit += int(((vp == vr) & (vr != 0)).sum())
        tally.vis_pred += int((vp != 0).sum())
        tally.vis_ref += int((vr != 0).sum())
        gp, gr = self.gap_mm(pred), self.gap_mm(ref)
        for span in bilabial_spans(phones, n):
            tally.bilabials += 1
            tally.bilabial_hit += int(gp[span].min() < 1.0)
        tally.xcorr += lag_frames(gp, gr, MAX_LAG)
        if n > 2:
            tally.jitter += np.abs(np.diff(lp, 2, axis=0)).mean() * (n - 2)
            tally.jitter_ref += np.abs(np.diff(lr, 2, axis=0)).mean() * (n - 2)
        tally.items += 1


def bilabial_spans(phones: list[Segment], n: int, fps: int = 60) -> list[slice]:
    """The frames of every p, b and m that starts within ``n`` frames (at least one frame each)."""
    spans = []
    for p in phones:
        a = int(p.start * fps)
        if p.label in ("p", "b", "m") and a < n:
            spans.append(slice(a, max(a + 1, int(np.ceil(p.end * fps)))))
    return spans


def results(t: Tally) -> dict:
    """Tally -> the reported figures."""
    if t.items == 0:
        return {}
    return {k: (v if isinstance(v, int) else float(v)) for k, v in {
        "LVE_mm": t.lve / t.frames, "LVE_mm2": t.lve_sq / t.frames,
        "viseme_precision": t.vis_hit / max(t.vis_pred, 1), "viseme_recall": t.vis_hit / max(t.vis_ref, 1),
        "bilabial_recall": t.bilabial_hit / max(t.bilabials, 1),
        "lag_ms": peak_lag(t.xcorr) * 1000 / 60,
        "jitter": t.jitter / max(t.frames, 1), "jitter_ref": t.jitter_ref / max(t.frames, 1),
        "RTF": t.audio_s / max(t.wall_s, 1e-9), "items": t.items,
    }.items()}


# ----------------------------------------------------------------------------- real lips
CLOSED = 0.02  # aperture below which lips count as closed (tracked closures read ~0.003-0.01)
REAL_CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretchLeft",
                 "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
                 "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
                 "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthSmileLeft",
                 "mouthSmileRight")


def evaluate_real(cases, template, methods=METHODS, model_dir=None) -> dict[str, dict]:
    """Every method against tracked real lips: {method: figures}.

    Per clip, within its speech window: Pearson r of the template's aperture vs the tracked
    aperture (``aperture_r``) and of jawOpen vs the calibrated tracked jawOpen (``jawOpen_r``);
    per mouth/jaw channel r (mean over clips where both move); lag of the aperture curves (ms,
    > 0: prediction late); LVE on the template against the tracked curves; bilabial closures
    (p/b/m whose predicted aperture falls below :data:`CLOSED`), next to the tracked lips' own."""
    from tqdm import tqdm

    if not cases:
        raise VocaError("no clip could be evaluated (every one was unreadable or skipped, see above); "
                        "give videos with a visible face, sound and a UTF-8 transcript")
    runner = Methods(methods, model_dir)
    scorer = Scorer(template)
    acc = {m: {"aperture_r": [], "jawOpen_r": [], "channels": {c: [] for c in REAL_CHANNELS},
               "xcorr": np.zeros(2 * MAX_LAG + 1), "lve": [], "closed": [], "wall": 0.0, "audio": 0.0}
           for m in methods}
    real_closed = []
    for case in tqdm(cases, desc="evaluate", unit="clip", file=sys.stderr):
        real = case.real
        n = min(len(real.weights), len(real.aperture))
        sp = real.speech(n)
        bil = bilabial_spans(case.phones, n)
        real_closed += [real.aperture[span].min() < CLOSED for span in bil]
        for m in methods:
            t0 = time.perf_counter()
            pred = runner.run(m, case, n)
            if pred is None:
                continue
            acc[m]["wall"] += time.perf_counter() - t0
            acc[m]["audio"] += len(case.audio) / SR
            pred = np.concatenate([pred, np.repeat(pred[-1:], n - len(pred), 0)])[:n]
            ap = template.aperture(template.deform(pred))
            acc[m]["aperture_r"].append(pearson(ap[sp], real.aperture[sp]))
            for c in REAL_CHANNELS:
                acc[m]["channels"][c].append(pearson(pred[sp, INDEX[c]], real.weights[sp, INDEX[c]]))
            acc[m]["jawOpen_r"].append(acc[m]["channels"]["jawOpen"][-1])
            acc[m]["xcorr"] += lag_frames(ap[sp], real.aperture[sp], MAX_LAG)
            err = np.linalg.norm(scorer.lips(pred[sp]) - scorer.lips(real.weights[sp]), axis=-1).max(1)
            acc[m]["lve"].append(err.mean())
            acc[m]["closed"] += [ap[span].min() < CLOSED for span in bil]
    mean = lambda v: float(np.mean([x for x in v if x is not None])) if any(x is not None for x in v) else None  # noqa: E731
    out = {}
    for m, r in acc.items():
        if not r["lve"]:
            continue
        out[m] = {"aperture_r": mean(r["aperture_r"]), "jawOpen_r": mean(r["jawOpen_r"]),
                  "lag_ms": peak_lag(r["xcorr"]) * 1000 / 60, "LVE_mm": float(np.mean(r["lve"])),
                  "bilabial_closed": float(np.mean(r["closed"])) if r["closed"] else None,
                  "RTF": r["audio"] / max(r["wall"], 1e-9), "items": len(r["lve"]),
                  **{f"r_{c}": mean(v) for c, v in r["channels"].items()}}
    if real_closed:
        out["tracked"] = {"bilabial_closed": float(np.mean(real_closed)), "items": len(cases)}
    return out


def evaluate(cases, template, methods=METHODS, model_dir=None) -> dict[str, dict]:
    """Run every method on every case; {method: figures}."""
    from tqdm import tqdm

    if not cases:
        raise VocaError("no item could be evaluated (every one was unreadable or skipped, see above)")
    runner = Methods(methods, model_dir)
    scorer = Scorer(template)
    tallies = {m: Tally() for m in methods}
    phone_hits = viseme_hits = phone_frames = 0
    for case in tqdm(cases, desc="evaluate", unit="utt", file=sys.stderr):
        n = len(case.weights)
        for m in methods:
            t0 = time.perf_counter()
            pred = runner.run(m, case, n)
            wall = time.perf_counter() - t0
            if pred is None:
                continue
            tallies[m].audio_s += len(case.audio) / SR
            tallies[m].wall_s += wall
            scorer.add(tallies[m], pred, case.weights, case.phones)
            if m == "model":
                truth = segment_labels(case.phones, len(runner.probs))
                best = runner.probs.argmax(1)
                phone_hits += int((best == truth).sum())
                viseme_hits += int((VISEME_OF_PHONE[best] == VISEME_OF_PHONE[truth]).sum())
                phone_frames += len(truth)
    res = {m: results(t) for m, t in tallies.items()}
    if phone_frames:
        res["model"]["phone_frame_accuracy"] = phone_hits / phone_frames
        res["model"]["viseme_frame_accuracy"] = viseme_hits / phone_frames
    return res


# ----------------------------------------------------------------------------- inputs
def corpus_cases(corpus: Path, split: str, limit: int | None = None, source: str | None = None):
    """Corpus items of a split as Cases (references: :func:`voca_cn.training.corpus.target_curves`)."""
    rows = [r for r in read_manifest(corpus, split) if source is None or r["source"] == source]
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]  # spread over voices
    for r in rows:
        item = load_item(corpus, r["id"])
        text = r["text"] if r["language"] == "en" else None
        yield Case(r["id"], item["audio"], text, item["phones"], target_curves(r, item), r["language"])


def video_corpus_cases(corpus: Path, split: str, limit: int | None = None):
    """Talking-face items of a corpus split (``data build --video``) as Cases with real lips."""
    rows = [r for r in read_manifest(corpus, split) if r["source"] == "video"]
    if not rows:
        raise VocaError(f"the corpus {corpus} has no {split} video items; build it with "
                        "voca-cn data build --video DIR")
    for r in rows[:limit]:
        item = load_item(corpus, r["id"])
        yield _real_case(r["id"], item["audio"], r["text"], item["phones"], item["tracked"], item["aperture"])


def video_cases(folder: Path, split: str | None, template, limit: int | None = None):
    """Videos with transcripts under ``folder`` (``split``: only those the corpus puts there),
    tracked now; phones from forced alignment of the transcript."""

    pairs = [(v, t) for v, t in video_transcripts(Path(folder)) if split is None or split_of_prompt(v.stem) == split]
    if not pairs:
        raise VocaError(f"{folder} has no videos with transcripts (same-named .txt or align/NAME.align)"
                        + (f" in the {split} split" if split else ""))
    aligner = Aligner()
    for video, text in pairs[:limit]:
        try:
            y, phones, tracked, aperture, _ = video_clip(video, text, aligner, template)
        except VocaError as e:
            print(f"voca-cn: skipping {video.name}: {e}", file=sys.stderr)
            continue
        yield _real_case(video.stem, y, text, phones, tracked, aperture)


def _real_case(name, audio, text, phones, tracked, aperture) -> Case:
    spoken = [p for p in phones if p.label != "sil"] or phones
    window = (spoken[0].start - 0.1, spoken[-1].end + 0.1)
    n = min(len(tracked), len(aperture))
    return Case(name, audio, text, phones, animate(phones, len(audio) / SR)[:n], "en",
                RealLips(tracked[:n], aperture[:n], window))


def pair_cases(folder: Path):
    """Audio files with same-named .txt transcripts; references from forced alignment."""

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3")
                   and p.with_suffix(".txt").is_file())
    if not files:
        raise VocaError(f"{folder} has no audio files with matching .txt transcripts")
    for f in files:
        try:
            y, text = audio_io.load(f), read_transcript(f.with_suffix(".txt"))
            phones = Aligner().align(y, text)[0]
        except VocaError as e:
            print(f"voca-cn: skipping {f.name}: {e}", file=sys.stderr)
            continue
        yield Case(f.stem, y, text, phones, animate(phones, len(y) / SR))


def table(res: dict[str, dict]) -> str:
    """Methods side by side, one metric per row."""
    methods = [m for m in res if res[m]]
    keys = ["LVE_mm", "LVE_mm2", "viseme_precision", "viseme_recall", "bilabial_recall", "lag_ms",
            "jitter", "jitter_ref", "RTF", "items"]
    keys += sorted({k for m in methods for k in res[m]} - set(keys))
    lines = ["metric\t" + "\t".join(methods)]
    for k in keys:
        cells = [res[m].get(k) if res[m].get(k) is not None else "" for m in methods]
        lines.append(k + "\t" + "\t".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells))
    return "\n".join(lines)
