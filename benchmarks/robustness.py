"""Robustness benchmark: the same held-out talking-face clips with only their audio degraded.

    python benchmarks/robustness.py --data /work/corpus [--clips 30] [--model DIR] [--json out.json]
    python benchmarks/robustness.py --quick          # 4 clips, 8 conditions: a smoke run

Clips: grid-s1's test split (never trained on), with the lips MediaPipe tracked in their video:
from a built corpus (``--data``: its video items, tracked when it was built) or tracked now from
``--video`` (default ../shared/corpora/grid-s1) and cached under ``--cache``, so reruns are fast.
Conditions (../shared/DESIGN.md "Robustness"), each seeded by its name and the clip: white, pink
and brown noise, babble (six Kathleen test-split utterances at once: never the clip's speaker) and
a synthetic band at 20/10/5/0 dB SNR over the speech; four shoebox rooms (pyroomacoustics);
a landline call (300-3400 Hz, 8 kHz, mu-law); MP3 16 kbit/s, Opus 12 kbit/s, AAC 24 kbit/s (ffmpeg);
quiet (peak -30 dBFS), loud (peak -0.1 dBFS), clipped (+12 dB into full scale) and DC-offset input;
files at 8, 11.025, 22.05, 44.1 and 48 kHz. Only when named in ``--conditions`` (or with
``--conditions all``): three narrowband speech codecs nothing here was built or chosen on (Speex
8 kbit/s, G.726 16 kbit/s, Codec 2 3.2 kbit/s, all at 8 kHz; Codec 2 also delays the voice by ~20
ms, as it would a user's file). The
degraded audio enters as a user's does
(:func:`voca_cn.audio.load.prepare`: any rate, resampled to 16 kHz).

``--source kathleen`` (with ``--data``): a second real speaker instead, Kathleen's test-split
utterances (audio only, never trained on). Their lips to match are not tracked: they are the
corpus's target curves (the fitted animator on the utterance's aligned phones), so the r says how
well the degraded audio keeps the model on the speech's own articulation. Their babble is six
grid-s1 test clips at once (another real speaker) instead of Kathleen's.

Per condition and method (``model``; ``aligned`` = ``--text`` with the clip's transcript;
``recognition``; ``amplitude`` = loudness), within each clip's speech window: mean Pearson r of
the head's inner-lip aperture vs the tracked one and of jawOpen vs the tracked jawOpen, the lag
(ms, > 0 prediction late), the share of the clean r kept, and for ``aligned`` the clips it failed
on. Noise sources, rooms and codecs here are not those training uses (voca_cn.training.augment).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voca_cn import VocaError  # noqa: E402
from voca_cn.audio import degrade  # noqa: E402
from voca_cn.audio.load import prepare  # noqa: E402
from voca_cn.core.timing import SR  # noqa: E402

SNRS = (20, 10, 5, 0)
NOISES = {"white": 0.0, "pink": 1.0, "brown": 2.0}
ROOMS = {  # name: (dimensions m, RT60 s, talker-microphone distance m)
    "room-small": ((3.0, 4.0, 2.5), 0.3, 1.0),
    "room-office": ((5.0, 6.0, 3.0), 0.5, 2.0),
    "room-large": ((8.0, 10.0, 4.0), 0.7, 3.0),
    "room-hall": ((15.0, 20.0, 8.0), 1.0, 5.0),
}
CODECS = {"mp3-16k": ("mp3", 16), "opus-12k": ("opus", 12), "aac-24k": ("aac", 24)}
# not in the default set (whose 38 conditions earlier tables report): narrowband speech codecs that
# neither training's chain (MP3, GSM) nor the conditions above use, named with --conditions to check
# that a gain holds on what nothing was built or chosen on
UNSEEN = {"speex-8k": ("speex", 8), "g726-16k": ("g726", 16), "codec2-3200": ("codec2", 3.2)}
CODED = {**CODECS, **UNSEEN}  # every codec condition: (codec, kbit/s)
RATES = (8000, 11025, 22050, 44100, 48000)
QUICK = ("clean", "white-5dB", "babble-5dB", "room-office", "telephone", "mp3-16k", "quiet", "rate-8000")


def conditions() -> list[str]:
    names = ["clean"]
    names += [f"{kind}-{snr}dB" for kind in (*NOISES, "babble", "music") for snr in SNRS]
    names += [*ROOMS, "telephone", *CODECS, "quiet", "loud", "clipped", "dc-offset"]
    return names + [f"rate-{r}" for r in RATES]


class Degrader:
    """Applies a named condition to a clip: (S,) float32 16 kHz -> (samples, rate) as a user's
    file would hold them. Babble voices and room impulse responses are made once."""

    def __init__(self, voices: list[np.ndarray] | None = None):
        self._voices = voices
        self._rirs = {}

    def voices(self) -> list[np.ndarray]:
        """The babble's voices: unless given, 24 Kathleen test-split utterances (another speaker,
        held out from training's babble)."""
        if self._voices is None:
            from voca_cn.audio.load import load
            from voca_cn.training.corpus import DEFAULT_KATHLEEN, kathleen_prompt, split_of_prompt

            files = [f for f in sorted((DEFAULT_KATHLEEN / "utterances").glob("*.flac"))
                     if split_of_prompt(kathleen_prompt(f.stem)) == "test"][:24]
            if not files:
                raise VocaError(f"babble needs the Kathleen corpus at {DEFAULT_KATHLEEN}")
            self._voices = [load(f) for f in files]
        return self._voices

    def rir(self, name: str) -> np.ndarray:
        if name not in self._rirs:
            dims, rt60, dist = ROOMS[name]
            self._rirs[name] = degrade.room_impulse(dims, rt60, dist, np.random.default_rng(zlib.crc32(name.encode())))
        return self._rirs[name]

    def __call__(self, name: str, y: np.ndarray, clip: str, active: slice) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng([zlib.crc32(name.encode()), zlib.crc32(clip.encode())])
        kind, _, rest = name.partition("-")
        if name == "clean":
            return y, SR
        if kind in (*NOISES, "babble", "music") and rest.endswith("dB"):
            n = len(y)
            noise = (degrade.colored_noise(n, NOISES[kind], rng) if kind in NOISES
                     else degrade.babble(n, self.voices(), 6, rng) if kind == "babble" else degrade.music(n, rng))
            return np.clip(degrade.add_noise(y, noise, float(rest[:-2]), active), -1, 1), SR
        if name in ROOMS:
            return degrade.reverberate(y, self.rir(name)), SR
        if name == "telephone":
            return degrade.telephone(y)
        if name in CODED:
            return degrade.codec(y, *CODED[name]), SR
        if name == "quiet":
            return degrade.to_peak(y, -30.0), SR
        if name == "loud":
            return degrade.to_peak(y, -0.1), SR
        if name == "clipped":
            return degrade.clipped(y, 12.0), SR
        if name == "dc-offset":
            return np.clip(y + 0.25, -1, 1).astype(np.float32), SR
        if kind == "rate":
            return degrade.resample(y, int(rest)), int(rest)
        raise ValueError(name)


