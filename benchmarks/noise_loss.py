"""Where the lips lose their quality in noise: inside the words, or in the pauses between them?

    python benchmarks/noise_loss.py --data corpus/ [--split val] [--clips 16] [--conditions clean,white-0dB,...]

grid-s1's talking-face items of a built corpus's split (validation by default, so a decision made
on it does not look at the test clips), under ``benchmarks/robustness.py``'s conditions, animated by
the shipped default (no transcript). Per condition, means over the clips within each clip's speech
window:
- ``r``: aperture r against the tracked lips (the robustness benchmark's figure);
- ``phone_acc``: share of 100/s frames whose most likely phone is the clip's aligned one (pauses count);
- ``r_words``: aperture r over the frames inside words only;
- ``r_pauses_clean``: r when every frame between words is taken from the clean take's animation:
  what the best possible treatment of the pauses (a gate, a voice-activity detector) could recover.
If ``r_pauses_clean`` stays near ``r``, the loss is inside the words: the phonetic stage hears the
wrong phones, and only a better phonetic stage can win it back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT = "clean,white-5dB,white-0dB,pink-0dB,babble-10dB,babble-5dB,babble-0dB,music-0dB,room-hall,telephone"


def animated(cases: list, runner, template) -> list[dict]:
    """Per case: the predicted and tracked aperture in the speech window, which of its frames are
    inside words, and the phone frame accuracy."""
    from voca_cn.audio.features import segment_labels

    out = []
    for c in cases:
        n = min(len(c.real.weights), len(c.real.aperture))
        sp = c.real.speech(n)
        w = runner.run("model", c, n)
        w = np.concatenate([w, np.repeat(w[-1:], n - len(w), 0)])[:n]
        truth = segment_labels(c.phones, len(runner.probs))
        t = np.arange(n) / 60.0
        words = np.zeros(n, bool)
        for p in c.phones:
            if p.label != "sil":
                words |= (t >= p.start) & (t < p.end)
        out.append({"ap": template.aperture(template.deform(w))[sp], "real": c.real.aperture[sp],
                    "words": words[sp], "phone_acc": float((runner.probs.argmax(1) == truth).mean())})
    return out


def figures(runs: list[dict], clean: list[dict]) -> dict:
    from voca_cn.core.signal import pearson

    r, r_words, r_pauses = [], [], []
    for a, c in zip(runs, clean):
        r.append(pearson(a["ap"], a["real"]))
        r_words.append(pearson(a["ap"][a["words"]], a["real"][a["words"]]))
        r_pauses.append(pearson(np.where(a["words"], a["ap"], c["ap"]), a["real"]))
    mean = lambda v: float(np.nanmean([np.nan if x is None else x for x in v]))  # noqa: E731
    return {"r": mean(r), "phone_acc": mean([a["phone_acc"] for a in runs]), "r_words": mean(r_words),
            "r_pauses_clean": mean(r_pauses)}


def main() -> None:
    from robustness import Degrader, conditions, degraded, spread

    from voca_cn.formats import resolve
    from voca_cn.training.evaluation import Methods, video_corpus_cases

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a built corpus (voca-cn data build)")
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--conditions", default=DEFAULT)
    a = p.parse_args()
    names = a.conditions.split(",")
    unknown = set(names) - set(conditions())
    if unknown:
        sys.exit(f"noise_loss: unknown conditions {sorted(unknown)}; see benchmarks/robustness.py --list")
    cases = spread(list(video_corpus_cases(a.data, a.split)), a.clips)
    template, runner, degrader = resolve("makehuman"), Methods(("model",), None), Degrader()
    clean = animated(cases, runner, template)
    print("| condition | r | phone frame accuracy | r in words only | r with the pauses of the clean take |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        runs = clean if name == "clean" else animated(degraded(cases, name, degrader), runner, template)
        f = figures(runs, clean)
        print(f"| {name} | {f['r']:.3f} | {f['phone_acc']:.3f} | {f['r_words']:.3f} | {f['r_pauses_clean']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
