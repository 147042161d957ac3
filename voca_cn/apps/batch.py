"""``voca-cn batch``: thousands of dialogue lines, on local worker processes or a Ray cluster.

Input: the lines of ``manifest`` (a folder of audio files or a .csv/.jsonl manifest). Output: ``OUT/ID/`` per line with
what ``voca-cn animate`` writes (default ``animation.npz`` + ``visemes.json``), plus

- ``OUT/done.jsonl``: one record per finished line (id, key, audio seconds, and ``disagreement``: how
  unlike clean speech its audio sounds, nats, above :data:`voca_cn.motion.fallback.NOISY` noisy, echoing
  or band-limited; null with one model or the procedural animator). The key hashes the
  line's inputs (audio bytes, transcript, template file, style, exports) and the run's options
  (model files, frame rate, video size); a rerun skips lines whose key is recorded and whose
  folder exists, so a killed batch resumes where it stopped. Lines are written atomically
  (temporary folder, then rename) and stale temporary folders are removed on start.
- ``OUT/failures.jsonl``: this run's failed lines, ``{"id", "reason"}`` (one line each).
- ``OUT/summary.json``: lines, done, failed, audio hours, wall time, real-time factor.

Engines: ``local`` (``--jobs`` spawned worker processes) and ``ray`` (one actor per CPU of a
Ray cluster); both call :func:`animate_line` with one thread each, so their outputs are
byte-identical. Workers load models once (:func:`_animator` and friends are cached per process).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from voca_cn import VocaError, __version__
from voca_cn.api import animate
from voca_cn.apps.manifest import OUTPUTS, Line, Result, read_lines
from voca_cn.core.timing import SR
from voca_cn.core.untrusted import read_json
from voca_cn.formats.library import known_templates
from voca_cn.motion.fallback import NOISY, degraded
from voca_cn.motion.lipsync import AudioAnimator
from voca_cn.motion.living import MODEL as LIVING_MODEL
from voca_cn.motion.onnx import model_folder
from voca_cn.motion.procedural import Style
from voca_cn.rig import resolve


@dataclass(frozen=True)
class Settings:
    """Options shared by every line of a run (from the command line)."""

    model: str | None = None
    procedural: bool = False
    size: tuple[int, int] = (512, 512)
    fps: int = 60


# ---------------------------------------------------------------------------- the seam
def animate_line(line: Line, settings: Settings, out: Path) -> tuple[float, float | None]:
    """One line's work, through the library API as ``voca-cn animate`` does:
    :func:`voca_cn.api.animate` (with this process's loaded model and template) ->
    :meth:`~voca_cn.api.Animation.save` (atomic). Returns the audio's length in seconds and the
    animation's ``disagreement``."""

    # the model hears a transcript's alignment (and aligns one outside English): keep it loaded
    model = _animator(settings.model) if line.text is not None or not settings.procedural else settings.model
    animation = animate(line.audio, text=line.text, template=_template(line.template),
                        style=Style(jaw=line.jaw, lip=line.lip), model=model, procedural=settings.procedural,
                        language=line.language, living=line.living)
    out.parent.mkdir(parents=True, exist_ok=True)
    animation.save(out, obj="obj" in line.exports, video="video" in line.exports, size=settings.size,
                   fps=settings.fps, overwrite=True, exports=tuple(e for e in line.exports if e not in OUTPUTS))
    return len(animation.audio) / SR, animation.disagreement


class ModelFolderError(VocaError):
    """The model folder cannot be loaded: no line can be animated, so the batch stops."""


@lru_cache(maxsize=2)
def _animator(model: str | None):
    """The model, loaded once per worker process, with one ONNX Runtime thread: the workers
    already use every core."""
    try:
        return AudioAnimator.load(model, threads=1)
    except VocaError as e:
        raise ModelFolderError(str(e)) from None


@lru_cache(maxsize=8)
def _template(spec: str):
    return resolve(spec)


def run_line(line: Line, settings: Settings, out_root: str) -> Result:
    """:func:`animate_line` with every failure turned into a one-line reason (never raises)."""
    try:
        return Result(line.id, *animate_line(line, settings, Path(out_root) / line.id))
    except ModelFolderError as e:
        return Result(line.id, reason=str(e), fatal=True)
    except VocaError as e:
        return Result(line.id, reason=str(e))
    except MemoryError:
        return Result(line.id, reason="out of memory; give shorter audio or fewer --jobs")
    except Exception as e:  # noqa: BLE001 - one bad line must never stop the batch
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        return Result(line.id, reason=f"unexpected {type(e).__name__}: {text} (please report it)")




# ---------------------------------------------------------------------------- keys
def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _model_digest(settings: Settings) -> str:
    folder = model_folder(settings.model)
    # every file below: the default mixes in the robust model kept in a subfolder
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return hashlib.sha256("".join(f"{p.relative_to(folder)}:{_file_digest(p)}" for p in files).encode()).hexdigest()


@lru_cache(maxsize=64)
def _template_digest(spec: str) -> str:
    try:
        return _file_digest(known_templates().get(spec) or Path(spec))
    except OSError:
        return spec


@lru_cache(maxsize=1)
def _living_digest() -> str:
    return _file_digest(LIVING_MODEL)


def line_key(line: Line, settings: Settings, model_digest: str) -> str:
    """Hash of everything that decides a line's output: equal keys, equal files."""
    try:  # an unreadable file keys by its path; its worker then reports why it cannot be read
        audio = _file_digest(Path(line.audio))
    except OSError:
        audio = line.audio
    parts = dict(asdict(line), audio=audio,
                 template=_template_digest(line.template), settings=asdict(settings), model=model_digest,
                 living_model=_living_digest(), version=__version__)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------- bookkeeping
@dataclass
class Journal:
    """``OUT/done.jsonl`` (finished lines, appended as they finish) and ``OUT/failures.jsonl``."""

    out: Path
    done: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        path = self.out / "done.jsonl"
        if path.is_file():
            for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:  # a batch killed mid-append leaves a torn last record: it is simply redone
                    rec = read_json(text, "record", "")
                    self.done[rec["id"]] = rec
                except (VocaError, KeyError, TypeError, IndexError):
                    continue
        (self.out / "failures.jsonl").write_text("")

    def finished(self, line: Line, key: str) -> bool:
        rec = self.done.get(line.id)
        return bool(rec and rec.get("key") == key and (self.out / line.id).is_dir())

    def record_done(self, line_id: str, key: str, seconds: float, disagreement: float | None) -> None:
        rec = {"id": line_id, "key": key, "seconds": round(seconds, 3),
               "disagreement": None if disagreement is None else round(disagreement, 3)}
        self.done[line_id] = rec
        _append(self.out / "done.jsonl", rec)

    def record_failure(self, line_id: str, reason: str) -> None:
        _append(self.out / "failures.jsonl", {"id": line_id, "reason": " ".join(reason.split())})


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _prepare_out(out: Path):
    """Create OUT, take its lock (one batch per OUT at a time) and remove temporary folders a
    killed run left behind. Returns the open lock file (keep it open while the batch runs)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".lock", "w")
    except OSError as e:
        raise VocaError(f"cannot create {out} ({e.strerror or e}); choose a writable --out") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise VocaError(f"another voca-cn batch is writing {out}; wait for it or choose another --out") from None
    return lock


def _remove_stale(out: Path, lines: list[Line]) -> None:
    """Remove the temporary folders (``.ID.*.part``) a killed run left next to its lines."""
    for folder in {(out / line.id).parent for line in lines}:
        for tmp in folder.glob(".*.part"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- engines
def thread_env(threads: int) -> dict[str, str]:
    """Environment giving each worker ``threads`` numpy/BLAS threads, so N workers on N cores do
    not oversubscribe them (ONNX Runtime gets its one thread in :func:`_animator`). Measured: numpy's
    OpenBLAS with threads under contention took 8 ms for a (394x257)@(257x40) matmul vs 0.07 ms
    single-threaded."""
    t = str(threads)
    return {"OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t}


def run_local(lines: list[Line], settings: Settings, out: Path, jobs: int) -> Iterator[Result]:
    """Results of ``lines`` from ``jobs`` spawned worker processes, in completion order.

    A worker that dies (a crash in a native library, the OOM killer) fails the lines it held;
    a fresh pool takes the rest."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    os.environ.update({k: v for k, v in thread_env(max(1, len(os.sched_getaffinity(0)) // jobs)).items()
                       if k not in os.environ})  # inherited by the spawned workers
    todo = list(reversed(lines))
    while todo:
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            running = {}
            try:
                while todo or running:
                    while todo and len(running) < 2 * jobs:  # bounded: a long batch is not queued at once
                        line = todo.pop()
                        running[pool.submit(run_line, line, settings, str(out))] = line
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        yield fut.result()
                        del running[fut]
            except BrokenProcessPool:
                for line in running.values():
                    yield Result(line.id, reason="the worker process died while this line was in flight "
                                                 "(a crash or out of memory); rerun the batch to retry it")