# ----------------------------------------------------------------------------- clips
def cached_video_cases(folder: Path, cache: Path, limit: int | None) -> list:
    """``folder``'s test-split clips (spread, up to ``limit``) as Cases with real lips: tracked
    and aligned once (:func:`voca_cn.training.corpus.video_clip`), then read from ``cache``."""
    from voca_cn.core.timing import Segment
    from voca_cn.formats import resolve
    from voca_cn.speech.align import Aligner
    from voca_cn.training.corpus import split_of_prompt, video_clip, video_transcripts
    from voca_cn.training.evaluation import _real_case

    cache.mkdir(parents=True, exist_ok=True)
    pairs = [(v, t) for v, t in video_transcripts(folder) if split_of_prompt(v.stem) == "test"]
    if not pairs:
        raise VocaError(f"{folder} has no test-split videos with transcripts")
    out = []
    for video, text in spread(pairs, limit):
        path = cache / f"{video.stem}.npz"
        if not path.is_file():
            try:
                y, phones, tracked, aperture, _ = video_clip(video, text, Aligner(), resolve("makehuman"))
            except VocaError as e:
                print(f"robustness: skipping {video.name}: {e}", file=sys.stderr)
                continue
            np.savez(path, audio=y, labels=[p.label for p in phones], starts=[p.start for p in phones],
                     ends=[p.end for p in phones], tracked=tracked, aperture=aperture)
        with np.load(path) as z:
            phones = [Segment(str(a), float(b), float(c)) for a, b, c in zip(z["labels"], z["starts"], z["ends"])]
            out.append(_real_case(video.stem, z["audio"], text, phones, z["tracked"], z["aperture"]))
    return out


def corpus_cases(corpus: Path, limit: int | None) -> list:
    """A built corpus's test-split video items (tracked when it was built), spread, up to ``limit``."""
    from voca_cn.training.evaluation import video_corpus_cases

    return spread(list(video_corpus_cases(corpus, "test")), limit)


