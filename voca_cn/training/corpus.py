"""The training corpus: speech with exact phone timings, and the ARKit curves they animate to.

``voca-cn data build --out DIR`` writes::

    DIR/items/<id>.npz   audio (S,) int16 at 16 kHz; labels (P,) inventory phones; starts, ends
                         (P,) seconds; weights (T, 52) float16 ARKit curves at 60 fps
    DIR/manifest.jsonl   one JSON object per item: id, engine, voice, speaker, language,
                         duration (s), split, timing ("engine" or "aligned"), source, text

Synthetic items come from every voice in :data:`voca_cn.speech.tts.VOICES`, with the engine's own
phone timings; real items are the Kathleen corpus, force-aligned. Splits are speaker-disjoint for
synthetic voices (fixed lists below) and prompt-disjoint for Kathleen (one speaker, split by
prompt id). Text never comes from the CMU ARCTIC prompts Kathleen reads: it comes from the
Debian fortune collections (English, German, Spanish, Italian) and Faker's locale providers
(addresses, phone numbers, dates, and word lists for French and Mandarin, the latter spoken from
pinyin).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.audio import load as audio_io
from voca_cn.audio.load import VIDEO_SUFFIXES, load
from voca_cn.core.arkit import NAMES
from voca_cn.core.files import atomic_path, atomic_write, one_line
from voca_cn.core.timing import SR, Segment, resample_frames
from voca_cn.core.untrusted import read_json
from voca_cn.formats import resolve
from voca_cn.motion.procedural import animate
from voca_cn.speech.align import Aligner, read_transcript
from voca_cn.speech.tts import VOICES, synthesize, voice
from voca_cn.video.tracking import calibrate, track_video

DEFAULT_KATHLEEN = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "kathleen"
DEFAULT_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "grid-s1"
ITEM_SECONDS = 6.0  # typical item length; sets how many items a voice's share of hours needs
FORTUNES = Path("/usr/share/games/fortunes")
_FORTUNE_DIRS = {"en": ("",), "de": ("de",), "es": ("es",), "it": ("",)}
_ITALIAN = {"italia", "leggi", "luttazzi", "zuse", "definizioni", "formiche", "paolotedeschi",
            "norm", "luke", "jackfr", "itatrek", "computer", "adams"}
_ENGLISH_SKIP = {"ascii-art", "art", "debian", "linux", "linuxcookie", "perl", "translate-me",
                 "knghtbrd", "zippy"} | _ITALIAN
_FAKER = {"en": "en_US", "de": "de_DE", "es": "es_ES", "it": "it_IT", "fr": "fr_FR", "cmn": "zh_CN"}
# Held-out synthetic speakers: every split has English, another language and an ARCTIC voice.
TEST_SPEAKERS = {"espeak-ng-en-gb-scotland+f2", "espeak-ng-de+f2", "espeak-ng-cmn-latn-pinyin+f3",
                 "espeak-ng-fr+m2", "rms", "ked"}
VAL_SPEAKERS = {"espeak-ng-en-029+m2", "espeak-ng-es+f3", "awb"}


@dataclass(frozen=True)
class Job:
    """One corpus item to make: synthetic (voice id, text, rate) or real (audio path, text)."""
    id: str
    text: str
    voice: str = ""
    rate: float = 1.0
    path: str = ""


# ----------------------------------------------------------------------------- text sources
def _clean(entry: str) -> str | None:
    """A fortune as one spoken line, or None for art, code, dialogue scripts and long ones."""
    lines = [ln for ln in entry.splitlines() if not re.match(r"\s*(--|―|—)", ln)]
    text = re.sub(r"\s+", " ", " ".join(lines)).strip()
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if not 25 <= len(text) <= 300 or letters < 0.9 * len(text) or re.search(r"https?:|[<>{}|@#]", text):
        return None
    return text


@functools.lru_cache(maxsize=None)  # plan() asks once per voice; the files are read once
def fortunes(language: str) -> tuple[str, ...]:
    """Sorted, cleaned fortune entries in ``language`` (empty where the package is missing)."""
    out = []
    for sub in _FORTUNE_DIRS.get(language, ()):
        folder = FORTUNES / sub
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir()):
            stem = f.name.split(".")[0]
            if f.is_dir() or f.suffix in (".dat", ".u8") or (language == "it") != (stem in _ITALIAN):
                continue
            if language == "en" and stem in _ENGLISH_SKIP:
                continue
            raw = f.read_bytes()
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body = raw.decode("latin-1")
            out += [t for t in map(_clean, body.split("\n%\n")) if t]
    return tuple(sorted(set(out)))


def faker_lines(language: str, n: int, seed: int) -> list[str]:
    """``n`` lines from Faker's ``language`` locale: sentences, addresses, numbers, dates."""
    from faker import Faker

    fake = Faker(_FAKER[language])
    fake.seed_instance(seed)
    makers = [lambda: fake.sentence(nb_words=12), lambda: fake.sentence(nb_words=8),
              lambda: fake.address().replace("\n", ", "), lambda: fake.name(),
              lambda: fake.phone_number(), lambda: fake.date(pattern="%d %B %Y")]
    return [makers[i % len(makers)]() for i in range(n)]


