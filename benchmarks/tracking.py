"""Benchmark the face tracker and its calibration on real talking-face clips.

Per clip: tracking speed (video frames per second, decoding included), faces found, and how well
a template replays the tracked mouth: the template's aperture under MediaPipe's raw blendshape
scores vs under the calibrated curves (`voca_cn.video.tracking.calibrate`), each against the tracked
aperture (Pearson r, and the ratio of p10-p90 ranges: 1.0 = the head opens as far as the speaker).

    python benchmarks/tracking.py [--video ../shared/corpora/grid-s1] [--clips 20]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from voca_cn.core.timing import resample_frames
from voca_cn.formats import resolve
from voca_cn.video.tracking import calibrate, track_video


def spread(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [10, 90])
    return float(hi - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "grid-s1"))
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--templates", default="makehuman", help="comma-separated template names")
    args = ap.parse_args()

    videos = sorted(Path(args.video).rglob("*.mp4"))
    videos = videos[::max(1, len(videos) // args.clips)][:args.clips]  # spread over the corpus
    heads = [resolve(t) for t in args.templates.split(",")]
    frames = wall = found = 0
    rows = {h.name: {"raw_r": [], "raw_range": [], "cal_r": [], "cal_range": []} for h in heads}
    for v in videos:
        t0 = time.perf_counter()
        tr = track_video(v, progress=False)
        wall += time.perf_counter() - t0
        frames += len(tr.found)
        found += int(tr.found.sum())
        for h in heads:
            cal = calibrate(tr, h)
            raw = np.clip(resample_frames(tr.scores, tr.fps, 60, len(cal)), 0, 1)
            real = resample_frames(tr.aperture[:, None], tr.fps, 60, len(cal))[:, 0]
            for kind, w in (("raw", raw), ("cal", cal)):
                a = h.aperture(h.deform(w))
                rows[h.name][f"{kind}_r"].append(float(np.corrcoef(a, real)[0, 1]))
                rows[h.name][f"{kind}_range"].append(spread(a) / spread(real))
    out = {"clips": len(videos), "frames": frames, "faces_found": found / frames,
           "tracking_fps": frames / wall}
    for name, r in rows.items():
        out[name] = {k: round(float(np.mean(v)), 4) for k, v in r.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