def kathleen_cases(corpus: Path, limit: int | None) -> list:
    """A built corpus's test-split Kathleen items, spread, up to ``limit``; their "real" lips are
    the target curves and the makehuman aperture of them (see the module's docstring)."""
    from voca_cn.formats import resolve
    from voca_cn.training.evaluation import _real_case
    from voca_cn.training.evaluation import corpus_cases as items

    template = resolve("makehuman")
    return [_real_case(c.name, c.audio, c.text, c.phones, c.weights, template.aperture(template.deform(c.weights)))
            for c in spread(list(items(corpus, "test", source="kathleen")), limit)]


def spread(rows: list, limit: int | None) -> list:
    """Up to ``limit`` rows spread evenly over ``rows`` (all if None)."""
    if not limit or limit >= len(rows):
        return rows
    return [rows[int(i * len(rows) / limit)] for i in range(limit)]


# ----------------------------------------------------------------------------- run
def degraded(cases: list, name: str, degrader: Degrader) -> list:
    """The cases with their audio put through condition ``name`` and read back at 16 kHz."""
    from dataclasses import replace

    out = []
    for c in cases:
        a, b = (int(max(0.0, t) * SR) for t in c.real.window)
        y, rate = degrader(name, c.audio, c.name, slice(a, b))
        out.append(replace(c, audio=prepare(y, rate, SR, f"{c.name} ({name})")))
    return out


def run(cases: list, names: list[str], methods: tuple[str, ...], model: str | None, save=None,
        voices: list[np.ndarray] | None = None) -> dict:
    """{condition: {method: figures}} (:func:`voca_cn.training.evaluation.evaluate_real`), plus ``failed``
    (clips a method gave nothing for) and ``kept`` (share of the clean aperture r). ``save(out)``
    is called after each condition (a long run keeps what it measured); ``voices``: the babble's
    (default: Kathleen's)."""
    from voca_cn.formats import resolve
    from voca_cn.training.evaluation import evaluate_real

    template, degrader, out = resolve("makehuman"), Degrader(voices), {}
    for name in names:
        t0 = time.perf_counter()
        res = evaluate_real(degraded(cases, name, degrader), template, methods, model)
        res.pop("tracked", None)
        for m in methods:
            res.setdefault(m, {"items": 0})
            res[m]["failed"] = len(cases) - res[m]["items"]
        out[name] = res
        print(f"robustness: {name} ({time.perf_counter() - t0:.0f} s): " + ", ".join(
            f"{m} {res[m].get('aperture_r', float('nan')):.3f}" for m in methods), file=sys.stderr)
        if save:
            save(_kept(out))
    return _kept(out)


def _kept(out: dict) -> dict:
    """Adds to every figure set its share of the clean condition's aperture r (``kept``)."""
    clean = out.get("clean", {})
    for res in out.values():
        for m, r in res.items():
            base = clean.get(m, {}).get("aperture_r")
            r["kept"] = r.get("aperture_r") / base if base and r.get("aperture_r") is not None else None
    return out


def summary(out: dict, methods: tuple[str, ...]) -> dict:
    """Per method over the degraded conditions: mean aperture r, mean and lowest share kept,
    conditions below 85 % of clean, clips failed."""
    rows = {}
    for m in methods:
        deg = [res[m] for name, res in out.items() if name != "clean" and res[m].get("aperture_r") is not None]
        kept = [r["kept"] for r in deg if r.get("kept") is not None]
        rows[m] = {"clean_r": out.get("clean", {}).get(m, {}).get("aperture_r"),
                   "mean_r": float(np.mean([r["aperture_r"] for r in deg])) if deg else None,
                   "mean_kept": float(np.mean(kept)) if kept else None,
                   "min_kept": float(min(kept)) if kept else None,
                   "below_85": int(sum(k < 0.85 for k in kept)),
                   "failed": int(sum(res[m]["failed"] for res in out.values()))}
    return rows


