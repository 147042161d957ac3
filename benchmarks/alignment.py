"""Forced-alignment rate on the Kathleen corpus (real speech), and speed.

    python benchmarks/alignment.py [--corpus ../shared/corpora/kathleen] [--limit N] [--jobs 2]

An utterance counts as aligned when every transcript word gets a place in the audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn import VocaError  # noqa: E402
from voca_cn.audio import load as audio
from voca_cn.speech.align import Aligner  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/corpora/kathleen"


def align_one(path: Path) -> tuple[str, bool, float, str]:
    y = audio.load(path)
    aligner = Aligner()
    try:
        aligner.align(y, path.with_suffix(".txt").read_text())
        return path.name, True, len(y) / audio.SR, f"{aligner.method}:{aligner.spread_words}"
    except VocaError as e:
        return path.name, False, len(y) / audio.SR, str(e)


def main() -> None:
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    files = sorted((args.corpus / "utterances").glob("*.flac"))[: args.limit]
    t0 = time.perf_counter()
    with Pool(args.jobs) as pool:
        results = list(tqdm(pool.imap(align_one, files, chunksize=4), total=len(files), file=sys.stderr))
    wall = time.perf_counter() - t0
    ok = sum(r[1] for r in results)
    for name, good, _, err in results:
        if not good:
            print(f"failed: {name}: {err}", file=sys.stderr)
    per_word = [r for r in results if r[1] and r[3].startswith("per-word")]
    spread = sum(int(r[3].split(":")[1]) for r in per_word)
    print(f"{len(per_word)} utterances needed the per-word phone pass; {spread} words in them got "
          "spread phones (no phone path even alone)")
    hours = sum(r[2] for r in results) / 3600
    print(f"aligned {ok}/{len(results)} = {100 * ok / len(results):.2f}% of {hours:.2f} h in {wall:.0f} s "
          f"({hours * 3600 / wall:.1f}x real time, {args.jobs} jobs)")


if __name__ == "__main__":
    main()
