"""Every number a user can give (command-line flags, batch manifest fields): its kind and range.

One check for all of them, run before any work starts, so NaN, inf, negative or absurd values
never reach the pipeline (a NaN jaw scale would otherwise be written into every curve). Command-line
flags use :meth:`Bound.arg` as their argparse type; manifests call :meth:`Bound.check`.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """A number of kind ``kind`` (int or float) in [lo, hi]; ``hint`` says what it means."""

    kind: type
    lo: float
    hi: float
    hint: str = ""

    def check(self, value: object) -> int | float:
        """``value`` (text from a command line or CSV, or a JSON number) -> the number.

        Raises ValueError with a one-line message that names the fix."""
        ok = f"give {'a whole number' if self.kind is int else 'a number'} from {self.lo:g} to {self.hi:g}"
        if self.hint:
            ok += f" ({self.hint})"
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{value!r} is not a number; {ok}")
        try:
            x = float(value.strip()) if isinstance(value, str) else float(value)
        except (ValueError, OverflowError):
            raise ValueError(f"{value!r} is not a number; {ok}") from None
        if not math.isfinite(x):
            raise ValueError(f"{value!r} is not a finite number; {ok}")
        if self.kind is int and x != int(x):
            raise ValueError(f"{value!r} is not a whole number; {ok}")
        if not self.lo <= x <= self.hi:
            raise ValueError(f"{value!r} is out of range; {ok}")
        return int(x) if self.kind is int else x

    def arg(self, text: str) -> int | float:
        """argparse ``type=``: the same check, reported as a usage error."""
        try:
            return self.check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None


JAW = Bound(float, 0.0, 2.0, "jaw articulation: 0 none, 1 normal, 2 hyper")
LIP = Bound(float, 0.0, 2.0, "lip articulation: 0 none, 1 normal, 2 hyper")
FPS = Bound(int, 1, 240, "output frames per second; 60 is the native rate")
SIDE = Bound(int, 16, 4096, "video width or height in pixels")
JOBS = Bound(int, 1, 4096, "worker processes")
HOURS = Bound(float, 0.0, 10000.0, "hours of synthetic speech; 0 for none")
LIMIT = Bound(int, 1, 10**9, "items")
SEED = Bound(int, 0, 2**32 - 1, "random seed")
IDENTITY = Bound(float, -10.0, 10.0, "ICT identity coefficient, in standard deviations")
MAX_LAG = Bound(float, 0.04, 5.0, "largest audio-video offset searched, seconds")
CHUNK_MS = Bound(float, 1.0, 1000.0, "audio per read, milliseconds")
PORT = Bound(int, 0, 65535, "TCP port; 0 = any free one")
LIVING = Bound(float, 0.0, 2.0, "living-face layer scale: 0 off, 1 as learned, 2 double")


def size(text: str) -> tuple[int, int]:
    """argparse type for ``WxH`` video sizes, each side checked by :data:`SIDE`."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 512x512")
    return SIDE.arg(parts[0]), SIDE.arg(parts[1])