def table(out: dict, methods: tuple[str, ...]) -> str:
    """Markdown: one row per condition; per method aperture r / jawOpen r / lag ms / kept."""
    f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = ["| condition | " + " | ".join(methods) + " |", "| --- |" + " --- |" * len(methods)]
    for name, res in out.items():
        cells = []
        for m in methods:
            r = res[m]
            cell = f"{f(r.get('aperture_r'))} / {f(r.get('jawOpen_r'))} / {f(r.get('lag_ms'), 0)} ms / {f(r.get('kept'), 2)}"
            cells.append(cell + (f" ({r['failed']} failed)" if r.get("failed") else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    s = summary(out, methods)
    lines.append("| mean over degraded | " + " | ".join(
        f"{f(s[m]['mean_r'])} / kept {f(s[m]['mean_kept'], 2)} (min {f(s[m]['min_kept'], 2)}, "
        f"{s[m]['below_85']} below 0.85)" for m in methods) + " |")
    return "\n".join(lines)


def report(files: list[Path]) -> str:
    """Markdown side by side from saved runs (``--json`` files, e.g. before/after or one method
    per run): per condition, each run's methods as aperture r (share of clean kept); summary rows."""
    runs = [(f.stem, json.loads(f.read_text())) for f in files]
    cols = [(label, m) for label, r in runs for m in r["summary"]]
    names = list(dict.fromkeys(n for _, r in runs for n in r["conditions"]))
    f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    lines = ["| condition | " + " | ".join(f"{m} ({label})" for label, m in cols) + " |",
             "| --- |" + " --- |" * len(cols)]
    for n in names:
        cells = []
        for label, m in cols:
            r = dict(runs)[label]["conditions"].get(n, {}).get(m)
            cells.append("-" if r is None else f"{f(r.get('aperture_r'))} ({f(r.get('kept'), 2)})"
                         + (f", {r['failed']} failed" if r.get("failed") else ""))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    for key, what in (("mean_r", "mean r over degraded"), ("mean_kept", "mean kept"), ("min_kept", "lowest kept"),
                      ("below_85", "conditions below 85 %"), ("failed", "clips failed")):
        cells = [dict(runs)[label]["summary"][m].get(key) for label, m in cols]
        lines.append(f"| {what} | " + " | ".join(str(c) if isinstance(c, int) else f(c, 3) for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="a built corpus: its grid-s1 test items (tracked already)")
    p.add_argument("--video", type=Path, help="talking-face clips to track (default: ../shared/corpora/grid-s1)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "voca_cn" / "robustness",
                   help="where tracked clips are kept between runs")
    p.add_argument("--source", choices=("video", "kathleen"), default="video",
                   help="grid-s1's talking-face clips, or (with --data) Kathleen's utterances")
    p.add_argument("--clips", type=int, default=30, help="test clips, spread over the split (default 30)")
    p.add_argument("--conditions", help="comma-separated subset, or 'all' (the unseen codecs too); "
                                        "default: all but the unseen codecs; see --list")
    p.add_argument("--methods", default="model,aligned,recognition,amplitude")
    p.add_argument("--model", help="model folder (default: the shipped model)")
    p.add_argument("--quick", action="store_true", help="4 clips, 8 conditions (a smoke run)")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--list", action="store_true", help="print the condition names and stop")
    p.add_argument("--report", type=Path, nargs="+", help="print saved runs (--json files) side by side and stop")
    a = p.parse_args(argv)
    if a.report:
        print(report(a.report))
        return
    names = conditions()
    if a.list:
        print("\n".join(names + [f"{n} (only when named)" for n in UNSEEN]))
        return
    if a.quick:
        names, a.clips = list(QUICK), 4
    if a.conditions == "all":
        a.conditions = ",".join([*names, *UNSEEN])
    if a.conditions:
        unknown = set(a.conditions.split(",")) - set(names) - set(UNSEEN)
        if unknown:
            sys.exit(f"robustness: unknown conditions {sorted(unknown)}; see --list")
        names = ["clean"] + [n for n in [*names, *UNSEEN] if n in a.conditions.split(",") and n != "clean"]
    methods = tuple(a.methods.split(","))
    voices = None
    if a.source == "kathleen":
        if not a.data:
            sys.exit("robustness: --source kathleen needs a built corpus; pass --data corpus/")
        cases = kathleen_cases(a.data, a.clips)
        voices = [c.audio for c in corpus_cases(a.data, 24)]  # grid-s1's test clips: another real speaker
    elif a.data:
        cases = corpus_cases(a.data, a.clips)
    else:
        from voca_cn.training.corpus import DEFAULT_VIDEO

        folder = a.video or DEFAULT_VIDEO
        cases = cached_video_cases(folder, a.cache / folder.name, a.clips)
    print(f"robustness: {len(cases)} clips x {len(names)} conditions x {len(methods)} methods", file=sys.stderr)
    def save(out: dict) -> None:
        if a.json:
            a.json.write_text(json.dumps({"clips": [c.name for c in cases], "model": a.model, "source": a.source,
                                          "conditions": out, "summary": summary(out, methods)}, indent=1))

    out = run(cases, names, methods, a.model, save, voices)
    print(table(out, methods))


if __name__ == "__main__":
    main()
