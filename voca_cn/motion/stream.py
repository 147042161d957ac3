"""Live animation: push 16 kHz audio as it arrives, get ARKit frames as soon as they are final.

The steps are the offline ones (:class:`voca_cn.motion.lipsync.AudioAnimator`), run incrementally with
their state carried between calls: log-mel frames as their 25 ms windows fill, the phonetic
network, phone probabilities at 100/s interpolated to 60 fps, the lip-sync network, the lip
closure. A frame leaves as soon as every input it depends on has arrived, so the delay past a
frame's start is the model's algorithmic look-ahead (:meth:`Stream.lookahead_ms`; 79.2 ms for the
default config), plus compute. The frames equal the offline ones for the same audio (float
precision), whatever the sizes of the pushed chunks.
"""

from __future__ import annotations

import os

import numpy as np

from voca_cn import VocaError
from voca_cn.audio.features import FRAME_RATE, HOP, WIN, Leveller, NoiseFloor, mel_frames, n_feature_frames
from voca_cn.audio.loudness import Loudness
from voca_cn.core.phones import PHONES
from voca_cn.core.timing import FPS, lerp_frames, n_frames
from voca_cn.motion.fallback import Disagreement, mix, share
from voca_cn.motion.lipsync import AudioAnimator, Rest, bilabial_on, close_lips, in_run, to_rest
from voca_cn.motion.living import Living, LivingModel, combine
from voca_cn.motion.phonetic import softmax


