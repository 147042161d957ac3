"""The living face against real speakers: blink, brow, gaze and head statistics of ``voca_cn.animate``
on held-out tracked video (the clips the fit never saw: the corpus's test split), next to the
tracked ones; the lips before and after the rest/clamp fix; every exported weight within [0, 1].

    python benchmarks/living.py [--video ../shared/corpora/grid-s1] [--cache /tmp/living-cache]
                                [--limit 60] [--json out.json] [--plot docs/living.png]

Both sides are measured the same way at the video's frame rate (generated curves resampled to it):
blinks by :func:`voca_cn.training.fit_living.blinks` (rate per minute, median width at half maximum,
intervals within a clip, compared by the two-sample KS distance), head rotation per-axis std about
the clip mean and mean speed (median over clips), the correlation of head speed with loudness,
the brow signal (up shapes minus down shapes, about the clip median) and gaze spread. MediaPipe's
lid score peaks near 0.55 where a generated blink closes the lids (1.0), so generated blink curves
are measured at the real median amplitude (``living.json`` blink.amplitude, from the train clips). Clip i is
animated with seed i, as different takes of a speaker blink at different moments. Lips: the
template's aperture r against the tracked aperture in the speech window (GRID word timings),
for the network's raw output (before: no clamp, no rest), the shipped output, and mouth-only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from voca_cn.core.arkit import NAMES, gaze_angles
from voca_cn.core.timing import FPS, resample_frames
from voca_cn.motion.living import BLINK, MODEL
from voca_cn.training import fit_living as F

MOUTH = [i for i, n in enumerate(NAMES) if n.startswith(("jaw", "mouth")) or n in ("tongueOut", "cheekPuff")]


def speech_window(video: Path, n: int, fps: float) -> slice:
    """Frames from the first word - 100 ms to the last word + 100 ms (GRID align file), else all."""
    align = video.parent.parent / "align" / f"{video.stem}.align"
    if not align.is_file():
        return slice(0, n)
    words = [ln.split() for ln in align.read_text().splitlines() if len(ln.split()) == 3]
    spoken = [(int(a) / 25000, int(b) / 25000) for a, b, w in words if w not in ("sil", "sp")]
    return slice(max(0, int((spoken[0][0] - 0.1) * fps)), min(n, int(np.ceil((spoken[-1][1] + 0.1) * fps))))


def measure(weights: np.ndarray, head: np.ndarray, level: np.ndarray, fps: float) -> dict:
    """One clip's statistics from (N, 52) weights, (N, 3) head radians and (N,) loudness at ``fps``."""
    score = F.blink_score(weights)
    found = F.blinks(score, fps)
    keep = ~F.blink_mask(score, fps)
    keep = keep if keep.sum() >= 10 else np.ones(len(keep), bool)
    brow = F.deviation(F.brow_signal(weights), keep)[:, 0]
    gaze = F.deviation(gaze_angles(weights), keep)
    std, speed = F.head_stats(head, fps)
    sp = np.linalg.norm(np.diff(head, axis=0), axis=1) * fps
    state = F.speech_state(level, fps)
    return dict(blinks=len(found), seconds=len(weights) / fps,
                widths=[w for _, _, w in found if np.isfinite(w)],
                intervals=[b[0] - a[0] for a, b in zip(found, found[1:])],
                onset_state=[int(state[min(len(state) - 1, int(round(o * fps)))]) for o, _, _ in found],
                state_seconds=(np.bincount(state, minlength=3) / fps).tolist(),
                head_std=std, head_speed=speed, head_loud_r=_r(sp, level[1:]),
                brow_std=float(brow.std()), brow_speed=float(np.abs(np.diff(brow)).mean() * fps),
                brow_loud_r=_r(brow, level), gaze_std=gaze.std(0))


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-9 and b.std() > 1e-9 else float("nan")


