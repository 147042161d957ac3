"""Any head: rig every head in ``../shared/assets/heads-3p`` (and any given on the command line), animate
speech on it, and ask a face tracker to read the mouth on our preview.

Heads: the arguments, else every head in heads-3p plus two held-out ones made here from the shared
ICT-FaceKit (re-meshed, other units, orientations and formats: ``remeshed_ict``). Per head: the time to make it
animatable (``voca_cn.rig.resolve``, what ``--template HEAD`` does, with an empty cache: rigging for a
head without shapes, reading for a VRM whose expressions we drive; wall seconds, including starting
the renderer and the tracker, and CPU seconds of this process and the spawned renderer). Then speech (``data/examples/hello.wav`` and, where present, GRID s1
clips) goes through the lip-sync network, rendered as ``preview.mp4`` would be (H.264, 512x512, face
view). MediaPipe FaceLandmarker reads each frame alone; intended aperture = ``Template.aperture`` on
the deformed mesh (inner-lip gap / mouth width), tracked = |L13 - L14| / |L61 - L291|. Reported:
frames with a face, Pearson r, tracked/intended p10-p90 and min-max range ratios, and deform speed
(frames/s).

    VOCA_CN_HOME=$(mktemp -d) nice -n 10 python benchmarks/any_head.py [HEAD ...] [--clips 2] [--keep DIR]
        [--pictures docs/any_head]   # README's pictures: closed, jaw open, "oo", "ee" per head
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from preview import GRID, clip_audio, ratios, track  # noqa: E402  (benchmarks/preview.py)
from render import SHARED_ICT, heads as builtin_heads  # noqa: E402  (benchmarks/render.py)

from voca_cn import VocaError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HEADS_3P = ROOT.parent / "shared" / "assets" / "heads-3p"


def shared_heads() -> list[Path]:
    """The third-party heads: every OBJ/PLY/glTF/GLB/VRM under heads-3p (sorted)."""
    return sorted(p for p in HEADS_3P.rglob("*") if p.suffix.lower() in (".obj", ".ply", ".gltf", ".glb", ".vrm"))


def remeshed_ict(out: Path) -> list[Path]:
    """Held-out heads none of the rigging was tuned on, made from the shared ICT-FaceKit with a new
    topology (every triangle subdivided once), in other units, orientations and formats:

    - ict_skin_zup_mm.obj: the skin alone (no eyes, no mouth inside), Z up facing -Y (Blender's
      convention), millimetres;
    - ict_whole_back_cm.ply: skin, eyeballs, teeth and mouth socket as one unlabelled mesh (a PLY
      says nothing about parts), facing -Z (VRM 0.x's convention), centimetres.
    """
    import trimesh

    from voca_cn.face.template import PARTS

    ict = builtin_heads(SHARED_ICT).get("ict")
    if ict is None:
        return []
    made = []
    for name, keep, turn, scale in (
            ("ict_skin_zup_mm.obj", ["skin"], (np.pi / 2, [1, 0, 0]), 1000.0),
            ("ict_whole_back_cm.ply", ["skin", "eye", "teeth", "mouth"], (np.pi, [0, 1, 0]), 100.0)):
        drawn = np.isin(ict.vertex_parts, [PARTS.index(p) for p in keep])
        mesh = trimesh.Trimesh(ict.vertices, ict.faces[drawn[ict.faces].all(1)], process=False)
        mesh.remove_unreferenced_vertices()
        mesh = mesh.subdivide()
        mesh.apply_transform(trimesh.transformations.rotation_matrix(*turn))
        mesh.apply_scale(scale)
        mesh.export(out / name)
        made.append(out / name)
    return made


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (the spawned renderer): on a
    shared, loaded machine a fairer measure of the work than wall seconds."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def poses() -> np.ndarray:
    """(4, 52): closed, jaw open, "oo" (funnel + pucker), "ee" (stretch + smile)."""
    from voca_cn.core.arkit import INDEX

    w = np.zeros((4, 52), np.float32)
    w[1, INDEX["jawOpen"]] = 0.7
    w[2, [INDEX["mouthFunnel"], INDEX["mouthPucker"], INDEX["jawOpen"]]] = 0.8, 0.5, 0.2
    w[3, [INDEX["mouthStretchLeft"], INDEX["mouthStretchRight"], INDEX["mouthSmileLeft"],
          INDEX["mouthSmileRight"], INDEX["jawOpen"]]] = 0.6, 0.6, 0.4, 0.4, 0.15
    return w


def pictures(t, out: Path) -> None:
    """The four poses side by side as one PNG (preview renderer, face view)."""
    import imageio.v3 as iio

    from voca_cn.render import render_frames

    out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out, np.concatenate(list(render_frames(t, poses(), 192, 192)), axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("heads", nargs="*", type=Path, help="more heads (default: heads-3p)")
    ap.add_argument("--clips", type=int, default=2, help="GRID s1 clips besides hello.wav (0: none)")
    ap.add_argument("--keep", type=Path, help="keep previews and rigged templates in this folder")
    ap.add_argument("--pictures", type=Path, help="write HEAD.png (closed, open, oo, ee; 192 px each) here")
    args = ap.parse_args()
    from voca_cn.audio import load as audio_mod
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.render import render_video
    from voca_cn.rig import resolve

    work = args.keep or Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    heads = args.heads or shared_heads() + remeshed_ict(work)
    if not heads:
        raise SystemExit(f"no heads given and no {HEADS_3P}; pass head files")
    clips = sorted(GRID.glob("*.mp4"))[: args.clips] if GRID.is_dir() else []
    wavs = [ROOT / "data/examples/hello.wav"] + [clip_audio(c, work / f"{c.stem}.wav") for c in clips]
    animator = AudioAnimator.load()
    weights = [animator(audio_mod.load(w)) for w in wavs]
    print(f"{'head':<28} {'rig s':>6} {'cpu s':>6} {'verts':>6} {'frames':>6} {'face':>6} {'r':>6} {'p10-p90 x':>9} "
          f"{'range x':>8} {'deform fps':>10}")
    for path in heads:
        start, cpu = time.perf_counter(), cpu_seconds()
        try:
            t = resolve(path)
        except Exception as e:  # noqa: BLE001 - a head that cannot be rigged is a result too
            print(f"{path.name:<28} cannot rig: {e}")
            continue
        rig_s, rig_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        if args.keep:
            t.save(work / f"{path.stem}.npz")
        if args.pictures:
            pictures(t, args.pictures / f"{path.stem}.png")
        start = time.perf_counter()
        intended = [t.aperture(t.deform(w)) for w in weights]
        fps = sum(map(len, weights)) / (time.perf_counter() - start)
        tracked = []
        for k, (wav, w) in enumerate(zip(wavs, weights)):
            out = work / f"{path.stem}-{k}.mp4"
            render_video(t, w, out, wav)
            try:
                tracked.append(track(out, per_frame=True))
            except VocaError:  # the tracker sees no face in any frame: a result, not a crash
                tracked.append(np.full(len(w), np.nan))
        a, b = np.concatenate(intended), np.concatenate(tracked)
        m = ratios(a, b) if np.isfinite(b).sum() > 2 else {"found": 0.0, "r": np.nan, "p10_90": np.nan, "full": np.nan}
        print(f"{path.name:<28} {rig_s:>6.1f} {rig_cpu:>6.1f} {t.n_vertices:>6} {len(a):>6} {100 * m['found']:>5.0f}% "
              f"{m['r']:>6.3f} {m['p10_90']:>9.2f} {m['full']:>8.2f} {fps:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
