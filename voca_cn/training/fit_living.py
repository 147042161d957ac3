"""Fit the living-face model (``assets/models/living.json``, read by :mod:`voca_cn.motion.living`)
to tracked talking-face video, and the measurements the fit and ``benchmarks/living.py`` share.

    python -m voca_cn.training.fit_living --video ../shared/corpora/grid-s1 --cache /tmp/living-cache \
        [--train 220] [--out voca_cn/assets/models/living.json]

Clips are split as the corpus splits video (:func:`voca_cn.training.corpus.split_of_prompt`); only
``train`` clips are fitted. Each clip is tracked once (MediaPipe, :func:`voca_cn.video.tracking.track_video`)
and cached as ``CACHE/<stem>.npz``. Everything is measured at the video's own frame rate: MediaPipe's
blink, gaze, brow and squint scores, and the head rotation from its facial transformation matrix.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn.audio.load import VIDEO_SUFFIXES, load
from voca_cn.audio.loudness import loudness
from voca_cn.core.arkit import gaze_angles
from voca_cn.core.files import atomic_write
from voca_cn.core.timing import FPS, SR, resample_frames
from voca_cn.motion.living import BLINK, BROW_DOWN, BROW_UP, MODEL, SPEECH, SQUINT, head_step
from voca_cn.training.corpus import split_of_prompt
from voca_cn.video.tracking import Tracking, track_video

BLINK_ON, BLINK_OFF = 0.25, 0.12  # blink score above the clip's median: a blink starts / has ended
BLINK_SPLIT = 0.5  # ... or has fallen below this share of its peak (two blinks in a row are two)
PROFILE_START, PROFILE_STEP, PROFILE_END = -1.5, 0.25, 3.0  # blink profile grid, in FWHMs from the peak
PHRASE_END_S = 0.6  # after speech stops, this long counts as a phrase end
BURST_S = 0.6  # a blink this soon after another is its double (real speakers often blink twice)


@dataclass
class Clip:
    """One tracked clip at the video's ``fps``: scores (N, 52), head (N, 3) radians about the
    clip's mean, level (N,) loudness in [0, 1] (:func:`voca_cn.motion.living.loudness`)."""
    stem: str
    fps: float
    scores: np.ndarray
    head: np.ndarray
    level: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.scores) / self.fps


# ----------------------------------------------------------------------------- measurements
def head_angles(pose: np.ndarray) -> np.ndarray:
    """(N, 4, 4) facial transformation matrices -> (N, 3) (yaw, pitch, roll) radians with
    R = Ry(yaw) Rx(pitch) Rz(roll) (the convention of :mod:`voca_cn.motion.living`)."""
    r = pose[:, :3, :3].astype(np.float64)
    r = r / np.linalg.norm(r[:, :, :1], axis=1, keepdims=True)  # scale-free (the matrix carries none, but be safe)
    yaw = np.arctan2(r[:, 0, 2], r[:, 2, 2])
    pitch = np.arcsin(np.clip(-r[:, 1, 2], -1, 1))
    roll = np.arctan2(r[:, 1, 0], r[:, 1, 1])
    return np.stack([yaw, pitch, roll], 1).astype(np.float32)


def blink_score(weights: np.ndarray) -> np.ndarray:
    """(N, 52) -> (N,) mean of both eyes' eyeBlink."""
    return np.asarray(weights, np.float64)[:, BLINK].mean(1)


def blinks(score: np.ndarray, fps: float) -> list[tuple[float, float, float]]:
    """(N,) blink score -> blinks as (onset s, peak s, full width at half maximum s): runs above
    the clip's median + BLINK_ON, ending below median + BLINK_OFF or below BLINK_SPLIT of the run's
    peak (whatever the scale of the score: MediaPipe's lids peak near 0.6, a full blink at 1),
    widths interpolated."""
    base = float(np.median(score))
    out, i, n = [], 0, len(score)
    while i < n:
        if score[i] - base <= BLINK_ON:
            i += 1
            continue
        j, top = i, 0.0
        while j < n and score[j] - base > max(BLINK_OFF, BLINK_SPLIT * top):
            top = max(top, score[j] - base)
            j += 1
        a = i
        while a > 0 and score[a - 1] - base > BLINK_OFF and score[a - 1] < score[a]:
            a -= 1
        seg = score[a:j] - base
        k = int(np.argmax(seg))
        half = seg[k] / 2
        left = _cross(seg[:k + 1][::-1], half)
        right = _cross(seg[k:], half)
        if a > 0 and j < n:  # a whole blink: its width is known
            out.append(((a) / fps, (a + k) / fps, (left + right) / fps))
        elif a > 0 or j < n:
            out.append(((a) / fps, (a + k) / fps, float("nan")))
        i = j + 1
    return out