def summary(clips: list[dict]) -> dict:
    """Pooled/median figures of a list of :func:`measure` results."""
    secs = sum(c["seconds"] for c in clips)
    n = sum(c["blinks"] for c in clips)
    state_n = np.bincount(sum((c["onset_state"] for c in clips), []), minlength=3)
    state_s = np.sum([c["state_seconds"] for c in clips], 0)
    return dict(blinks_per_min=round(60 * n / secs, 2),
                blink_width_ms=round(1000 * float(np.median(sum((c["widths"] for c in clips), []))), 1),
                blinks_per_min_by_state={k: round(float(60 * state_n[i] / max(state_s[i], 1e-9)), 1)
                                         for i, k in enumerate(("speech", "phrase_end", "silence"))},
                head_std_deg=np.round(np.degrees(np.median([c["head_std"] for c in clips], 0)), 3).tolist(),
                head_speed_deg_s=np.round(np.degrees(np.median([c["head_speed"] for c in clips], 0)), 3).tolist(),
                head_loudness_r=round(float(np.nanmedian([c["head_loud_r"] for c in clips])), 3),
                brow_std=round(float(np.median([c["brow_std"] for c in clips])), 4),
                brow_speed=round(float(np.median([c["brow_speed"] for c in clips])), 4),
                brow_loudness_r=round(float(np.nanmedian([c["brow_loud_r"] for c in clips])), 3),
                gaze_std_deg=np.round(np.degrees(np.median([c["gaze_std"] for c in clips], 0)), 3).tolist())


def ratios(real: dict, gen: dict) -> dict:
    """Generated / real for the figures with a +-30 % target."""
    out = {}
    for k in ("blinks_per_min", "blink_width_ms", "brow_std", "brow_speed"):
        out[k] = round(gen[k] / real[k], 3)
    for k in ("head_std_deg", "head_speed_deg_s"):
        out[k] = [round(g / r, 3) for g, r in zip(gen[k], real[k])]
    return out


def raw_weights(animator, y: np.ndarray, n: int) -> np.ndarray:
    """The lip-sync output as shipped before this change: no [0, 1] clamp, no rest in silence."""
    from voca_cn.audio.features import FRAME_RATE
    from voca_cn.motion.lipsync import close_lips, closure

    probs = animator.stage(y)
    w = animator.net(resample_frames(probs, FRAME_RATE, FPS, n))
    return close_lips(w, resample_frames(closure(probs)[:, None], FRAME_RATE, FPS, n)[:, 0])


