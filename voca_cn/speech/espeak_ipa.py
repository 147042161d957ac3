"""espeak-ng as a letter-to-sound engine: the IPA it would speak for a text, in the inventory.

Used for every transcript language without its own module in :mod:`voca_cn.speech.g2p`, and for
English words inside Mandarin text."""

from __future__ import annotations

import functools
import re
import subprocess

import numpy as np

from voca_cn import VocaError
from voca_cn.core.phones import parse_ipa

Word = tuple[str, tuple[str, ...]]  # (word as written, inventory phones)


@functools.lru_cache(maxsize=1)
def espeak_languages() -> frozenset[str]:
    """Language and voice codes espeak-ng knows (``espeak-ng --voices``)."""
    try:
        listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True,
                                 timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise VocaError(f"espeak-ng is needed for transcripts in this language ({e}); install it "
                        "(see README setup)") from None
    codes = set()
    for line in listing.splitlines()[1:]:
        f = line.split()
        if len(f) >= 5:  # Pty Language Age/Gender VoiceName File ...
            codes |= {f[1], f[4].split("/")[-1]}
    return frozenset(codes)


def espeak_words(text: str, language: str) -> list[Word]:
    """espeak-ng's pronunciation of ``text`` in ``language``: one entry per word it speaks (its
    language-switch marks such as ``(en)`` dropped), labelled by the text's words. espeak-ng
    speaks some words as one ("I shall": aɪʃˌal) and some as several (numbers), so where the
    counts differ each entry is labelled by the written words it matches (:func:`label`); by its
    IPA only where none do."""
    spoken = _speak(text, language)
    written = re.findall(r"\w+(?:['’]\w+)*", text)
    if len(written) == len(spoken):
        return [(w, p) for w, (_, p) in zip(written, spoken)]
    lines = _run(language, "\n".join(written), stdin=True).splitlines()  # from stdin, a line is spoken alone
    alone = [tuple(p for w in _words(line) for p in parse_ipa(w)) for line in lines]
    groups = label(written, alone, [p for _, p in spoken]) if len(alone) == len(written) else None
    if groups is None:
        return spoken
    return [(name, sum((p for _, p in spoken[a:b]), ())) for name, a, b in groups]


def label(written: list[str], alone: list[tuple[str, ...]],
          spoken: list[tuple[str, ...]]) -> list[tuple[str, int, int]] | None:
    """The spoken words grouped under the written words whose phones said alone (``alone``, one
    per written word) match them: (label, first, end) spans of ``spoken``, where one spoken word
    may be up to 3 written ones ("I shall") and one written word up to 3 spoken ones ("1984"); the
    least total phone edit distance. None when the two cannot be matched at all."""
    n, m = len(written), len(spoken)
    cost = np.full((n + 1, m + 1), np.inf)
    back = {}
    cost[0, 0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if not np.isfinite(cost[i, j]):
                continue
            for k in range(1, 4):
                if i + k <= n and j < m:  # one spoken word, k written ones
                    c = cost[i, j] + _edits(sum(alone[i:i + k], ()), spoken[j]) + 0.5 * (k - 1)
                    if c < cost[i + k, j + 1]:
                        cost[i + k, j + 1], back[i + k, j + 1] = c, (i, j)
                if k > 1 and i < n and j + k <= m:  # one written word, k spoken ones
                    c = cost[i, j] + _edits(alone[i], sum(spoken[j:j + k], ())) + 0.5 * (k - 1)
                    if c < cost[i + 1, j + k]:
                        cost[i + 1, j + k], back[i + 1, j + k] = c, (i, j)
    if not np.isfinite(cost[n, m]):
        return None
    out, (i, j) = [], (n, m)
    while (i, j) != (0, 0):
        a, b = back[i, j]
        out.insert(0, (" ".join(written[a:i]), b, j))
        i, j = a, b
    return out


def _edits(a: tuple, b: tuple) -> int:
    """Levenshtein distance between two phone sequences."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _speak(text: str, language: str) -> list[Word]:
    """(IPA word, inventory phones) for each word espeak-ng speaks in ``text``."""
    spoken = [(w, tuple(parse_ipa(w))) for w in _words(_run(language, text))]
    return [(w, p) for w, p in spoken if p]


def _words(ipa: str) -> list[str]:
    return re.sub(r"\([a-z-]+\)", "", ipa).split()


def _run(language: str, text: str, stdin: bool = False) -> str:
    """espeak-ng's IPA for ``text`` in ``language`` (given on its standard input, where each line is
    spoken on its own, or as an argument, where lines run together): its standard output."""
    args = ["espeak-ng", "-q", "--ipa", "-v", language] + ([] if stdin else [text])
    try:
        done = subprocess.run(args, input=text if stdin else None, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise VocaError(f"espeak-ng is needed for transcripts in this language ({e}); install it "
                        "(see README setup)") from None
    if done.returncode != 0:
        raise VocaError(f"espeak-ng cannot speak {language!r}: {done.stderr.strip()[:120]}")
    return done.stdout