def texts(language: str, n: int, seed: int) -> list[str]:
    """``n`` item texts (a few seconds each) in ``language``, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    pool = fortunes(language)
    lines = []
    for k in range(n):
        if pool and rng.random() < 0.7:
            lines.append(pool[rng.integers(len(pool))])
        else:
            lines.append(" ".join(faker_lines(language, 2, seed * 1000 + k)) + ".")
    if language == "cmn":
        lines = [pinyin(t) for t in lines]
    return lines


def pinyin(text: str) -> str:
    """Hanzi -> tone-numbered pinyin (espeak-ng's cmn-latn-pinyin reads it; its Hanzi path
    speaks the tone digits as English numbers)."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return " ".join(s for s in syllables if re.fullmatch(r"[a-zü]+[1-5]", s))


# ----------------------------------------------------------------------------- plan
def split_of_speaker(speaker: str) -> str:
    return "test" if speaker in TEST_SPEAKERS else "val" if speaker in VAL_SPEAKERS else "train"


def split_of_prompt(prompt: str) -> str:
    """Kathleen: 10% test, 10% val by a stable hash of the prompt id."""
    bucket = zlib.crc32(prompt.encode()) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def kathleen_prompt(name: str) -> str:
    """``arctic_a0001_1234`` -> ``a0001``: takes of one prompt share it."""
    return name.split("_")[1]


def video_transcripts(folder: Path) -> list[tuple[Path, str]]:
    """(video, transcript) pairs under ``folder``: a video's words come from a same-named
    ``.txt`` beside it, or from ``align/<name>.align`` (GRID's word timings; sil/sp dropped).
    Videos without words are left out (the aligner needs them)."""
    out = []
    for video in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        txt, align = video.with_suffix(".txt"), folder / "align" / f"{video.stem}.align"
        try:
            if txt.is_file():
                out.append((video, read_transcript(txt)))
            elif align.is_file():
                words = [ln.split()[2] for ln in read_transcript(align).splitlines() if len(ln.split()) == 3]
                out.append((video, " ".join(w for w in words if w not in ("sil", "sp"))))
        except VocaError as e:  # one unreadable transcript costs its clip, not the build
            print(f"voca-cn: skipping {video.name}: {e}", file=sys.stderr)
    return out


def plan(hours: float, kathleen: Path | None, kathleen_limit: int | None, seed: int,
         video: Path | None = None, video_limit: int | None = None) -> list[Job]:
    """Every item of the corpus: each voice's equal share of ``hours`` of synthetic speech, then
    the Kathleen utterances (all, or the first ``kathleen_limit``), then the talking-face videos
    under ``video`` (all, or the first ``video_limit``)."""
    per_voice = int(np.ceil(hours * 3600 / len(VOICES) / ITEM_SECONDS))
    jobs = []
    for v in VOICES:
        vseed = seed * 7919 + zlib.crc32(v.id.encode())
        rates = np.random.default_rng(vseed).uniform(0.85, 1.2, per_voice)
        for k, (text, rate) in enumerate(zip(texts(v.language, per_voice, vseed), rates)):
            jobs.append(Job(f"{v.id}-{k:05d}", text, v.id, round(float(rate), 3)))
    if kathleen is not None:
        files = sorted((kathleen / "utterances").glob("*.flac"))[:kathleen_limit]
        jobs += [Job(f"kathleen-{f.stem}", text, path=str(f)) for f, text in _transcribed(files)]
    if video is not None:
        jobs += [Job(f"video-{video.name}-{v.stem}", text, path=str(v))
                 for v, text in video_transcripts(video)[:video_limit]]
    return jobs