def _cross(x: np.ndarray, level: float) -> float:
    """Frames from x[0] (the peak) until x falls to ``level``, interpolated."""
    below = np.flatnonzero(x <= level)
    if len(below) == 0:
        return float(len(x) - 1)
    m = below[0]
    return float(m - 1 + (x[m - 1] - level) / max(x[m - 1] - x[m], 1e-9))


def brow_signal(weights: np.ndarray) -> np.ndarray:
    """(N, 52) -> (N,) brow raise: mean of the up shapes minus mean of the down shapes."""
    w = np.asarray(weights, np.float64)
    return w[:, BROW_UP].mean(1) - w[:, BROW_DOWN].mean(1)


def squint_signal(weights: np.ndarray) -> np.ndarray:
    return np.asarray(weights, np.float64)[:, SQUINT].mean(1)


def blink_mask(score: np.ndarray, fps: float, margin_s: float = 0.12) -> np.ndarray:
    """(N,) bool: frames within ``margin_s`` of a blink (the tracker's gaze, brow and squint
    scores move with the lids there)."""
    on = score - np.median(score) > BLINK_OFF
    k = int(round(margin_s * fps))
    return np.convolve(on.astype(float), np.ones(2 * k + 1), "same") > 0


def deviation(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(N, ...) -> deviation from the median of the kept frames; dropped frames interpolated."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    out = x - np.median(x[keep], axis=0)
    idx = np.arange(len(x))
    for c in range(out.shape[1]):
        out[~keep, c] = np.interp(idx[~keep], idx[keep], out[keep, c])
    return out


def saccades(gaze: np.ndarray, fps: float, threshold: float) -> np.ndarray:
    """(N, 2) gaze radians -> (N,) bool: frames whose gaze moved more than ``threshold`` rad since the last."""
    step = np.r_[0.0, np.linalg.norm(np.diff(gaze, axis=0), axis=1)]
    return step > threshold


def speech_state(level: np.ndarray, fps: float) -> np.ndarray:
    """(N,) loudness -> (N,) 0 speech, 1 phrase end (within PHRASE_END_S of speech stopping), 2 silence."""
    state = np.full(len(level), 2)
    state[level > SPEECH] = 0
    ended = np.flatnonzero((level[:-1] > SPEECH) & (level[1:] <= SPEECH)) + 1
    for e in ended:
        run = np.arange(e, min(len(level), e + int(round(PHRASE_END_S * fps))))
        run = run[level[run] <= SPEECH]
        state[run] = 1
    return state


# ----------------------------------------------------------------------------- data
def clip_splits(video: Path) -> dict[str, list[Path]]:
    """The folder's videos by split (train/val/test), as the corpus splits them."""
    out: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for p in sorted(q for q in video.rglob("*") if q.suffix.lower() in VIDEO_SUFFIXES):
        out[split_of_prompt(p.stem)].append(p)
    return out


def load_clip(path: Path, cache: Path) -> Clip:
    """Track (or read the cached tracking of) one video -> :class:`Clip`."""
    cached = cache / f"{path.stem}.npz"
    if cached.is_file():
        tracking = Tracking.load(cached)
    else:
        tracking = track_video(path, progress=False)
        cache.mkdir(parents=True, exist_ok=True)
        tracking.save(cached)
    y = load(path)
    n = len(tracking.found)
    level60 = loudness(y, max(1, int(np.ceil(len(y) / SR * FPS))))
    level = resample_frames(level60[:, None], FPS, tracking.fps, n)[:, 0]
    head = head_angles(tracking.pose)
    return Clip(path.stem, tracking.fps, tracking.scores, head - head.mean(0), level)


# ----------------------------------------------------------------------------- the fit
def fit_blinks(clips: list[Clip]) -> dict:
    """Rate, hazard by speech state, double blinks (share and gap), gamma shape of the other
    intervals, duration and profile."""
    n_state, t_state, widths, intervals, profiles, peaks = np.zeros(3), np.zeros(3), [], [], [], []
    eligible, gaps = 0, []
    grid = np.arange(PROFILE_START, PROFILE_END + 1e-9, PROFILE_STEP)
    for c in clips:
        score = blink_score(c.scores)
        state = speech_state(c.level, c.fps)
        t_state += np.bincount(state, minlength=3) / c.fps
        found = blinks(score, c.fps)
        for k, (onset, peak, fwhm) in enumerate(found):
            n_state[state[min(len(state) - 1, int(round(onset * c.fps)))]] += 1
            if np.isfinite(fwhm):
                widths.append(fwhm)
                u = (np.arange(len(score)) / c.fps - peak) / fwhm
                base = np.median(score)
                peaks.append(score[int(round(peak * c.fps))] - base)
                profiles.append(np.interp(grid, u, (score - base) / (score[int(round(peak * c.fps))] - base)))
            eligible += c.duration - onset >= BURST_S  # a double could have been seen
            if k + 1 < len(found):
                gap = found[k + 1][0] - onset
                (gaps if gap < BURST_S else intervals).append(gap if gap < BURST_S else (gap, c.duration - onset))
    rate = n_state.sum() / t_state.sum()
    hazard = (n_state / np.maximum(t_state, 1e-9)) / rate
    double = len(gaps) / max(eligible, 1)
    primary_rate = rate / (1 + double)  # each renewal blink brings 1 + double blinks
    shape = _gamma_shape(np.array(intervals), 1 / primary_rate)
    prof = np.clip(np.mean(profiles, 0), 0, None)
    prof = prof / prof.max()
    k = int(np.argmax(prof))
    own = _cross(prof[k:], 0.5) + _cross(prof[:k + 1][::-1], 0.5)  # the mean is wider than its blinks
    step, start = PROFILE_STEP / (own * PROFILE_STEP), PROFILE_START / (own * PROFILE_STEP)
    taper = np.minimum(1.0, np.minimum(np.arange(len(prof)), np.arange(len(prof))[::-1]) / 3)
    prof = prof * taper  # neighbouring blinks leak into the mean's ends: fade them to rest
    logw = np.log(widths)
    return dict(rate_hz=round(float(rate), 4), shape=round(shape, 3),
                scale=round(float(1 / primary_rate / shape), 4), double=round(double, 4),
                double_gap_log_mean=round(float(np.log(gaps).mean()), 4),
                double_gap_log_std=round(float(np.log(gaps).std()), 4),
                hazard=dict(speech=round(float(hazard[0]), 3), phrase_end=round(float(hazard[1]), 3),
                            silence=round(float(hazard[2]), 3)),
                phrase_end_s=PHRASE_END_S, fwhm_log_mean=round(float(logw.mean()), 4),
                fwhm_log_std=round(float(logw.std()), 4), profile_start=round(float(start), 4),
                profile_step=round(float(step), 4), profile=[round(float(v), 4) for v in prof],
                amplitude=round(float(np.median(peaks)), 4),  # the tracker's lid score at a blink's peak
                blinks=int(n_state.sum()), seconds=round(float(t_state.sum()), 1))


def _gamma_shape(intervals: np.ndarray, mean: float) -> float:
    """Gamma shape (mean fixed) maximising the likelihood of within-clip intervals of at least
    BURST_S (shorter ones are doubles), each truncated at the time its clip had left (longer
    intervals cannot be seen in a short clip)."""
    from scipy import stats

    x, limit = intervals[:, 0], intervals[:, 1]
    best, best_ll = 1.0, -np.inf
    for k in np.arange(0.5, 8.01, 0.1):
        d = stats.gamma(k, scale=mean / k)
        ll = float(np.sum(d.logpdf(x) - np.log(np.maximum(d.cdf(limit) - d.cdf(BURST_S), 1e-12))))
        if ll > best_ll:
            best, best_ll = float(k), ll
    return best


def fit_gaze(clips: list[Clip]) -> dict:
    """Gaze spread (std per axis, radians), saccade threshold and fixation durations."""
    gazes, steps = [], []
    for c in clips:
        keep = ~blink_mask(blink_score(c.scores), c.fps)
        if keep.sum() < 10:
            continue
        g = deviation(gaze_angles(c.scores), keep)
        gazes.append((c, g, keep))
        steps.append(np.linalg.norm(np.diff(g, axis=0), axis=1)[keep[1:] & keep[:-1]])
    step = np.concatenate(steps)
    threshold = float(np.median(step) * 4)  # well above the tracker's frame-to-frame jitter
    fixations, spread = [], []
    for c, g, keep in gazes:
        s = np.flatnonzero(saccades(g, c.fps, threshold) & keep)
        starts = s[np.r_[True, np.diff(s) > 1]] if len(s) else s
        fixations += list(np.diff(starts) / c.fps)
        spread.append(g[keep])
    spread = np.concatenate(spread)
    logf = np.log(np.maximum(fixations, 1 / 25))
    return dict(std=[round(float(v), 5) for v in spread.std(0)], saccade_threshold=round(threshold, 5),
                fixation_log_mean=round(float(logf.mean()), 4), fixation_log_std=round(float(logf.std()), 4),
                saccade_frames=3, fixations=len(fixations))


def fit_expression(clips: list[Clip], seed: int = 0) -> dict:
    """Brow and squint deviations: gain on loudness features [1, x, x^2] (kept where the
    prediction correlates with the data at r >= 0.1), and an AR(1) residual with the real
    correlation between channels whose 60 fps coefficient and strength are found by simulation
    so that its within-clip std and speed, measured at the video's rate, are the real ones. The
    residual is the head's smooth second-order process (an AR(1) is rougher than the tracked
    curves at any coefficient), driven by noise with the channels' real correlation."""
    ys, xs = [], []
    for c in clips:
        keep = ~blink_mask(blink_score(c.scores), c.fps)
        if keep.sum() < 10:
            continue
        y = deviation(np.stack([brow_signal(c.scores), squint_signal(c.scores)], 1), keep)
        ys.append(y)
        xs.append(np.stack([np.ones_like(c.level), c.level, c.level ** 2], 1))
    y, x = np.concatenate(ys), np.concatenate(xs)
    gain, *_ = np.linalg.lstsq(x, y, rcond=None)
    corr = [float(np.corrcoef(x @ gain[:, k], y[:, k])[0, 1]) for k in range(y.shape[1])]
    for k, r in enumerate(corr):
        if not r >= 0.1:
            gain[:, k] = [y[:, k].mean(), 0.0, 0.0]
    fps = clips[0].fps
    res = [yy - xx @ gain for yy, xx in zip(ys, xs)]
    std = np.median([r.std(0) for r in res], 0)
    speed = np.median([np.abs(np.diff(r, axis=0)).mean(0) * fps for r in res], 0)
    corr_res = np.corrcoef(np.concatenate(res).T)
    levels = [resample_frames(c.level[:, None], c.fps, FPS)[:, 0] for c in clips]
    omega, sigma = _calibrate(levels, std, speed, np.zeros(len(std)), 0.0, fps, seed)
    return dict(channels=["brow", "squint"], gain=np.round(gain.T, 6).tolist(), loudness_r=np.round(corr, 3).tolist(),
                omega=np.round(omega, 4).tolist(), sigma=np.round(sigma, 6).tolist(),
                noise_corr=np.round(corr_res, 4).tolist(),
                real_std=np.round(std, 5).tolist(), real_speed=np.round(speed, 5).tolist())


def _calibrate(levels: list[np.ndarray], std: np.ndarray, speed: np.ndarray, mod: np.ndarray, mean_level: float,
               fps: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, (omega, sigma) of the second-order process whose simulated within-clip std
    and speed (at ``fps``) are ``std`` and ``speed``: omega sets their ratio, sigma the scale."""
    omega, sigma = np.zeros(len(std)), np.zeros(len(std))
    for k in range(len(std)):
        best = None
        for w in np.geomspace(0.5, 40, 48):
            s_std, s_speed = _simulate(levels, w, 1.0, mod[k], mean_level, fps, seed)
            err = abs(np.log(s_speed / s_std) - np.log(speed[k] / std[k]))
            if best is None or err < best[0]:
                best = (err, w, std[k] / s_std)
        omega[k], sigma[k] = best[1], best[2]
    return omega, sigma


def head_stats(head: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) radians -> (per-axis std about the clip mean, per-axis mean speed rad/s)."""
    return (head - head.mean(0)).std(0), np.abs(np.diff(head, axis=0)).mean(0) * fps


def fit_head(clips: list[Clip], seed: int = 0) -> dict:
    """Per axis: the real within-clip std and speed, the loudness modulation of the speed, and
    (omega, sigma) of the process found by simulating it on the same clips' loudness."""
    real = [head_stats(c.head, c.fps) for c in clips]
    std, speed = np.median([r[0] for r in real], 0), np.median([r[1] for r in real], 0)
    sp = np.concatenate([np.abs(np.diff(c.head, axis=0)) * c.fps for c in clips])
    lv = np.concatenate([c.level[1:] for c in clips])
    mean_level = float(lv.mean())
    mod = np.zeros(3)
    for k in range(3):
        slope, icpt = np.polyfit(lv - mean_level, sp[:, k], 1)
        mod[k] = max(0.0, slope / max(icpt, 1e-9))
    levels = [resample_frames(c.level[:, None], c.fps, FPS)[:, 0] for c in clips]
    omega, sigma = _calibrate(levels, std, speed, mod, mean_level, clips[0].fps, seed)
    return dict(omega=np.round(omega, 4).tolist(), sigma=np.round(sigma, 6).tolist(),
                loudness_mod=np.round(mod, 4).tolist(), mean_loudness=round(mean_level, 4),
                real_std=np.round(std, 5).tolist(), real_speed=np.round(speed, 5).tolist())


def _simulate(levels: list[np.ndarray], omega: float, sigma: float, mod: float, mean_level: float,
              fps_out: float, seed: int) -> tuple[float, float]:
    """Median within-clip std and speed of one head axis simulated over the clips' loudness (60 fps,
    all clips at once), measured at ``fps_out``."""
    rng = np.random.default_rng(seed)
    n = max(len(lv) for lv in levels)
    level = np.stack([np.pad(lv, (0, n - len(lv)), mode="edge") for lv in levels])
    x, v, out = np.zeros(len(levels)), np.zeros(len(levels)), np.empty((len(levels), n))
    noise = rng.standard_normal((n, len(levels)))
    for i in range(n):
        head_step(x, v, noise[i], sigma * np.maximum(0.0, 1 + mod * (level[:, i] - mean_level)), omega, 1 / FPS)
        out[:, i] = x
    stds, speeds = [], []
    for k, lv in enumerate(levels):
        o = resample_frames(out[k, :len(lv), None].astype(np.float32), FPS, fps_out)
        s, p = head_stats(o, fps_out)
        stds.append(s[0])
        speeds.append(p[0])
    return float(np.median(stds)), float(np.median(speeds))


def fit(clips: list[Clip]) -> dict:
    return dict(source=f"{len(clips)} tracked train clips ({sum(c.duration for c in clips) / 60:.1f} min)",
                fps=FPS, blink=fit_blinks(clips), gaze=fit_gaze(clips), expression=fit_expression(clips),
                head=fit_head(clips))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m voca_cn.training.fit_living", description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, required=True, help="folder of talking-face videos (e.g. grid-s1)")
    ap.add_argument("--cache", type=Path, required=True, help="folder for the trackings (reused)")
    ap.add_argument("--train", type=int, default=220, help="train clips used (every k-th, spread over the folder)")
    ap.add_argument("--out", type=Path, default=MODEL)
    a = ap.parse_args(argv)
    train = clip_splits(a.video)["train"]
    train = train[::max(1, len(train) // a.train)][:a.train]
    from tqdm import tqdm

    clips = [load_clip(p, a.cache) for p in tqdm(train, desc="clips", file=sys.stderr)]
    params = fit(clips)
    atomic_write(a.out, json.dumps(params, indent=1))
    print(json.dumps({k: v for k, v in params.items() if k != "blink"} | {"blink": {
        k: v for k, v in params["blink"].items() if k != "profile"}}, indent=1))


if __name__ == "__main__":
    main()
