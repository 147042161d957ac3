"""Viseme events from phone timings: Azure, Oculus and Rhubarb layouts."""

from __future__ import annotations

from typing import Sequence

from voca_cn.core.phones import AZURE, OCULUS, RHUBARB
from voca_cn.core.timing import Segment

TICKS_PER_SECOND = 10_000_000  # Azure's audio offsets are in 100 ns ticks


def _runs(phones: Sequence[Segment], key) -> list[tuple[object, float, float]]:
    runs: list[list] = []
    for p in phones:
        v = key(p.label)
        if runs and runs[-1][0] == v:
            runs[-1][2] = p.end
        else:
            runs.append([v, p.start, p.end])
    return [tuple(r) for r in runs]


def azure_events(phones: Sequence[Segment]) -> list[dict]:
    """Like Azure's VisemeReceived events: one per viseme change, with its audio offset."""
    return [{"audio_offset_ticks": int(round(s * TICKS_PER_SECOND)), "audio_offset_ms": round(s * 1000, 1),
             "viseme_id": int(v)} for v, s, _ in _runs(phones, AZURE.get)]


def oculus_events(phones: Sequence[Segment]) -> list[dict]:
    return [{"start": round(s, 3), "end": round(e, 3), "viseme": v} for v, s, e in _runs(phones, OCULUS.get)]


def rhubarb_cues(phones: Sequence[Segment]) -> dict:
    """Rhubarb Lip Sync's JSON layout (``mouthCues`` with A-H/X shapes)."""
    cues = [{"start": round(s, 2), "end": round(e, 2), "value": v} for v, s, e in _runs(phones, RHUBARB.get)]
    return {"metadata": {"duration": round(phones[-1].end, 2) if phones else 0.0}, "mouthCues": cues}


def events(phones: Sequence[Segment], fmt: str = "azure"):
    return {"azure": azure_events, "oculus": oculus_events, "rhubarb": rhubarb_cues}[fmt](phones)
