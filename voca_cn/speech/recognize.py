"""Phone recognition without a transcript: pocketsphinx 5 all-phone decoding (English model).

This is the Rhubarb-like audio-only path: recognised phones feed the procedural animator. It is
the default audio-only path until a learned phonetic stage is shipped in ``voca_cn/models``.
"""

from __future__ import annotations

import os

import numpy as np

from voca_cn.core.phones import from_arpabet
from voca_cn.core.timing import SR, Segment, merge_silences
from voca_cn.speech.align import FRAME, to_pcm

CHUNK_SECONDS = 30.0  # decode long audio in pieces: bounded memory, no search blow-up


class PhoneRecognizer:
    def __init__(self):
        from pocketsphinx import Decoder, get_model_path

        self.decoder = Decoder(allphone=os.path.join(get_model_path(), "en-us-phone.lm.bin"),
                               lm=None, loglevel="FATAL", beam=1e-20, pbeam=1e-20, lw=2.0)

    def recognize(self, audio: np.ndarray) -> list[Segment]:
        """16 kHz mono (S,) float32 -> inventory phone segments covering the audio (seconds)."""
        phones: list[Segment] = []
        step = int(CHUNK_SECONDS * SR)
        for offset in range(0, len(audio), step):
            self.decoder.start_utt()
            self.decoder.process_raw(to_pcm(audio[offset:offset + step]), full_utt=True)
            self.decoder.end_utt()
            t0 = offset / SR
            for seg in self.decoder.seg():
                start, end = t0 + seg.start_frame * FRAME, t0 + (seg.end_frame + 1) * FRAME
                phones.append(Segment(from_arpabet(seg.word), start, min(end, len(audio) / SR)))
        return merge_silences([p for p in phones if p.end > p.start], len(audio) / SR)