def run_ray(lines: list[Line], settings: Settings, out: Path, jobs: int | None,
            address: str | None) -> Iterator[Result]:
    """Results of ``lines`` from Ray actors (one per CPU, or ``jobs``), each loading the models
    once. ``address`` None starts a local Ray with ``jobs`` CPUs; else it joins that cluster
    (every node needs voca_cn installed and the audio and OUT paths mounted at the same place)."""
    import logging

    import ray

    common = dict(log_to_driver=False, logging_level=logging.ERROR, runtime_env={"env_vars": thread_env(1)})
    try:
        with _native_stderr_quiet():  # Ray's C++ client logs each connection retry: one line below instead
            if address is None:
                ray.init(num_cpus=jobs or len(os.sched_getaffinity(0)), include_dashboard=False,
                         object_store_memory=200 * 2**20, **common)
            else:
                ray.init(address=address, **common)
    except Exception as e:  # noqa: BLE001 - Ray reports an unreachable cluster with several types
        text = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise VocaError(f"cannot start or reach Ray{f' at {address}' if address else ''} ({text}); "
                        "check the address (`ray status` on the cluster) or leave it out for a local Ray") from None
    try:
        n = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        worker = ray.remote(num_cpus=1)(RayWorker)
        # two lines queued per actor: it starts the next while the driver takes in the last result
        free = [a for a in (worker.remote(settings, str(out)) for _ in range(n)) for _ in range(2)]
        todo, running, dead = list(reversed(lines)), {}, set()
        while todo or running:
            while todo and free:
                actor, line = free.pop(), todo.pop()
                running[actor.run.remote(line)] = (actor, line)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, line = running.pop(ready[0])
            try:
                yield ray.get(ready[0])
                free.append(actor)
            except ray.exceptions.RayError:  # the actor died: fail its lines, start a new one
                yield Result(line.id, reason="the Ray actor died while animating this line; rerun to retry it")
                if actor not in dead:
                    dead.add(actor)
                    free.extend([worker.remote(settings, str(out))] * 2)
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _native_stderr_quiet():
    """File descriptor 2 pointed at /dev/null for the block (native libraries write there directly)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


RAY_CONNECT_S = 5.0  # a cluster's head answers within milliseconds; Ray itself retries for minutes


def _check_reachable(address: str) -> None:
    """Refuse a Ray ADDRESS (``host:port`` or ``ray://host:port``) whose port does not answer
    within :data:`RAY_CONNECT_S`, before Ray's own connection retries hang the batch."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise VocaError(f"--ray {address!r} must look like HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_S).close()
    except (OSError, ValueError, UnicodeError) as e:
        raise VocaError(f"cannot reach Ray at {address} within {RAY_CONNECT_S:.0f} s "
                        f"({getattr(e, 'strerror', None) or e}); check the address (`ray status` on the "
                        "cluster) or leave it out for a local Ray") from None


class RayWorker:
    """A Ray actor: models load on its first line and stay loaded (the same caches as local workers)."""

    def __init__(self, settings: Settings, out: str):
        self.settings, self.out = settings, out

    def run(self, line: Line) -> Result:
        return run_line(line, self.settings, self.out)


# ---------------------------------------------------------------------------- the batch
def run_batch(source: Path, out: Path, defaults: Line, settings: Settings, jobs: int,
              ray_address: str | None = None, use_ray: bool = False) -> dict:
    """Animate every line of ``source`` into ``out``; returns the summary (also in summary.json).

    Raises VocaError before any work for a bad source or OUT, and on the first line that shows
    the model folder cannot be loaded."""
    from tqdm import tqdm

    lines, bad = read_lines(source, defaults)
    if use_ray and ray_address not in (None, "", "auto", "local"):
        _check_reachable(ray_address)  # before OUT is made: an unreachable cluster leaves nothing behind
    lock = _prepare_out(out)
    try:
        _remove_stale(out, lines)
        journal = Journal(out)
        digest = _model_digest(settings)
        keys = {line.id: line_key(line, settings, digest) for line in lines}
        todo = [line for line in lines if not journal.finished(line, keys[line.id])]
        for r in bad:
            journal.record_failure(r.id, r.reason)
        skipped = len(lines) - len(todo)
        print(f"voca-cn: {len(lines)} lines: {skipped} already done, {len(todo)} to animate"
              + (f", {len(bad)} rejected (see {out / 'failures.jsonl'})" if bad else ""), file=sys.stderr)
        results = (run_ray(todo, settings, out, jobs, ray_address) if use_ray
                   else run_local(todo, settings, out, jobs))
        t0, seconds, failed, noisy = time.perf_counter(), 0.0, len(bad), 0
        with tqdm(total=len(todo), desc="batch", unit="line", file=sys.stderr, smoothing=0.05) as bar:
            for r in results:
                if r.fatal:
                    results.close()
                    raise VocaError(r.reason)
                if r.reason is None:
                    journal.record_done(r.id, keys[r.id], r.seconds, r.disagreement)
                    seconds += r.seconds
                    noisy += degraded(r.disagreement) is not None
                else:
                    journal.record_failure(r.id, r.reason)
                    failed += 1
                bar.update(1)
                bar.set_postfix(audio=f"{seconds / 60:.1f} min", failed=failed, refresh=False)
        wall = time.perf_counter() - t0
        if noisy:
            print(f"voca-cn: {noisy} of the {len(todo)} lines sound noisy, echoing or band-limited (disagreement over "
                  f"{NOISY} in {out / 'done.jsonl'}); their transcripts (a text column, or a .txt beside the audio) "
                  "keep the lips on more of their p, b and m", file=sys.stderr)
        done = sum(journal.finished(line, keys[line.id]) for line in lines)
        summary = {
            "lines": len(lines) + len(bad), "done": done, "failed": failed, "skipped_already_done": skipped,
            "audio_hours": round(sum(journal.done[line.id]["seconds"] for line in lines
                                     if journal.finished(line, keys[line.id])) / 3600, 4),
            "this_run": {"lines": len(todo), "audio_hours": round(seconds / 3600, 4), "wall_seconds": round(wall, 2),
                         "real_time_factor": round(seconds / wall, 1) if wall > 0 else None},
            "engine": "ray" if use_ray else "local", "jobs": jobs,
        }
        tmp = out / ".summary.json.part"
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, out / "summary.json")
        return summary
    except OSError as e:
        raise VocaError(f"cannot write into {out} ({e.strerror or e}); free disk space or choose another --out") from None
    finally:
        lock.close()