class _Delay:
    """A stateful network whose output t describes input t - ``lookahead``: drops the first
    ``lookahead`` outputs, so what it returns lines up with what went in."""

    def __init__(self, net, lookahead: int):
        self.net, self.skip = net, lookahead
        self.state = net.zero_state(1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return x[:, :0]
        y, self.state = self.net(x[None], self.state)
        y = y[0, self.skip:]
        self.skip = max(0, self.skip - len(x))
        return y


class _Rate:
    """100/s -> 60 fps linear interpolation as frames arrive (the offline
    :func:`voca_cn.core.timing.resample_frames`): output j sits at input position j * 5/3 and is final
    once input floor(j * 5/3) + 1 has arrived, or the input has ended."""

    def __init__(self):
        self.ratio = FRAME_RATE / FPS
        self.held = None  # input frames from index `base` on
        self.base = 0
        self.next = 0  # next output index

    def __call__(self, frames: np.ndarray, total_out: int | None = None) -> np.ndarray:
        """Append (k, D) input frames; returns the newly final (m, D) outputs. ``total_out``
        (the sequence's frame count at 60 fps) ends the input."""
        self.held = frames if self.held is None else np.concatenate([self.held, frames])
        end = self.base + len(self.held)
        stop = self.next
        if total_out is not None:
            stop = total_out
        else:
            while int(stop * self.ratio) + 1 < end:
                stop += 1
        if stop <= self.next or len(self.held) == 0:
            return self.held[:0]
        out = lerp_frames(self.held, np.arange(self.next, stop) * self.ratio - self.base)
        keep = min(int(stop * self.ratio), end - 1) - self.base  # frames the next output reads
        self.held, self.base, self.next = self.held[keep:], self.base + keep, stop
        return out


class _Chain:
    """One model's steps as audio arrives: phonetic network, 60 fps, lip-sync network. ``feed``
    takes levelled log-mel frames and returns the phone probabilities that became known; ``take(k)``
    returns k final weights clamped to [0, 1] (:meth:`voca_cn.motion.lipsync.AudioAnimator.shapes`)."""

    def __init__(self, animator: AudioAnimator):
        self.stage = animator.stage
        self._floor = NoiseFloor() if animator.stage.floor else None  # a model trained with that front end
        self._phonetic = _Delay(animator.stage.net, animator.stage.lookahead)
        self._lipsync = _Delay(animator.net.net, animator.net.lookahead)
        self._lipsync_lookahead = animator.net.lookahead
        self._rate = _Rate()
        self._last_input = None  # the last 60 fps lip-sync input (held past the end)
        self._w = np.zeros((0, 52), np.float32)  # weights not yet taken

    def feed(self, mel: np.ndarray, total: int | None) -> np.ndarray:
        """(k, 40) levelled log-mel frames (``total``: the 60 fps frame count, at the end) ->
        (k', P) the phone probabilities that became known."""
        end = total is not None
        x = self.stage.normalise(mel if self._floor is None else self._floor(mel))
        if end:
            x = np.concatenate([x, self.stage.tail()])
        probs = softmax(self._phonetic(x)) if len(x) else np.zeros((0, len(PHONES)), np.float32)
        x = self._rate(probs, total) if len(probs) or end else probs
        if end:
            last = x[-1:] if len(x) else self._last_input
            x = np.concatenate([x, np.repeat(last, self._lipsync_lookahead, axis=0)])
        if len(x):
            self._last_input = x[-1:]
            self._w = np.concatenate([self._w, np.clip(self._lipsync(x), 0.0, 1.0)])
        return probs

    def ready(self) -> int:
        """Weights final and not yet taken."""
        return len(self._w)

    def take(self, k: int) -> np.ndarray:
        out, self._w = self._w[:k], self._w[k:]
        return out


class Stream:
    """Audio in, ARKit frames out, as the audio arrives.

    ``push(audio)`` takes (S,) float32 samples at 16 kHz, any number at a time, and returns the
    (k, 52) float32 ARKit weights (60 fps, Apple order) that became final; ``close()`` ends the
    audio and returns the rest. ``living``: the blink, gaze, brow and head layers
    (:class:`voca_cn.motion.living.Living`); after each call :attr:`head` holds the returned
    frames' head rotation (k, 3) radians (yaw, pitch, roll; zeros when the head layer is off). Frame i of the whole stream covers [i/60, (i+1)/60) s;
    :attr:`frames` counts the frames returned so far. One core per stream.

    >>> s = Stream()
    >>> w = np.concatenate([s.push(chunk) for chunk in chunks] + [s.close()])  # doctest: +SKIP
    """

    def __init__(self, model: str | os.PathLike | None = None, living: Living = Living()):
        animator = AudioAnimator.load(model, threads=1)
        self._motion = None if living.off else LivingModel.load().motion(living)
        self.head = np.zeros((0, 3), np.float32)  # head rotation (k, 3) rad of the frames last returned
        self._loud, self._rest = Loudness(), Rest()
        self._levels = np.zeros(0, np.float32)  # loudness of frames not yet returned
        self._r = np.zeros(0, np.float32)  # rest shares of frames not yet returned
        self.stage, self.lookahead = animator.stage, animator.lookahead_ms()
        # the clean model, and the robust one mixed in by their disagreement (motion.fallback)
        self._chains = [_Chain(animator)] + ([_Chain(animator.robust)] if animator.robust else [])
        self._disagreement, self._share_rate = Disagreement(), _Rate()
        # the two stages' running mean divergence at the latest phone frame (nats; 0 until one is
        # heard, and with one model): above motion.fallback.NOISY the audio sounds degraded
        self.disagreement = 0.0
        self._a = np.zeros(0, np.float32)  # robust shares (60 fps) of frames not yet returned
        self._on = np.zeros(1, bool)  # bilabial flags from the frame before the first unjudged one
        self._closure_rate = _Rate()
        self._e = np.zeros(0, np.float32)  # closure values of frames not yet returned
        self._pcm = np.zeros(WIN // 2, np.float32)  # the offline zero padding before the start
        self._samples = 0  # pushed so far
        self._mel_done = 0  # log-mel frames computed
        self._leveller = Leveller()
        self.frames = 0
        self.closed = False

    def lookahead_ms(self) -> float:
        """How far past a frame's start the audio must reach before the frame is returned."""
        return self.lookahead

    def push(self, audio: np.ndarray) -> np.ndarray:
        """(S,) float32 16 kHz samples -> (k, 52) float32 ARKit weights that became final."""
        if self.closed:
            raise VocaError("this stream is closed; start a new Stream for new audio")
        audio = np.asarray(audio, np.float32).reshape(-1)
        if not np.isfinite(audio).all():
            raise VocaError("the pushed audio has non-finite samples (NaN/inf); pass float32 in [-1, 1]")
        self._pcm = np.concatenate([self._pcm, np.clip(audio, -1.0, 1.0)])
        self._samples += len(audio)
        self._hear(self._loud.push(np.clip(audio, -1.0, 1.0)), end=False)
        ready = (len(self._pcm) - WIN) // HOP + 1 if len(self._pcm) >= WIN else 0
        return self._advance(self._mel(ready), end=False)

    def close(self) -> np.ndarray:
        """End of audio: (k, 52) float32 the remaining frames (zero padding and held frames past
        the end, as offline)."""
        if self.closed or self._samples == 0:
            self.closed = True
            self.head = np.zeros((0, 3), np.float32)
            return np.zeros((0, 52), np.float32)
        self.closed = True
        total = n_feature_frames(self._samples)
        need = (total - self._mel_done - 1) * HOP + WIN
        self._pcm = np.concatenate([self._pcm, np.zeros(max(0, need - len(self._pcm)), np.float32)])
        mel = self._mel(total - self._mel_done)
        self._hear(self._loud.push(np.zeros(0, np.float32), end=True, total=n_frames(self._samples)), end=True)
        return self._advance(mel, end=True)

    # ------------------------------------------------------------------ the steps
    def _mel(self, count: int) -> np.ndarray:
        """The next ``count`` levelled log-mel frames from the held samples."""
        if count <= 0:
            return np.zeros((0, self.stage.mean.size), np.float32)
        mel = mel_frames(self._pcm[:(count - 1) * HOP + WIN])
        mel = mel + self._leveller(mel)[:, None]
        self._pcm = self._pcm[count * HOP:]
        self._mel_done += count
        return mel

    def _advance(self, mel: np.ndarray, end: bool) -> np.ndarray:
        total = n_frames(self._samples) if end else None
        probs = [c.feed(mel, total) for c in self._chains]
        p = probs[0]
        if len(self._chains) == 2:  # both stages have the same look-ahead: the same frames
            d = self._disagreement(*probs)
            self.disagreement = float(d[-1]) if len(d) else self.disagreement
            a = share(d)
            p = mix(p.copy(), probs[1], a)  # a copy: the chain still holds its own
            if len(a) or end:
                self._a = np.concatenate([self._a, self._share_rate(a[:, None], total)[:, 0]])
        e = self._closure(bilabial_on(p), end)
        self._e = np.concatenate([self._e, self._closure_rate(e[:, None], total)[:, 0]])
        k = min(min(c.ready() for c in self._chains), len(self._e), len(self._r))
        if len(self._chains) == 2:
            k = min(k, len(self._a))
            out = mix(self._chains[0].take(k), self._chains[1].take(k), self._a[:k])
            self._a = self._a[k:]
        else:
            out = self._chains[0].take(k)
        out = close_lips(out, self._e[:k])
        self._e = self._e[k:]
        out = to_rest(out, self._r[:k])
        self.head = np.zeros((k, 3), np.float32)
        if self._motion:  # causal: frame i's layers need audio up to (i + 1) / 60 s, within the look-ahead
            layers, self.head = self._motion.step(self._levels[:k])
            out = combine(out, layers)
        self._r, self._levels = self._r[k:], self._levels[k:]
        self.frames += k
        return out

    def _hear(self, levels: np.ndarray, end: bool) -> None:
        """New frames' loudness: kept for the living layers, and turned into rest shares."""
        self._levels = np.concatenate([self._levels, levels])
        self._r = np.concatenate([self._r, self._rest(levels, end)])

    def _closure(self, flags: np.ndarray, end: bool) -> np.ndarray:
        """Closure targets (100/s) of the frames whose next frame is known (all, at the end), from
        the new frames' bilabial flags."""
        on = np.concatenate([self._on, flags])
        if end:
            on = np.concatenate([on, np.zeros(1, bool)])
        e = in_run(on[:-2], on[1:-1], on[2:]) if len(on) >= 3 else np.zeros(0, np.float32)
        self._on = on[-2:] if len(on) >= 2 else on
        return e
