"""``voca-cn`` command line. Logs and progress go to stderr; data to files or stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from voca_cn import VocaError, __version__


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 512x512") from None
    return w, h


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", default="makehuman",
                   help="built-in/imported name, template .npz, or an OBJ/PLY of a known topology "
                        "(default: makehuman)")
    p.add_argument("--out", required=True, type=Path, help="output directory (refused if it exists)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.add_argument("--no-video", action="store_true", help="skip preview.mp4")
    p.add_argument("--no-obj", action="store_true", help="skip the per-frame OBJ sequence")
    p.add_argument("--size", type=_size, default=(512, 512), help="video size WxH (default 512x512)")
    p.add_argument("--fps", type=int, default=60, help="output frame rate (default 60)")
    p.add_argument("--view", choices=["face", "head"], default="face",
                   help="preview framing: face (eyes to chin, default) or head")
    p.add_argument("--beside", type=Path, metavar="VIDEO",
                   help="show this video (e.g. the real speaker) beside the preview, time-aligned")


def _options(args):
    from voca_cn.export import OutputOptions, check_output_dir

    check_output_dir(args.out, args.overwrite)
    if not 1 <= args.fps <= 240:
        raise VocaError(f"--fps {args.fps} is out of range; use 1-240 (60 is the native rate)")
    beside = None
    if args.beside is not None:
        from voca_cn.render import probe_video

        if args.no_video:
            raise VocaError("--beside needs the preview video; drop --no-video")
        beside = probe_video(args.beside)
    return OutputOptions(obj=not args.no_obj, video=not args.no_video, width=args.size[0],
                         height=args.size[1], fps=args.fps, overwrite=args.overwrite,
                         view=args.view, beside=beside)


def _text(args) -> str | None:
    if getattr(args, "transcript", None):
        path = Path(args.transcript)
        if not path.is_file():
            raise VocaError(f"transcript {path} does not exist; check the path")
        return path.read_text(encoding="utf-8", errors="replace")
    return args.text


def _phones(args, audio):
    """Phone timings: forced alignment when a transcript is given, else phone recognition."""
    text = _text(args)
    if text is not None:
        from voca_cn.alignment import Aligner

        return Aligner().align(audio, text)[0]
    from voca_cn.recognition import PhoneRecognizer

    return PhoneRecognizer().recognize(audio)


# ---------------------------------------------------------------------------- commands
def cmd_animate(args) -> None:
    from voca_cn import audio as audio_mod
    from voca_cn.animator import Style, animate
    from voca_cn.export import write_outputs
    from voca_cn.templates import resolve
    from voca_cn.visemes import azure_events

    options = _options(args)
    template = resolve(args.template)
    y = audio_mod.load(args.audio)
    if _text(args) is None and not args.procedural:
        from voca_cn.lipsync import AudioAnimator

        weights, phones = AudioAnimator.load(args.model).run(y)
    else:
        phones = _phones(args, y)
        weights = animate(phones, len(y) / audio_mod.SR, Style(jaw=args.jaw, lip=args.lip))
    out = write_outputs(args.out, template, weights, args.audio, options, visemes=azure_events(phones))
    print(out)


def cmd_render(args) -> None:
    from voca_cn import audio as audio_mod
    from voca_cn.export import load_animation, write_outputs
    from voca_cn.templates import resolve

    options = _options(args)
    template = resolve(args.template)
    weights, fps = load_animation(args.animation)
    if args.audio:
        audio_mod.load(args.audio)  # validate before any work
    out = write_outputs(args.out, template, weights, args.audio, options, fps_in=fps)
    print(out)


def cmd_align(args) -> None:
    from voca_cn import audio as audio_mod
    from voca_cn.alignment import Aligner

    text = _text(args)
    if text is None:
        raise VocaError("align needs the words: pass --text \"...\" or --transcript FILE")
    phones, _ = Aligner().align(audio_mod.load(args.audio), text)
    if args.format == "json":
        json.dump([{"phone": p.label, "start": round(p.start, 3), "end": round(p.end, 3)} for p in phones],
                  sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print("start\tend\tphone")
        for p in phones:
            print(f"{p.start:.3f}\t{p.end:.3f}\t{p.label}")


def cmd_visemes(args) -> None:
    from voca_cn import audio as audio_mod
    from voca_cn.visemes import events

    y = audio_mod.load(args.audio)
    if _text(args) is None:  # the phones the shipped model hears, as animate uses them
        from voca_cn.lipsync import AudioAnimator

        phones = AudioAnimator.load().run(y)[1]
    else:
        phones = _phones(args, y)
    json.dump(events(phones, args.format), sys.stdout, ensure_ascii=False, indent=1)
    print()


def cmd_template(args) -> None:
    from voca_cn.templates import Template, known_templates, resolve, user_template_dir

    if args.action == "list":
        for name, path in known_templates().items():
            t = Template.load(path)
            missing = ", ".join(t.missing) or "none"
            print(f"{name}\t{t.n_vertices} vertices\t{len(t.faces)} triangles\tmissing: {missing}\t"
                  f"{t.licence}\t{path}")
    elif args.action == "export":
        from voca_cn.export import ObjWriter

        t = resolve(args.name)
        out = Path(args.path)
        tmp = out.with_name(out.name + ".part")
        ObjWriter(t).write(tmp, t.vertices)
        tmp.replace(out)
        print(out)
    elif args.action == "import-ict":
        from voca_cn.ict import identity_coefficients, import_ict

        identity = None
        if args.identity_seed is not None:
            identity = identity_coefficients(args.identity_seed)
        if args.identity:
            try:
                identity = np.array([float(x) for x in args.identity.split(",")])
            except ValueError:
                raise VocaError("--identity must be comma-separated numbers, e.g. 1.0,-0.5,0.2") from None
        name = args.name or ("ict" if identity is None else
                             f"ict-{args.identity_seed}" if args.identity_seed is not None else "ict-custom")
        t = import_ict(args.dir, identity, name=name)
        out = Path(args.out) if args.out else user_template_dir() / f"{name}.npz"
        t.save(out)
        print(out)


def cmd_data(args) -> None:
    from voca_cn.corpus import DEFAULT_KATHLEEN, build

    kathleen = args.kathleen if args.kathleen is not None else DEFAULT_KATHLEEN
    if kathleen and not (Path(kathleen) / "utterances").is_dir():
        if args.kathleen is not None:
            raise VocaError(f"{kathleen} has no utterances/ folder; give the Kathleen corpus folder")
        print(f"voca-cn: note: no Kathleen corpus at {kathleen}; building synthetic speech only",
              file=sys.stderr)
        kathleen = None
    hours, limit = (0.1, 8) if args.small else (args.hours, None)
    result = build(args.out, hours, Path(kathleen) if kathleen else None, limit, args.jobs, args.seed)
    print(json.dumps(result))


def cmd_train(args) -> None:
    from voca_cn.training import install, load_config, train

    state = train(load_config(args.config), args.data, args.out)
    if args.install:
        install(args.out)
    print(json.dumps({k: v for k, v in state.items() if not k.endswith("history") and k != "config"}))


def cmd_features(args) -> None:
    from voca_cn import audio as audio_mod
    from voca_cn.phonetic import PhoneticStage
    from voca_cn.phones import PHONES

    probs = PhoneticStage.load(args.model)(audio_mod.load(args.audio))
    if args.out:
        out = Path(args.out)
        tmp = out.with_name(out.name + ".part.npz")
        np.savez(tmp, probabilities=probs, phones=np.array(PHONES), rate=100.0)
        tmp.replace(out)
        print(out)
    else:
        print("time\tbest\tp\t" + "\t".join(PHONES))
        for i, row in enumerate(probs):
            k = int(row.argmax())
            print(f"{i / 100:.2f}\t{PHONES[k]}\t{row[k]:.3f}\t" + "\t".join(f"{v:.3f}" for v in row))


def cmd_evaluate(args) -> None:
    from voca_cn.evaluation import METHODS, corpus_cases, evaluate, pair_cases, table
    from voca_cn.templates import resolve

    if bool(args.data) == bool(args.pairs):
        raise VocaError("evaluate needs one of --data CORPUS or --pairs DIR")
    methods = tuple(args.methods.split(",")) if args.methods else METHODS
    bad = set(methods) - set(METHODS)
    if bad:
        raise VocaError(f"unknown method(s) {', '.join(sorted(bad))}; choose from {', '.join(METHODS)}")
    cases = (corpus_cases(Path(args.data), args.split, args.limit, args.source) if args.data
             else pair_cases(Path(args.pairs)))
    res = evaluate(list(cases), resolve(args.template), methods, args.model)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="voca-cn", description="Speech-driven 3D face animation.")
    ap.add_argument("--version", action="version", version=f"voca-cn {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("animate", help="audio (+ optional transcript) -> OBJs, MP4, curves, visemes")
    p.add_argument("--audio", required=True, help="WAV/FLAC/OGG/MP3, any rate")
    p.add_argument("--text", help="transcript: animate from its forced alignment (English)")
    p.add_argument("--transcript", help="file holding the transcript")
    p.add_argument("--procedural", action="store_true",
                   help="no transcript: pocketsphinx phone recognition + procedural animator "
                        "instead of the learned model")
    p.add_argument("--model", default=None, help="trained model folder (default: the shipped one)")
    p.add_argument("--jaw", type=float, default=1.0, help="jaw articulation (JALI style; 1 = normal)")
    p.add_argument("--lip", type=float, default=1.0, help="lip articulation (JALI style; 1 = normal)")
    _output_flags(p)
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("render", help="animation.npz -> OBJ sequence and MP4 preview")
    p.add_argument("--animation", required=True, help="animation.npz (weights T x 52, fps)")
    p.add_argument("--audio", help="audio to mux into the preview")
    _output_flags(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("align", help="forced alignment: per-phone start/end times")
    p.add_argument("--audio", required=True)
    p.add_argument("--text")
    p.add_argument("--transcript")
    p.add_argument("--format", choices=["tsv", "json"], default="tsv")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("visemes", help="viseme events as JSON (Azure-like by default)")
    p.add_argument("--audio", required=True)
    p.add_argument("--text")
    p.add_argument("--transcript")
    p.add_argument("--format", choices=["azure", "oculus", "rhubarb"], default="azure")
    p.set_defaults(func=cmd_visemes)

    p = sub.add_parser("data", help="build the training corpus")
    dsub = p.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="synthetic speech from every engine + Kathleen, animated")
    b.add_argument("--out", required=True, type=Path, help="corpus folder (an unfinished one resumes)")
    b.add_argument("--hours", type=float, default=4.0, help="hours of synthetic speech (default 4)")
    b.add_argument("--small", action="store_true", help="a tiny corpus for tests (~6 min of speech)")
    b.add_argument("--kathleen", help="Kathleen corpus folder, '' to leave it out "
                                      "(default ../shared/corpora/kathleen where present)")
    b.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    b.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train the phonetic stage and the lip-sync network")
    p.add_argument("--config", default="default", help="config JSON, or 'default' / 'small'")
    p.add_argument("--data", required=True, type=Path, help="corpus from voca-cn data build")
    p.add_argument("--out", required=True, type=Path, help="model folder (a rerun resumes)")
    p.add_argument("--install", action="store_true", help="copy the result into the package's models")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("features", help="the phonetic stage's per-frame phone probabilities")
    p.add_argument("audio")
    p.add_argument("--out", help="write an .npz (probabilities F x P, phones, rate) instead of TSV")
    p.add_argument("--model", help="trained model folder (default: the shipped one)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("evaluate", help="LVE, visemes, bilabials, lag, jitter, speed vs baselines")
    p.add_argument("--data", help="corpus folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--source", choices=["synthetic", "kathleen"], help="only these corpus items")
    p.add_argument("--limit", type=int, help="at most this many items, spread over voices")
    p.add_argument("--pairs", help="folder of audio files with same-named .txt transcripts")
    p.add_argument("--methods", help="comma-separated subset of: model, aligned, recognition, amplitude")
    p.add_argument("--template", default="makehuman")
    p.add_argument("--model", help="trained model folder (default: the shipped one)")
    p.add_argument("--json", help="also write the figures as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("template", help="list, export or import templates")
    tsub = p.add_subparsers(dest="action", required=True)
    tsub.add_parser("list", help="built-in and imported templates")
    e = tsub.add_parser("export", help="write a template's neutral head as OBJ")
    e.add_argument("name")
    e.add_argument("path")
    i = tsub.add_parser("import-ict", help="import an ICT-FaceKit FaceXModel folder")
    i.add_argument("dir")
    i.add_argument("--identity-seed", type=int, help="bake a random identity (reproducible per seed)")
    i.add_argument("--identity", help="comma-separated identity coefficients a0,a1,...")
    i.add_argument("--name", help="template name (default ict, or ict-SEED)")
    i.add_argument("--out", help="template file (default $VOCA_CN_HOME/templates/NAME.npz)")
    p.set_defaults(func=cmd_template)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except VocaError as e:
        print(f"voca-cn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voca-cn: interrupted", file=sys.stderr)
        return 130
    return 0