def main() -> None:
    import voca_cn
    from voca_cn.audio.load import load
    from voca_cn.core.timing import SR, n_frames
    from voca_cn.formats import resolve
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.video.tracking import Tracking

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpora/grid-s1")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/living-cache"), help="trackings (made when missing)")
    ap.add_argument("--limit", type=int, default=60, help="test clips")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path, help="PNG of real vs generated curves for the first clip")
    ap.add_argument("--plot-seed", type=int, default=1,
                    help="seed of the plotted animation (1: the 3 s clip gets a blink, as in README's --beside picture)")
    a = ap.parse_args()
    template = resolve("makehuman")
    amplitude = json.loads(MODEL.read_text())["blink"]["amplitude"]
    animator = AudioAnimator.load()
    test = F.clip_splits(a.video)["test"][:a.limit]
    real, gen, lips, bounds_seen = [], [], {"before": [], "after": [], "mouth_only_same": True}, []
    for i, video in enumerate(test):
        clip = F.load_clip(video, a.cache)
        tr = Tracking.load(a.cache / f"{video.stem}.npz")
        y = load(video)
        n = n_frames(len(y))
        anim = voca_cn.animate(y, sr=SR, model=animator, living=dict(seed=i))
        still = voca_cn.animate(y, sr=SR, model=animator, living="off")
        lips["mouth_only_same"] &= bool(np.array_equal(anim.weights[:, MOUTH], still.weights[:, MOUTH]))
        bounds_seen.append((float(anim.weights.min()), float(anim.weights.max())))
        m = len(clip.scores)
        w25 = resample_frames(anim.weights, FPS, clip.fps, m)
        w25[:, BLINK] *= amplitude
        h25 = resample_frames(anim.head, FPS, clip.fps, m)
        real.append(measure(clip.scores, clip.head, clip.level, clip.fps))
        gen.append(measure(w25, h25, clip.level, clip.fps))
        target = resample_frames(tr.aperture[:, None], tr.fps, FPS, n)[:, 0]
        win = speech_window(video, n, FPS)
        for key, w in (("before", raw_weights(animator, y, n)), ("after", anim.weights)):
            ap_ = template.aperture(template.deform(w))
            lips[key].append(_r(ap_[win], target[win]))
        print(f"{i + 1}/{len(test)} {video.stem}", file=sys.stderr)
    r, g = summary(real), summary(gen)
    iv_r, iv_g = sum((c["intervals"] for c in real), []), sum((c["intervals"] for c in gen), [])
    from scipy import stats

    lo = min(b[0] for b in bounds_seen)
    hi = max(b[1] for b in bounds_seen)
    out = dict(clips=len(test), real=r, generated=g, generated_over_real=ratios(r, g),
               blink_interval_ks=round(float(stats.ks_2samp(iv_r, iv_g).statistic), 3),
               blink_interval_cv=dict(real=round(float(np.std(iv_r) / np.mean(iv_r)), 3),
                                      generated=round(float(np.std(iv_g) / np.mean(iv_g)), 3)),
               blink_interval_quartiles_s=dict(real=np.round(np.percentile(iv_r, [25, 50, 75]), 3).tolist(),
                                               generated=np.round(np.percentile(iv_g, [25, 50, 75]), 3).tolist()),
               lips=dict(aperture_r_before=round(float(np.nanmean(lips["before"])), 4),
                         aperture_r_after=round(float(np.nanmean(lips["after"])), 4),
                         mouth_only_identical=lips["mouth_only_same"]),
               weights_range=[round(lo, 6), round(hi, 6)])
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    if a.plot and test:
        clip = F.load_clip(test[0], a.cache)
        anim = voca_cn.animate(test[0], model=animator, living=dict(seed=a.plot_seed))
        w25 = resample_frames(anim.weights, FPS, clip.fps, len(clip.scores))
        w25[:, BLINK] *= amplitude
        plot(a.plot, test[0].stem, clip, w25, resample_frames(anim.head, FPS, clip.fps, len(clip.scores)), amplitude)


def plot(path: Path, stem: str, clip, w: np.ndarray, head: np.ndarray, amplitude: float) -> None:
    """Real vs generated blink, brow and head-pitch curves of one clip, with its loudness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(clip.scores)) / clip.fps
    fig, ax = plt.subplots(4, 1, figsize=(8, 7), sharex=True)
    ax[0].plot(t, clip.level, color="grey")
    ax[0].set_ylabel("loudness")
    ax[1].plot(t, F.blink_score(clip.scores), label="real (tracked)")
    ax[1].plot(t, F.blink_score(w), label=f"generated (x{amplitude:.2f}: the tracker's scale)")
    ax[1].set_ylabel("eyeBlink")
    ax[1].legend(loc="upper right", fontsize=8)
    ax[2].plot(t, F.brow_signal(clip.scores) - np.median(F.brow_signal(clip.scores)))
    ax[2].plot(t, F.brow_signal(w))
    ax[2].set_ylabel("brow raise")
    for k, name in enumerate(("yaw", "pitch")):
        ax[3].plot(t, np.degrees(clip.head[:, k]), color=f"C{k * 2}", label=f"real {name}")
        ax[3].plot(t, np.degrees(head[:, k] - head[:, k].mean()), color=f"C{k * 2 + 1}", label=f"generated {name}")
    ax[3].set_ylabel("head (deg)")
    ax[3].set_xlabel(f"seconds (held-out clip {stem})")
    ax[3].legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
