"""Does `--text` refuse a transcript that is not what was said, and never one that is?

    python benchmarks/mismatch.py [--split test] [--items 20] [--conditions clean,white-5dB,...] [--json F]

Real speech of two speakers, never trained on: Kathleen's utterances and grid-s1's clips of one
split (``--items`` of each, spread over it). Each is aligned (:func:`voca_cn.motion.transcript.align`,
as ``voca-cn animate --text`` does) to its own transcript and to a wrong one, another utterance's of
the same speaker (grid-s1's share its grammar and many words: the hardest case), under the
robustness benchmark's conditions (``benchmarks/robustness.py``: noise, babble, music, rooms, the
telephone, codecs, levels, rates; babble is the other speaker's voices). Per condition: the share
of right transcripts refused (should be 0) and of wrong ones refused (should be 1), and the
confidence each gets. ``--json`` keeps every alignment's figures (confidence, the fits it is judged
by: over the whole take and over its detected speech, aligner, the take's dynamic range and the
phonetic stages' disagreement), so a refusal rule can be chosen on ``--split val`` and checked on
``test``: the runs align with the refusal switched off and the table applies
:func:`voca_cn.motion.transcript.refuses` afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from voca_cn import VocaError  # noqa: E402

DEFAULT_CONDITIONS = ("clean,white-20dB,white-10dB,white-5dB,white-0dB,pink-5dB,brown-0dB,babble-20dB,babble-10dB,"
                      "babble-5dB,babble-0dB,music-10dB,music-0dB,room-small,room-office,room-large,room-hall,"
                      "telephone,mp3-16k,opus-12k,quiet,clipped,rate-8000,speex-8k,codec2-3200")


def items(split: str, n: int) -> list[tuple[str, str, Path, str]]:
    """(speaker, name, audio file, transcript): ``n`` Kathleen utterances and ``n`` grid-s1 clips
    of ``split``, spread over it."""
    from robustness import spread

    from voca_cn.training.corpus import (DEFAULT_KATHLEEN, DEFAULT_VIDEO, kathleen_prompt, split_of_prompt,
                                         video_transcripts)

    kathleen = [f for f in sorted((DEFAULT_KATHLEEN / "utterances").glob("*.flac"))
                if split_of_prompt(kathleen_prompt(f.stem)) == split]
    video = [(v, t) for v, t in video_transcripts(DEFAULT_VIDEO) if split_of_prompt(v.stem) == split]
    if not kathleen or not video:
        sys.exit(f"mismatch: needs ../shared/corpora/kathleen and grid-s1 ({DEFAULT_KATHLEEN.parent} has no "
                 f"{split}-split items)")
    out = [("kathleen", f.stem, f, f.with_suffix(".txt").read_text().strip()) for f in spread(kathleen, n)]
    return out + [("grid-s1", v.stem, v, t) for v, t in spread(video, n)]


def wrong_text(rows: list, i: int) -> str:
    """Another utterance's transcript of the same speaker: the one half the speaker's list away."""
    same = [r for r in rows if r[0] == rows[i][0]]
    k = same.index(rows[i])
    return same[(k + len(same) // 2) % len(same)][3]


_state = {}


def _init(conditions: list[str], voices: dict) -> None:
    from robustness import Degrader

    from voca_cn.motion import transcript
    from voca_cn.motion.lipsync import AudioAnimator

    transcript.NO_MATCH = -1.0  # every alignment returns its figures; the rule is applied afterwards
    _state.update(animator=AudioAnimator.load(), conditions=conditions,
                  degraders={s: Degrader(v) for s, v in voices.items()})


def _one(job: tuple) -> list[dict]:
    """Every condition of one item, its right and its wrong transcript."""
    from voca_cn.audio.load import load, prepare
    from voca_cn.motion.transcript import align
    from voca_cn.speech import viterbi

    speaker, name, path, text, wrong = job
    y0 = load(path)
    on = np.flatnonzero(viterbi.speech_presence(viterbi.frame_power(y0)) > 0.5)
    active = slice(int(on[0] * 160), int((on[-1] + 1) * 160)) if len(on) else slice(0, len(y0))
    animator, out = _state["animator"], []
    for cond in _state["conditions"]:
        y, rate = _state["degraders"][speaker](cond, y0, name, active)
        y = prepare(y, rate, 16000, f"{name} ({cond})")
        heard = animator.stages(y)
        d = float(np.median(heard[2]))
        rng = viterbi.dynamic_range_db(viterbi.frame_power(y))
        for truth, t in (("right", text), ("wrong", wrong)):
            row = {"speaker": speaker, "item": name, "condition": cond, "transcript": truth,
                   "disagreement": round(d, 4), "range_db": round(rng, 2)}
            try:
                r = align(y, t, "en", animator, probs=animator.hear(y, heard))
                row.update(confidence=round(r.confidence, 4), fit=round(r.fit, 4), speech=round(r.speech, 4),
                           method=r.method, fallback=r.fallback,
                           pocketsphinx=None if r.pocketsphinx is None else round(r.pocketsphinx, 4))
            except VocaError as e:
                row.update(confidence=None, error=str(e))
            out.append(row)
    return out


def refused(row: dict) -> bool:
    """Whether ``animate --text`` refuses this alignment under the shipped rule."""
    from voca_cn.motion.transcript import refuses

    return row["confidence"] is None or refuses(row["fit"], row["range_db"], row["speech"])


def table(rows: list[dict]) -> str:
    """Markdown: per condition and speaker, right transcripts refused, wrong ones refused, and the
    median score of each over the take's detected speech."""
    lines = ["| condition | right refused (Kathleen / grid-s1) | wrong refused (Kathleen / grid-s1) | "
             "median score over the speech, right / wrong |", "| --- | --- | --- | --- |"]
    conds = list(dict.fromkeys(r["condition"] for r in rows))
    for c in conds + ["all"]:
        sel = [r for r in rows if c in ("all", r["condition"])]
        cells = []
        for truth in ("right", "wrong"):
            cells.append(" / ".join(
                f"{sum(map(refused, g))}/{len(g)}" for g in
                ([r for r in sel if r["transcript"] == truth and r["speaker"] == s] for s in ("kathleen", "grid-s1"))))
        conf = [np.median([r["speech"] for r in sel if r["transcript"] == t and r["confidence"] is not None] or [0])
                for t in ("right", "wrong")]
        lines.append(f"| {c} | {cells[0]} | {cells[1]} | {conf[0]:.2f} / {conf[1]:.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="test", choices=("val", "test"))
    p.add_argument("--items", type=int, default=20, help="utterances of each speaker (default 20)")
    p.add_argument("--conditions", default=DEFAULT_CONDITIONS, help="comma-separated (benchmarks/robustness.py --list)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", type=Path, help="every alignment's figures")
    p.add_argument("--report", type=Path, help="a saved --json: print its table under the shipped rule and stop")
    a = p.parse_args()
    if a.report:
        print(table(json.loads(a.report.read_text())["rows"]))
        return
    from robustness import UNSEEN, conditions

    if a.items < 2:
        p.error("--items needs at least 2: each utterance's wrong transcript is another utterance's")
    names = a.conditions.split(",")
    unknown = set(names) - set(conditions()) - set(UNSEEN)
    if unknown:
        sys.exit(f"mismatch: unknown conditions {sorted(unknown)}; see benchmarks/robustness.py --list")
    from voca_cn.audio.load import load

    rows = items(a.split, a.items)
    # babble: 24 test-split utterances of the other speaker
    test = items("test", 24)
    voices = {speaker: [load(r[2]) for r in test if r[0] != speaker] for speaker in ("kathleen", "grid-s1")}
    jobs = [(*r, wrong_text(rows, i)) for i, r in enumerate(rows)]
    print(f"mismatch: {len(rows)} utterances x {len(names)} conditions x 2 transcripts", file=sys.stderr)
    t0, out = time.perf_counter(), []
    with get_context("spawn").Pool(a.jobs, _init, (names, voices)) as pool:
        for k, res in enumerate(pool.imap(_one, jobs), 1):
            out += res
            print(f"mismatch: {k}/{len(jobs)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            if a.json:
                a.json.write_text(json.dumps({"split": a.split, "conditions": names, "rows": out}, indent=0))
    print(table(out))


if __name__ == "__main__":
    main()
