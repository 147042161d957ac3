"""Do the engines' own phone timings agree with an independent forced alignment of their audio?

    python benchmarks/timings.py [--sentences 8]

For every English voice: synthesize sentences, force-align the audio to the text with pocketsphinx
(voca_cn.speech.align), and report the median |start-time difference| of the phones both agree on
(matched in order by viseme class). Non-English voices have no independent aligner here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn import VocaError  # noqa: E402
from voca_cn.speech.align import Aligner, boundary_differences  # noqa: E402
from voca_cn.speech.tts import VOICES, synthesize  # noqa: E402
from voca_cn.training.corpus import texts  # noqa: E402


def agreement(voice, sentences: list[str]) -> tuple[np.ndarray, int]:
    """All |start differences| (s) over ``sentences`` spoken by ``voice``, and how many
    sentences the aligner could not align (left out)."""
    aligner = Aligner()
    diffs, failed = [], 0
    for text in sentences:
        y, phones = synthesize(voice, text)
        try:
            diffs.append(boundary_differences(phones, aligner.align(y, text)[0]))
        except VocaError:
            failed += 1
    return np.concatenate(diffs), failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=8)
    args = ap.parse_args()
    sentences = texts("en", args.sentences, seed=12345)
    print("voice\tphones\tmedian_ms\tp90_ms\tunaligned_sentences")
    for v in VOICES:
        if v.language == "en":
            d, failed = agreement(v, sentences)
            d = d * 1000
            print(f"{v.id}\t{len(d)}\t{np.median(d):.1f}\t{np.percentile(d, 90):.1f}\t{failed}", flush=True)


if __name__ == "__main__":
    main()
