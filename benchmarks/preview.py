"""Can a face tracker read our preview? MediaPipe FaceLandmarker on ``preview.mp4`` vs the intended
mouth aperture, for makehuman and an imported ICT head.

    python benchmarks/preview.py [--clips 4] [--size 512] [--ict ../shared/assets/ict-facekit/FaceXModel.tar.xz]

For each of ``--clips`` GRID s1 sentences (3 s of real speech each, spread over the corpus) the shipped
audio-only model animates the head, ``render_video`` writes the preview MP4 exactly as ``voca-cn animate``
does, and the tracker runs on the decoded frames. Intended aperture = ``Template.aperture`` (inner-lip gap
/ mouth width on the deformed mesh); tracked aperture = |L13 - L14| / |L61 - L291| on the 478 landmarks
(DESIGN.md). Reported, pooled over all frames: share of frames with a face, Pearson r, and the tracked
p10-p90 (and min-max) range as a multiple of the intended one (1.0 = the viewer sees the whole
opening), with the tracker reading each frame alone (IMAGE mode: what the frames show) and tracking
over time (VIDEO mode: its filter lags about one frame and flattens fast openings). The real speaker's
own tracked p10-p90 range (VIDEO mode) is printed for comparison.

    python benchmarks/preview.py --other OUT_DIR

compares another machine's preview with this one's: OUT_DIR is what ``voca-cn animate --no-obj`` wrote
there (``preview.mp4`` and ``animation.npz``; a GPU's driver, say, against llvmpipe here). The same
weights and head motion are drawn here, then per frame PSNR and the share of pixels off by more than 16,
and the tracker's r and ranges on both videos.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from render import SHARED_ICT, heads  # noqa: E402  (benchmarks/render.py: makehuman + ICT)

from voca_cn.video.tracking import track_video  # noqa: E402

GRID = Path(__file__).resolve().parent.parent.parent / "shared/corpora/grid-s1/clips"


def clip_audio(clip: Path, out: Path) -> Path:
    """The clip's soundtrack as a 16 kHz mono WAV (ffmpeg from imageio-ffmpeg)."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-vn", "-ac", "1",
                    "-ar", "16000", str(out)], check=True)
    return out


def spread(n: int) -> list[Path]:
    clips = sorted(GRID.glob("*.mp4"))
    return [clips[i] for i in np.linspace(0, len(clips) - 1, n).astype(int)]


def track(video: Path, per_frame: bool) -> np.ndarray:
    """Tracked aperture per frame (T,), NaN where no face was found."""
    t = track_video(video, progress=False, per_frame=per_frame)
    return np.where(t.found, t.aperture, np.nan)


def ratios(intended: np.ndarray, tracked: np.ndarray) -> dict[str, float]:
    """r and the tracked/intended p10-p90 and min-max range ratios over frames with a face."""
    ok = np.isfinite(tracked)
    a, b = intended[ok], tracked[ok]
    p = lambda x: np.percentile(x, 90) - np.percentile(x, 10)  # noqa: E731
    return {"found": ok.mean(), "r": np.corrcoef(a, b)[0, 1], "p10_90": p(b) / p(a),
            "full": np.ptp(b) / np.ptp(a)}


def compare(other: Path, size: int) -> None:
    """``other``/preview.mp4 (drawn elsewhere) against the same animation drawn here: pixels and the
    tracker's reading of each."""
    import imageio.v3 as iio

    from voca_cn.formats import resolve
    from voca_cn.render import render_video

    a = np.load(other / "animation.npz")
    t = resolve(str(a["template"]).split("@")[0])  # "name@hash"
    here = Path(tempfile.mkdtemp()) / "preview.mp4"
    render_video(t, a["weights"], here, width=size, height=size, head=a["head"] if "head" in a else None)
    psnr, off = [], []
    for x, y in zip(iio.imiter(other / "preview.mp4", plugin="FFMPEG"), iio.imiter(here, plugin="FFMPEG")):
        d = x.astype(np.float32) - y  # a frame at a time: a minute of frames is 2.8 GB
        psnr.append(10 * np.log10(255 ** 2 / max(float((d ** 2).mean()), 1e-9)))
        off.append(float((np.abs(d) > 16).any(-1).mean()))
    print(f"{len(psnr)} frames: PSNR median {np.median(psnr):.1f} dB (lowest {min(psnr):.1f}), "
          f"pixels off by more than 16: {100 * np.mean(off):.2f} %")
    intended = t.aperture(t.deform(a["weights"]))
    for name, video in (("other", other / "preview.mp4"), ("here", here)):
        for per_frame in (True, False):
            tracked = track(video, per_frame)
            n = min(len(tracked), len(intended))
            m = ratios(intended[:n], tracked[:n])
            print(f"{name:<6} {'IMAGE' if per_frame else 'VIDEO'}: face found {100 * m['found']:.1f} %, r {m['r']:.3f}, "
                  f"p10-p90 x {m['p10_90']:.3f}, range x {m['full']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4, help="GRID s1 sentences, spread over the corpus")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--ict", type=Path, default=SHARED_ICT, help="FaceXModel folder or its .tar.xz")
    ap.add_argument("--view", default="face", help="preview framing (face or head)")
    ap.add_argument("--keep", type=Path, help="keep the preview MP4s in this folder")
    ap.add_argument("--other", type=Path, help="compare this animate output folder's preview with one drawn here")
    args = ap.parse_args()
    if args.other:
        return compare(args.other, args.size)
    from voca_cn.audio import load as audio_mod
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.render import render_video

    animator = AudioAnimator.load()
    work = Path(tempfile.mkdtemp())
    clips = spread(args.clips)
    wavs = [clip_audio(c, work / f"{c.stem}.wav") for c in clips]
    weights = [animator(audio_mod.load(w)) for w in wavs]
    real = np.concatenate([track(c, per_frame=False) for c in clips])
    real = real[np.isfinite(real)]
    print(f"real speaker (GRID s1, {len(clips)} clips): tracked aperture p10-p90 "
          f"{np.percentile(real, 10):.3f}-{np.percentile(real, 90):.3f}")
    print(f"{'template':<10} {'frames':>6} {'face found':>10} {'r':>6} {'p10-p90 x':>9} {'range x':>8} "
          f"{'r video':>8} {'p10-p90 x video':>15}  intended / tracked p10-p90   ({args.size}x{args.size}, view {args.view})")
    for name, t in heads(args.ict).items():
        intended, tracked, smoothed = [], [], []
        for clip, wav, w in zip(clips, wavs, weights):
            out = (args.keep or work) / f"{name}-{clip.stem}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            render_video(t, w, out, wav, width=args.size, height=args.size, view=args.view)
            intended.append(t.aperture(t.deform(w)))
            tracked.append(track(out, per_frame=True))
            smoothed.append(track(out, per_frame=False))
        a, b, c = np.concatenate(intended), np.concatenate(tracked), np.concatenate(smoothed)
        m, v = ratios(a, b), ratios(a, c)
        q = lambda x: f"{np.nanpercentile(x, 10):.3f}-{np.nanpercentile(x, 90):.3f}"  # noqa: E731
        print(f"{name:<10} {len(a):>6} {100 * min(m['found'], v['found']):>9.1f}% {m['r']:>6.3f} {m['p10_90']:>9.2f} "
              f"{m['full']:>8.2f} {v['r']:>8.3f} {v['p10_90']:>15.2f}  {q(a)} / {q(b)}")
        if args.keep:
            np.savez(args.keep / f"{name}.npz", intended=a, tracked=b, tracked_video=c)


if __name__ == "__main__":
    main()
