"""espeak-ng as a letter-to-sound engine: the IPA it would speak for a text, in the inventory.

Used for every transcript language without its own module in :mod:`voca_cn.speech.g2p`, and for
English words inside Mandarin text."""

from __future__ import annotations

import functools
import re
import subprocess

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
    language-switch marks such as ``(en)`` dropped). Words are labelled by the text's words where
    espeak-ng keeps their count, else by their IPA."""
    try:
        done = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", language, text], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise VocaError(f"espeak-ng is needed for transcripts in this language ({e}); install it "
                        "(see README setup)") from None
    if done.returncode != 0:
        raise VocaError(f"espeak-ng cannot speak {language!r}: {done.stderr.strip()[:120]}")
    ipa = re.sub(r"\([a-z-]+\)", "", done.stdout).split()
    spoken = [(w, tuple(parse_ipa(w))) for w in ipa]
    spoken = [(w, p) for w, p in spoken if p]
    written = re.findall(r"\w+(?:['’]\w+)*", text)
    if len(written) == len(spoken):
        return [(w, p) for w, (_, p) in zip(written, spoken)]
    return spoken
