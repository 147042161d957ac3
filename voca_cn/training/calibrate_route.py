"""Choose when ``--text`` keeps pocketsphinx's alignment of an English transcript
(:data:`voca_cn.motion.transcript.TRUST`) on the validation split, never on the benchmark's clips.

    python -m voca_cn.training.calibrate_route --data /work/corpus [--every 3] [--copies 2] [--seed 0]

Per English validation item (every ``every``-th: TTS voices, Kathleen, grid-s1's video), as it is
and as ``copies`` random degraded recordings (training's chain, :mod:`voca_cn.training.augment`):
pocketsphinx's alignment (with its retries, as ``--text`` runs it) and the Viterbi alignment on the
shipped model's mixed probabilities, each scored by the probabilities (their confidence), each
animated by the procedural animator and compared with the item's target curves (tracked lips for
video items, the animator on the item's own phones for the others: lip-vertex squared error, mm^2,
the makehuman head). pocketsphinx is kept where its confidence is at least TRUST x Viterbi's. Every
TRUST on a 0.05 grid is scored on the even items; the one with the least error whose clean error is
not more than 1 % above pocketsphinx alone for any source is printed as JSON, with its figures on
the odd items next to pocketsphinx alone and Viterbi alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SOURCES = ("synthetic", "kathleen", "video")
GRID = np.round(np.arange(0.0, 1.201, 0.05), 2)


def rows(corpus: Path, every: int, copies: int, seed: int) -> list[dict]:
    """Per item and copy: source, copy (0 = as recorded), both aligners' errors (mm^2, mean over
    frames) and confidences (pocketsphinx's None where it found no path)."""
    from tqdm import tqdm

    from voca_cn.core.timing import SR
    from voca_cn.formats import resolve
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.motion.procedural import animate
    from voca_cn.speech import g2p, viterbi
    from voca_cn.speech.align import Aligner, NoPath
    from voca_cn.training.augment import recordings
    from voca_cn.training.corpus import load_item, read_manifest, target_curves
    from voca_cn.training.evaluation import Scorer

    chosen = [r for r in read_manifest(corpus, "val") if r.get("language") == "en" and r["source"] in SOURCES][::every]
    animator, aligner = AudioAnimator.load(), Aligner()
    gram = Scorer(resolve("makehuman")).gram
    items = [load_item(corpus, r["id"]) for r in chosen]
    takes = recordings([it["audio"] for it in items], copies, seed, babble_every=8)
    out = []
    for i, (row, item, ys) in enumerate(tqdm(zip(chosen, items, takes), total=len(items), desc="calibrate",
                                             unit="item", file=sys.stderr)):
        target = target_curves(row, item)

        def err(phones, duration):
            w = animate(phones, duration)
            n = min(len(w), len(target))
            e = w[:n] - target[:n]
            return float(np.einsum("ti,ij,tj->t", e, gram, e).mean())

        for copy, y in enumerate(ys):
            duration = len(y) / SR
            probs = animator.hear(y)
            presence = viterbi.speech_presence(viterbi.frame_power(y))
            v = viterbi.align(probs, g2p.words(row["text"], "en"), duration, presence)
            r = {"item": i, "source": row["source"], "copy": copy, "viterbi": err(v.phones, duration),
                 "viterbi_conf": v.confidence, "pocketsphinx": None, "pocketsphinx_conf": None}
            try:
                phones, _ = aligner.align(y, row["text"])
                r["pocketsphinx"], r["pocketsphinx_conf"] = err(phones, duration), viterbi.confidence(probs, phones)
            except NoPath:
                pass
            out.append(r)
    return out


def routed(r: dict, trust: float) -> float:
    """The error of what ``--text`` keeps for this row with this TRUST."""
    from voca_cn.motion.transcript import keeps_pocketsphinx

    if r["pocketsphinx"] is None or not keeps_pocketsphinx(r["pocketsphinx_conf"], r["viterbi_conf"], trust):
        return r["viterbi"]
    return r["pocketsphinx"]


def figures(rs: list[dict], trust: float) -> dict:
    """Mean error per source on clean and degraded copies, and overall."""
    out = {"all": np.mean([routed(r, trust) for r in rs])}
    for s in SOURCES:
        for what, keep in (("clean", lambda r: r["copy"] == 0), ("degraded", lambda r: r["copy"] > 0)):
            sel = [routed(r, trust) for r in rs if r["source"] == s and keep(r)]
            out[f"{s} {what}"] = np.mean(sel) if sel else None
    return {k: None if v is None else round(float(v), 1) for k, v in out.items()}


def choose(rs: list[dict]) -> float:
    """The TRUST with the least error whose clean error per source is within 1 % of pocketsphinx's."""
    clean = {s: [r for r in rs if r["copy"] == 0 and r["source"] == s] for s in SOURCES}
    limit = {s: 1.01 * np.mean([routed(r, 0.0) for r in c]) for s, c in clean.items() if c}
    ok = [t for t in GRID if all(np.mean([routed(r, t) for r in clean[s]]) <= lim for s, lim in limit.items())]
    return float(min(ok or [0.0], key=lambda t: np.mean([routed(r, t) for r in rs])))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a built corpus (its val split)")
    p.add_argument("--every", type=int, default=3, help="every n-th English validation item")
    p.add_argument("--copies", type=int, default=2, help="degraded copies of each item")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", type=Path, help="keep the per-item rows here (JSON)")
    a = p.parse_args(argv)
    rs = rows(a.data, a.every, a.copies, a.seed)
    if a.save:
        a.save.write_text(json.dumps(rs))
    fit, check = [r for r in rs if r["item"] % 2 == 0], [r for r in rs if r["item"] % 2 == 1]
    trust = choose(fit)
    print(json.dumps({"trust": trust, "items": len({r["item"] for r in rs}), "rows": len(rs), "check (odd items), mm^2": {
        "routed": figures(check, trust), "pocketsphinx alone": figures(check, 0.0),
        "viterbi alone": figures(check, np.inf)},
        "per trust (even items)": {str(t): figures(fit, t)["all"] for t in GRID}}, indent=1))


if __name__ == "__main__":
    main()