def _transcribed(files: list[Path]) -> list[tuple[Path, str]]:
    """(audio, its .txt transcript) for the files whose transcript reads; the others are named on stderr."""
    out = []
    for f in files:
        try:
            out.append((f, read_transcript(f.with_suffix(".txt"))))
        except VocaError as e:
            print(f"voca-cn: skipping {f.name}: {e}", file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- items
def make_item(job: Job, out: Path) -> dict:
    """Synthesize or align one item, animate it, write ``items/<id>.npz`` atomically.

    Returns its manifest row (``error`` set instead when the item could not be made).
    """

    if Path(job.path).suffix.lower() in VIDEO_SUFFIXES:
        return make_video_item(job, out)
    try:
        if job.voice:
            v = voice(job.voice)
            y, phones = synthesize(v, job.text, job.rate)
            row = dict(engine=v.engine, voice=v.id, speaker=v.speaker, language=v.language,
                       split=split_of_speaker(v.speaker), timing="engine", source="synthetic")
        else:
            y = audio_io.load(job.path)
            aligner = Aligner()
            phones = aligner.align(y, job.text)[0]
            row = dict(engine="human", voice="kathleen", speaker="kathleen", language="en",
                       split=split_of_prompt(kathleen_prompt(Path(job.path).stem)), timing="aligned",
                       source="kathleen", alignment=aligner.method, spread_words=aligner.spread_words)
    except VocaError as e:
        return dict(id=job.id, error=str(e))
    duration = len(y) / audio_io.SR
    _save_item(out, job.id, y, phones, animate(phones, duration))
    return dict(id=job.id, **row, duration=round(duration, 3), text=job.text)


def _save_item(out: Path, item_id: str, y: np.ndarray, phones, weights: np.ndarray, **extra) -> None:
    with atomic_path(out / "items" / f"{item_id}.npz") as tmp:
        np.savez(tmp, audio=(np.clip(y, -1, 1) * 32767).astype(np.int16),
                 labels=np.array([p.label for p in phones]), starts=np.array([p.start for p in phones]),
                 ends=np.array([p.end for p in phones]), weights=weights.astype(np.float16), **extra)


REAL_CHANNELS = np.array([i for i, n in enumerate(NAMES) if n.startswith(("jaw", "mouth"))])


def video_clip(path: Path, text: str, aligner, template) -> tuple[np.ndarray, list, np.ndarray, np.ndarray, float]:
    """A talking-face video as real lip data: (audio (S,) 16 kHz, phones force-aligned to ``text``,
    tracked curves (T, 52) calibrated on ``template``, tracked aperture (T,), share of frames with
    a face), T = the audio's frame count at 60 fps. Raises VocaError for an unusable clip."""

    y = load(path)
    phones = aligner.align(y, text)[0]
    tracking = track_video(path, progress=False)
    n = int(np.ceil(len(y) / SR * 60 - 1e-9))
    tracked = calibrate(tracking, template)
    tracked = np.concatenate([tracked, np.repeat(tracked[-1:], max(0, n - len(tracked)), 0)])[:n]
    aperture = resample_frames(tracking.aperture[:, None], tracking.fps, 60, n)[:, 0]
    return y, phones, tracked, aperture, float(tracking.found.mean())


def make_video_item(job: Job, out: Path) -> dict:
    """One talking-face video (:func:`video_clip`): real curves for the jaw and mouth channels;
    eyes, brows and the rest come from the procedural animator (they carry no speech). Also
    stored: ``tracked`` (T, 52) all calibrated channels and ``aperture`` (T,) at 60 fps."""

    path = Path(job.path)
    aligner = Aligner()
    try:
        y, phones, tracked, aperture, found = video_clip(path, job.text, aligner, resolve("makehuman"))
    except VocaError as e:
        return dict(id=job.id, error=str(e))
    weights = animate(phones, len(y) / SR)
    weights[:, REAL_CHANNELS] = tracked[:, REAL_CHANNELS]
    _save_item(out, job.id, y, phones, weights, tracked=tracked.astype(np.float16),
               aperture=aperture.astype(np.float32))
    speaker = _video_speaker(path)
    return dict(id=job.id, engine="human", voice=speaker, speaker=speaker, language="en",
                split=split_of_prompt(path.stem), timing="aligned", source="video",
                alignment=aligner.method, faces_found=round(found, 4), duration=round(len(y) / SR, 3),
                text=job.text)


def _video_speaker(path: Path) -> str:
    """The folder a video belongs to (``grid-s1`` for ``grid-s1/clips/x.mp4``): one speaker each."""
    return path.parent.parent.name if path.parent.name == "clips" else path.parent.name


def _make(args):
    return make_item(*args)


def build(out: Path, hours: float = 4.0, kathleen: Path | None = None,
          kathleen_limit: int | None = None, jobs: int = 2, seed: int = 0,
          video: Path | None = None, video_limit: int | None = None) -> dict:
    """Build (or finish) the corpus in ``out``. Items already in the manifest are kept.

    Returns a summary: items, hours, voices, languages, items made by this run, failures.
    """
    from multiprocessing import get_context

    from tqdm import tqdm

    (out / "items").mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.jsonl"
    done = {r["id"]: r for r in read_manifest(out)} if manifest.exists() else {}
    todo = [j for j in plan(hours, kathleen, kathleen_limit, seed, video, video_limit)
            if j.id not in done or not (out / "items" / f"{j.id}.npz").exists()]
    failures = []
    with open(manifest, "a", encoding="utf-8") as log, get_context("spawn").Pool(jobs) as pool:
        for row in tqdm(pool.imap_unordered(_make, [(j, out) for j in todo], chunksize=2),
                        total=len(todo), desc="corpus", unit="item", file=sys.stderr):
            if "error" in row:
                failures.append(row)
                continue
            log.write(json.dumps(row, ensure_ascii=False) + "\n")
            log.flush()
            done[row["id"]] = row
    rows = sorted(done.values(), key=lambda r: r["id"])
    atomic_write(out / "failures.jsonl", "".join(json.dumps(r) + "\n" for r in failures))
    if not rows:
        raise VocaError(f"no item of the corpus could be made ({len(failures)} failed"
                        + (f"; the first: {failures[0]['error']}" if failures else "")
                        + f"); see {out / 'failures.jsonl'}")
    atomic_write(manifest, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return summary(rows) | {"made": len(todo) - len(failures), "failures": len(failures)}


def read_manifest(corpus: Path, split: str | None = None) -> list[dict]:
    """Manifest rows (of one split, if given)."""
    path = Path(corpus) / "manifest.jsonl"
    if not path.is_file():
        raise VocaError(f"{corpus} has no manifest.jsonl; build a corpus with voca-cn data build")
    rows = []
    for n, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            row = read_json(text, "row", "") if text.strip() else None
        except VocaError:
            row = "torn"
        if row is None:
            continue
        if not isinstance(row, dict) or not ROW_FIELDS <= set(row) or not isinstance(row["id"], str):
            print(f"voca-cn: note: {path} line {n} is half-written or not a corpus row; left out "
                  "(voca-cn data build makes it again)", file=sys.stderr)
            continue
        rows.append(row)
    return [r for r in rows if split is None or r["split"] == split]


ROW_FIELDS = {"id", "split", "source", "duration", "voice", "speaker", "language"}


def load_item(corpus: Path, item_id: str) -> dict:
    """One item's arrays: audio float32 (S,), labels, starts, ends, phones (Segments), weights
    float32 (T, 52); video items also tracked float32 (T, 52) and aperture (T,)."""
    path = Path(corpus) / "items" / f"{item_id}.npz"
    try:
        with open(path, "rb") as fh, np.load(fh) as z:
            item = dict(audio=z["audio"].astype(np.float32) / 32767, labels=z["labels"], starts=z["starts"],
                        ends=z["ends"], weights=z["weights"].astype(np.float32))
            if "tracked" in z:
                item.update(tracked=z["tracked"].astype(np.float32), aperture=z["aperture"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise VocaError(f"corpus item {path} is missing or unreadable ({one_line(e)}); run voca-cn data build "
                        f"--out {corpus} again to remake it") from None
    item["phones"] = [Segment(str(a), float(b), float(c)) for a, b, c in
                      zip(item["labels"], item["starts"], item["ends"])]
    return item


def target_curves(row: dict, item: dict) -> np.ndarray:
    """(T, 52) curves an item teaches and is measured against: a video item's stored curves
    (tracked jaw and mouth), else the procedural animator, as fitted now, on the item's phones
    (so a refit of the animator needs no rebuild of the corpus)."""
    if row["source"] == "video":
        return item["weights"]
    return animate(item["phones"], row["duration"])[:len(item["weights"])]


def summary(rows: list[dict]) -> dict:
    """Items, hours (total and per split), voices and languages of manifest rows."""
    hours = {s: round(sum(r["duration"] for r in rows if r["split"] == s) / 3600, 3)
             for s in ("train", "val", "test")}
    return dict(items=len(rows), hours=round(sum(r["duration"] for r in rows) / 3600, 3),
                split_hours=hours, voices=len({r["voice"] for r in rows}),
                speakers=len({r["speaker"] for r in rows}),
                languages=sorted({r["language"] for r in rows}))
