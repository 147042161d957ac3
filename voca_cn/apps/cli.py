"""``voca-cn`` command line. Logs and progress go to stderr; data to files or stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from voca_cn import VocaError, __version__
from voca_cn.apps import develop
from voca_cn.core import bounds

MODEL_HELP = ("trained model folder, or a shipped one: 'clean' (best on clean speech) or 'robust' (trained on "
              "degraded audio); default: both, mixed by how much they disagree (robust where the audio is noisy)")


class _Parser(argparse.ArgumentParser):
    """Usage errors (a missing flag, a number out of range) as the one ``voca-cn: error:`` line
    every other bad input gets, exit 2."""

    def error(self, message: str):
        self.exit(2, f"voca-cn: error: {message} (see `{self.prog} --help`)\n")


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", default="makehuman",
                   help="built-in/imported name, template .npz, an OBJ/PLY of a known topology, or an "
                        "ARKit-rigged avatar .glb/.gltf/.vrm (default: makehuman)")
    p.add_argument("--out", required=True, type=Path, help="output directory (refused if it exists)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-video", action="store_true", help="skip preview.mp4")
    obj = p.add_mutually_exclusive_group()
    obj.add_argument("--no-obj", dest="obj", action="store_false", default=None,
                     help="skip the per-frame OBJ sequence")
    obj.add_argument("--obj", dest="obj", action="store_true",
                     help="write the OBJ sequence even when it is large (by default it is written up to "
                          "10 GB, ~5 min of makehuman; beyond that --export pc2 is the compact choice)")
    _video_flags(p)
    p.add_argument("--view", choices=["face", "head"], default="face",
                   help="preview framing: face (eyes to chin, default) or head")
    p.add_argument("--beside", type=Path, metavar="VIDEO",
                   help="show this video (e.g. the real speaker) beside the preview, time-aligned")
    _export_flag(p)


def _export_flag(p: argparse.ArgumentParser, extra: str = "") -> None:
    p.add_argument("--export", default="", metavar="LIST",
                   help=f"also write, comma-separated: {extra}glb (animation.glb: mesh or whole avatar + animation), "
                        "livelink (livelink.csv, Live Link Face), arkit-json (arkit.json), "
                        "pc2 (animation.pc2 point cache + its base mesh animation.obj)")


def _video_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=bounds.size, default=(512, 512), help="video size WxH (default 512x512)")
    p.add_argument("--fps", type=bounds.FPS.arg, default=60, help="output frame rate (default 60)")


def _style_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jaw", type=bounds.JAW.arg, default=1.0,
                   help="jaw articulation of the procedural animator (JALI style; 0-2, 1 = normal)")
    p.add_argument("--lip", type=bounds.LIP.arg, default=1.0,
                   help="lip articulation of the procedural animator (JALI style; 0-2, 1 = normal)")


def _living_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("living face (blinks, gaze, brows, head motion learned from real video)")
    for name, what in (("blink", "blinks"), ("brows", "brow and squint motion"), ("gaze", "eye movements"),
                       ("head", "head rotation"), ("intensity", "all of them")):
        g.add_argument(f"--{name}", type=bounds.LIVING.arg, default=1.0,
                       help=f"scale of {what} (0 = off, 1 = as learned, up to 2)")
    g.add_argument("--seed", type=bounds.SEED.arg, default=0, help="random seed of the living face (same seed, same motion)")
    g.add_argument("--mouth-only", action="store_true",
                   help="no blinks, gaze, brows or head motion: the mouth model's curves alone "
                        "(for avatars with their own blink and idle systems)")


def _living(args):
    from voca_cn.motion.living import MOUTH_ONLY, Living

    if args.mouth_only:
        return MOUTH_ONLY
    return Living(blink=args.blink, brows=args.brows, gaze=args.gaze, head=args.head,
                  intensity=args.intensity, seed=args.seed)


def _identity(text: str) -> list[float]:
    """argparse type for ``--identity a0,a1,...``: each coefficient checked by bounds.IDENTITY."""
    return [bounds.IDENTITY.arg(x) for x in text.split(",")]


def _check_output(args) -> None:
    """Refuse a bad --out or --export before any work (numbers are checked by the parser)."""
    from voca_cn.core.files import check_output_dir

    check_output_dir(args.out, args.overwrite)
    _exports(args)


def _export_list(text: str) -> tuple[str, ...]:
    """argparse type for ``batch --export``; the formats load only when the flag is given (start-up)."""
    from voca_cn.apps.manifest import export_list

    return export_list(text)


def _exports(args) -> tuple[str, ...]:
    from voca_cn.formats import parse_exports

    return parse_exports(args.export)


def _noted(animation):
    """``animation``, its transcript's alignment method and confidence said on stderr; without a
    transcript, a take that sounds degraded is said to be, with what helps."""
    if animation.alignment:
        from voca_cn.motion.transcript import note

        print(note(animation.alignment), file=sys.stderr)
    else:
        from voca_cn.motion.fallback import degraded

        if said := degraded(animation.disagreement):
            print(f"voca-cn: {said}: the robust model carries it; with its transcript (--text) the lips close on "
                  "more of its p, b and m", file=sys.stderr)
    return animation


def _save(animation, args) -> None:
    out = animation.save(args.out, obj=args.obj, video=not args.no_video, size=args.size,
                         fps=args.fps, overwrite=args.overwrite, exports=_exports(args),
                         view=args.view, beside=args.beside)
    print(out)


def _language_flag(p) -> None:
    p.add_argument("--language", default="auto", metavar="CODE",
                   help="the transcript's language: auto (Chinese characters or toned pinyin -> cmn, "
                        "else en), cmn, or a code espeak-ng speaks (de, fr, es, ru, ...)")


def _text(args) -> str | None:
    if getattr(args, "transcript", None):
        from voca_cn.speech.align import read_transcript

        path = Path(args.transcript)
        if not path.is_file():
            raise VocaError(f"transcript {path} does not exist; check the path")
        return read_transcript(path)
    return args.text


# ---------------------------------------------------------------------------- commands
def cmd_animate(args) -> None:
    from voca_cn.api import animate
    from voca_cn.rig import resolve
    from voca_cn.motion.procedural import Style

    _check_output(args)
    template = resolve(args.template)
    _save(_noted(animate(args.audio, text=_text(args), template=template, style=Style(jaw=args.jaw, lip=args.lip),
                         model=args.model, procedural=args.procedural, language=args.language, living=_living(args))), args)


def cmd_batch(args) -> int:
    from voca_cn.apps.batch import Line, Settings, run_batch

    defaults = Line(id="", audio="", template=args.template, jaw=args.jaw, lip=args.lip, exports=args.export,
                    language=args.language, living=_living(args))
    settings = Settings(model=args.model, procedural=args.procedural, size=args.size, fps=args.fps)
    use_ray = args.ray is not None
    jobs = args.jobs if args.jobs or use_ray else len(os.sched_getaffinity(0))
    summary = run_batch(args.source, args.out, defaults, settings, jobs, args.ray or None, use_ray)
    print(json.dumps(summary))
    if summary["failed"]:
        print(f"voca-cn: {summary['failed']} of {summary['lines']} lines failed; "
              f"see {args.out / 'failures.jsonl'}", file=sys.stderr)
        return 1
    return 0


def cmd_render(args) -> None:
    from voca_cn.api import load
    from voca_cn.rig import resolve

    _check_output(args)
    _save(load(args.animation, args.audio, resolve(args.template)), args)


def cmd_track(args) -> None:
    import numpy as np
    import soundfile as sf

    from voca_cn.audio.load import video_audio
    from voca_cn.core.files import atomic_dir, check_output_dir
    from voca_cn.core.timing import SR
    from voca_cn.rig import resolve
    from voca_cn.formats.animation import save_animation
    from voca_cn.video.tracking import calibrate, track_video

    check_output_dir(args.out, args.overwrite)
    template = resolve(args.template)
    tracking = track_video(args.video)
    weights = calibrate(tracking, template)
    audio = video_audio(args.video) if not args.no_audio else None
    with atomic_dir(args.out, args.overwrite) as tmp:
        save_animation(tmp / "animation.npz", weights, 60, template)
        tracking.save(tmp / "tracking.npz")
        if audio is not None:
            sf.write(tmp / "audio.wav", audio, SR, subtype="PCM_16")
    missing = int((~tracking.found).sum())
    if missing:
        print(f"no face in {missing} of {len(tracking.found)} frames: interpolated from their neighbours",
              file=sys.stderr)
    json.dump({"out": str(args.out), "frames": len(tracking.found), "fps": tracking.fps,
               "duration_s": round(tracking.duration, 3), "faces_found": int(tracking.found.sum()),
               "interpolated": missing, "animation_frames": len(weights),
               "aperture_p10_p90": [round(float(v), 4) for v in np.percentile(tracking.aperture, [10, 90])]},
              sys.stdout, indent=1)
    print()


def cmd_sync(args) -> None:
    from voca_cn.audio.load import load
    from voca_cn.rig import resolve
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.video.sync import audio_aperture, offset, shift_audio, sync_report, verdict
    from voca_cn.video.tracking import track_video

    if args.shift and args.shift.exists():
        raise VocaError(f"{args.shift} already exists; choose another --shift file")
    audio = load(args.audio or args.video)
    tracking = track_video(args.video)
    predicted = audio_aperture(audio, AudioAnimator.load(args.model), resolve(args.template))
    result = offset(tracking.aperture, tracking.fps, predicted, 60.0, args.max_lag)
    report = sync_report(args.video, tracking, result)
    if args.shift:
        report["shifted"] = str(shift_audio(args.video, args.audio or args.video, result["offset_ms"], args.shift))
    print(json.dumps(report, allow_nan=False))
    print(f"voca-cn: sync: {verdict(result['offset_ms'], result['confidence'])}"
          + (f"; wrote {args.shift}" if args.shift else ""), file=sys.stderr)


def cmd_align(args) -> None:
    from voca_cn.audio import load as audio_mod
    from voca_cn.motion.transcript import align, note

    text = _text(args)
    if text is None:
        raise VocaError("align needs the words: pass --text \"...\" or --transcript FILE")
    phones = (result := align(audio_mod.load(args.audio), text, args.language)).phones
    print(note(vars(result)), file=sys.stderr)
    if args.format == "json":
        json.dump([{"phone": p.label, "start": round(p.start, 3), "end": round(p.end, 3)} for p in phones],
                  sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print("start\tend\tphone")
        for p in phones:
            print(f"{p.start:.3f}\t{p.end:.3f}\t{p.label}")


def cmd_visemes(args) -> None:
    from voca_cn.api import animate

    json.dump(_noted(animate(args.audio, text=_text(args), language=args.language)).visemes(args.format), sys.stdout,
              ensure_ascii=False, indent=1)
    print()


def cmd_stream(args) -> None:
    from voca_cn.apps.live import run

    run(args, _living(args))


def cmd_template(args) -> None:
    from voca_cn.apps.templates import run

    run(args)


def cmd_view(args) -> None:
    from voca_cn.apps.viewer import serve

    serve(args.dir, args.port, args.audio)


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="voca-cn", description="Speech-driven 3D face animation.")
    ap.add_argument("--version", action="version", version=f"voca-cn {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("animate", help="audio (+ optional transcript) -> OBJs, MP4, curves, visemes")
    p.add_argument("--audio", required=True, help="WAV/FLAC/OGG/MP3, any rate")
    p.add_argument("--text", help="transcript: aligned to the audio, the model hears its phones (steadier "
                                  "in noise) and the visemes are its own")
    p.add_argument("--transcript", help="file holding the transcript")
    _language_flag(p)
    p.add_argument("--procedural", action="store_true",
                   help="the procedural animator instead of the learned model: on the transcript's "
                        "alignment, or without one on pocketsphinx phone recognition (--jaw/--lip apply)")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    _style_flags(p)
    _living_flags(p)
    _output_flags(p)
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("batch", help="many lines (folder or manifest) on local processes or a Ray cluster")
    p.add_argument("source", type=Path, help="folder of audio files (+ same-named .txt transcripts) "
                                             "or a .csv/.jsonl manifest (id, audio, text, language, template, style, "
                                             "export, living)")
    p.add_argument("--out", required=True, type=Path, help="output folder: OUT/ID/ per line (a rerun resumes)")
    p.add_argument("--jobs", type=bounds.JOBS.arg, default=None,
                   help="worker processes (default: all cores; with --ray: all CPUs of the cluster)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: a local Ray without ADDRESS, else the cluster at ADDRESS (e.g. auto)")
    p.add_argument("--template", default="makehuman", help="default template for lines that name none")
    _language_flag(p)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--procedural", action="store_true",
                   help="the procedural animator instead of the learned model (on a line's transcript, "
                        "else on phone recognition)")
    _style_flags(p)
    _living_flags(p)
    p.add_argument("--export", type=_export_list, default=(), metavar="LIST",
                   help="extra outputs per line, comma-separated: obj (meshes/), video (preview.mp4), glb, "
                        "livelink, arkit-json (default: only animation.npz + visemes.json)")
    _video_flags(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("render", help="animation.npz -> OBJ sequence and MP4 preview")
    p.add_argument("--animation", required=True, help="animation.npz (weights T x 52, fps)")
    p.add_argument("--audio", help="audio to mux into the preview")
    _output_flags(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("track", help="track a face in video -> real ARKit curves, landmarks, audio")
    p.add_argument("video", help="talking-face video (MP4, MOV, AVI, MPG, WebM)")
    p.add_argument("--out", required=True, type=Path, help="output directory (refused if it exists)")
    p.add_argument("--template", default="makehuman",
                   help="head the curves are calibrated on (default: makehuman)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-audio", action="store_true", help="do not extract the soundtrack")
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("sync", help="audio-visual offset of a talking-face video (ms, + = audio late)")
    p.add_argument("video", help="talking-face video with sound (MP4, MOV, AVI, MPG, WebM)")
    p.add_argument("--audio", help="judge this audio against the video's face instead of its soundtrack")
    p.add_argument("--max-lag", type=bounds.MAX_LAG.arg, default=1.0, help="largest offset searched, seconds (default 1)")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--template", default="makehuman", help="head the predicted aperture is read on")
    p.add_argument("--shift", type=Path, metavar="FIXED.mp4",
                   help="also write the video with its audio (or --audio) moved by the measured offset")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("view", help="web viewer: play DIR/animation.glb with its audio in a browser")
    p.add_argument("dir", type=Path, help="output folder holding animation.glb (from --export glb)")
    p.add_argument("--audio", help="audio to play along (default: DIR/preview.mp4's sound track)")
    p.add_argument("--port", type=bounds.PORT.arg, default=8000, help="port on 127.0.0.1 (default 8000; 0 = any free)")
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("align", help="forced alignment: per-phone start/end times")
    p.add_argument("--audio", required=True)
    p.add_argument("--text")
    p.add_argument("--transcript")
    _language_flag(p)
    p.add_argument("--format", choices=["tsv", "json"], default="tsv")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("visemes", help="viseme events as JSON (Azure-like by default)")
    p.add_argument("--audio", required=True)
    p.add_argument("--text")
    p.add_argument("--transcript")
    _language_flag(p)
    p.add_argument("--format", choices=["azure", "oculus", "rhubarb"], default="azure")
    p.set_defaults(func=cmd_visemes)

    p = sub.add_parser("stream", help="live: microphone or a file in real time -> ARKit frames as JSON "
                                      "lines and/or VMC over OSC")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="a file, played in real time")
    src.add_argument("--mic", nargs="?", const="", metavar="DEVICE",
                     help="a microphone (default input, or a device name/number); Ctrl-C ends")
    p.add_argument("--osc", metavar="HOST:PORT",
                   help="send VMC blendshapes (/VMC/Ext/Blend/Val + Apply) over OSC, e.g. 127.0.0.1:39539")
    p.add_argument("--vmc-names", choices=("arkit", "vrm", "both"), default="arkit", help="VMC names: the 52 "
                   "perfect-sync shapes (JawOpen...), a VRM's standard expressions (A I U E O Blink_L/R) or both")
    p.add_argument("--jsonl", action="store_true", help="also write JSON lines on stdout when sending OSC")
    p.add_argument("--chunk-ms", type=bounds.CHUNK_MS.arg, default=10.0, help="audio per read in ms (default 10)")
    p.add_argument("--stats", action="store_true", help="print compute and latency figures on stderr at the end")
    p.add_argument("--model", help=MODEL_HELP)
    _living_flags(p)
    p.set_defaults(func=cmd_stream)

    develop.add_commands(sub)

    p = sub.add_parser("template", help="list, export or import templates")
    tsub = p.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", help="built-in and imported templates")
    e = tsub.add_parser("export", help="write a template's neutral head as OBJ")
    e.add_argument("name")
    e.add_argument("path")
    r = tsub.add_parser("rig", help="rig any head mesh (OBJ, PLY, glTF, GLB, VRM) with the 52 ARKit shapes")
    r.add_argument("head")
    r.add_argument("--name", help="template name (default: the file's name)")
    r.add_argument("--out", help="template file (default $VOCA_CN_HOME/templates/NAME.npz)")
    i = tsub.add_parser("import-ict", help="import an ICT-FaceKit FaceXModel folder")
    i.add_argument("dir")
    i.add_argument("--identity-seed", type=bounds.SEED.arg, help="bake a random identity (reproducible per seed)")
    i.add_argument("--identity", type=_identity, help="comma-separated identity coefficients a0,a1,...")
    i.add_argument("--name", help="template name (default ict, or ict-SEED)")
    i.add_argument("--out", help="template file (default $VOCA_CN_HOME/templates/NAME.npz)")
    p.set_defaults(func=cmd_template)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except VocaError as e:
        print(f"voca-cn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voca-cn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `voca-cn stream ... | head`: the reader has all it wanted; stdout to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # /dev/null for the final flush
        return 0
