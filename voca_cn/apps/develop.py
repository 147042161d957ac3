"""The commands that build and measure models: ``data build``, ``train``, ``fit-animator``,
``features``, ``evaluate``. Each imports its training stage only when it runs (start-up time)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from voca_cn import VocaError
from voca_cn.core import bounds


def add_commands(sub) -> None:
    """Register the model commands on the CLI's sub-parsers."""
    p = sub.add_parser("data", help="build the training corpus")
    dsub = p.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build", help="synthetic speech from every engine + Kathleen, animated")
    b.add_argument("--out", required=True, type=Path, help="corpus folder (an unfinished one resumes)")
    b.add_argument("--hours", type=bounds.HOURS.arg, default=4.0, help="hours of synthetic speech (default 4)")
    b.add_argument("--small", action="store_true", help="a tiny corpus for tests (~6 min of speech)")
    b.add_argument("--kathleen", help="Kathleen corpus folder, '' to leave it out "
                                      "(default ../shared/corpora/kathleen where present)")
    b.add_argument("--video", help="talking-face videos (with .txt transcripts or GRID align/ files) "
                                   "whose tracked lips become real curves; '' to leave them out "
                                   "(default ../shared/corpora/grid-s1 where present)")
    b.add_argument("--jobs", type=bounds.JOBS.arg, default=len(os.sched_getaffinity(0)), help="worker processes (default: one per core this process may use)")
    b.add_argument("--seed", type=bounds.SEED.arg, default=0)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train the phonetic stage and the lip-sync network")
    p.add_argument("--config", default="default", help="config JSON, or 'default' / 'small'")
    p.add_argument("--data", required=True, type=Path, help="corpus from voca-cn data build")
    p.add_argument("--out", required=True, type=Path, help="model folder (a rerun resumes)")
    p.add_argument("--install", action="store_true", help="copy the result into the package's models")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("fit-animator", help="fit the procedural animator's poses and timing to tracked real lips")
    p.add_argument("--data", required=True, type=Path, help="corpus with video items (data build --video)")
    p.add_argument("--out", type=Path, help="where the fit goes (default: the shipped voca_cn/models/animator.json)")
    p.set_defaults(func=cmd_fit_animator)

    p = sub.add_parser("features", help="the phonetic stage's per-frame phone probabilities")
    p.add_argument("audio")
    p.add_argument("--out", help="write an .npz (probabilities F x P, phones, rate) instead of TSV")
    p.add_argument("--model", help="trained model folder (default: the shipped one)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("evaluate", help="LVE, visemes, bilabials, lag, jitter, speed vs baselines")
    p.add_argument("--data", help="corpus folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"],
                   help="corpus split (with --video: the clips the corpus puts there; 'all' for every video)")
    p.add_argument("--source", choices=["synthetic", "kathleen", "video"],
                   help="only these corpus items (video: against the tracked real lips)")
    p.add_argument("--video", help="folder of talking-face videos with transcripts: tracked, then every "
                                   "method is measured against the real lips")
    p.add_argument("--limit", type=bounds.LIMIT.arg, help="at most this many items, spread over voices")
    p.add_argument("--pairs", help="folder of audio files with same-named .txt transcripts")
    p.add_argument("--methods", help="comma-separated subset of: model, aligned, recognition, amplitude")
    p.add_argument("--template", default="makehuman")
    p.add_argument("--model", help="trained model folder (default: the shipped one)")
    p.add_argument("--json", help="also write the figures as JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_data(args) -> None:
    from voca_cn.training.corpus import DEFAULT_KATHLEEN, DEFAULT_VIDEO, build

    kathleen = args.kathleen if args.kathleen is not None else DEFAULT_KATHLEEN
    if kathleen and not (Path(kathleen) / "utterances").is_dir():
        if args.kathleen is not None:
            raise VocaError(f"{kathleen} has no utterances/ folder; give the Kathleen corpus folder")
        print(f"voca-cn: note: no Kathleen corpus at {kathleen}; building synthetic speech only",
              file=sys.stderr)
        kathleen = None
    video = args.video if args.video is not None else DEFAULT_VIDEO
    if video and not Path(video).is_dir():
        if args.video is not None:
            raise VocaError(f"video folder {video} does not exist; give a folder of talking-face videos "
                            "with same-named .txt transcripts")
        print(f"voca-cn: note: no talking-face videos at {video}; no real lip curves in this corpus",
              file=sys.stderr)
        video = None
    hours, limit = (0.1, 8) if args.small else (args.hours, None)
    result = build(args.out, hours, Path(kathleen) if kathleen else None, limit, args.jobs, args.seed,
                   Path(video) if video else None, limit)
    print(json.dumps(result))


def cmd_train(args) -> None:
    from voca_cn.training.train import install, load_config, train

    state = train(load_config(args.config), args.data, args.out)
    if args.install:
        install(args.out)
    print(json.dumps({k: v for k, v in state.items() if not k.endswith("history") and k != "config"}))


def cmd_fit_animator(args) -> None:
    from voca_cn.training.fit_animator import FIT_FILE, fit

    print(json.dumps(fit(args.data, args.out or FIT_FILE)))


def cmd_features(args) -> None:
    from voca_cn.audio import load as audio_mod
    from voca_cn.core.phones import PHONES
    from voca_cn.motion.phonetic import PhoneticStage

    probs = PhoneticStage.load(args.model)(audio_mod.load(args.audio))
    if args.out:
        import numpy as np

        from voca_cn.core.files import atomic_path

        with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:  # a handle: savez adds no suffix
            np.savez(fh, probabilities=probs, phones=np.array(PHONES), rate=100.0)
        print(args.out)
    else:
        print("time\tbest\tp\t" + "\t".join(PHONES))
        for i, row in enumerate(probs):
            k = int(row.argmax())
            print(f"{i / 100:.2f}\t{PHONES[k]}\t{row[k]:.3f}\t" + "\t".join(f"{v:.3f}" for v in row))


def cmd_evaluate(args) -> None:
    from voca_cn.formats import resolve
    from voca_cn.training.evaluation import METHODS, corpus_cases, evaluate, pair_cases, table

    if sum(map(bool, (args.data, args.pairs, args.video))) != 1:
        raise VocaError("evaluate needs one of --data CORPUS, --pairs DIR or --video DIR")
    methods = tuple(args.methods.split(",")) if args.methods else METHODS
    bad = set(methods) - set(METHODS)
    if bad:
        raise VocaError(f"unknown method(s) {', '.join(sorted(bad))}; choose from {', '.join(METHODS)}")
    template = resolve(args.template)
    if args.video or args.source == "video":
        from voca_cn.training.evaluation import evaluate_real, video_cases, video_corpus_cases

        cases = (video_cases(Path(args.video), None if args.split == "all" else args.split, template, args.limit)
                 if args.video else video_corpus_cases(Path(args.data), args.split, args.limit))
        res = evaluate_real(list(cases), template, methods, args.model)
    else:
        cases = (corpus_cases(Path(args.data), args.split, args.limit, args.source) if args.data
                 else pair_cases(Path(args.pairs)))
        res = evaluate(list(cases), template, methods, args.model)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))

