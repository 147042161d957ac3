"""The lip-sync network (the design card's shape) and its vertex loss.

Phone probabilities resampled to 60 fps -> Conv1D x2 -> LSTM x2 -> Dense(tanh) -> Dense(52,
linear) = ARKit weights w(t). A template's blendshape basis B is the linear vertex decoder:
offsets d(t) = B w(t). Because the decoder is linear, the vertex loss needs no vertices at run
time: for an error e = w_pred - w_ref, sum_v a_v |B_v e|^2 = e^T G e with the Gram matrix
G = sum_v a_v B_v^T B_v (52 x 52), averaged over the training templates. So the loss is exactly
the (lip- and jaw-weighted) mean squared vertex error in mm^2, position + velocity, over several
heads at once, and costs a 52 x 52 product per frame.

At run time the lips are also closed wherever the phonetic stage hears p, b or m: a network
trained on a mean-squared loss rounds closures off. The closure reads one 10 ms frame ahead, within
the lip-sync network's own look-ahead, so it adds no latency to a stream.

Two more run-time rules keep the mouth where real mouths are. Every weight is within [0, 1] (the
network's last layer is linear and undershoots 0 on about a third of the values). And in silence
the mouth returns to rest: the phonetic stage does not always hear silence as silence (it holds
the last vowel through trailing digital silence), so the loudness decides
(:mod:`voca_cn.audio.loudness`): a frame with no loud frame from itself to REST_AHEAD frames ahead
starts a quiet run, and after REST_DELAY quiet frames the mouth channels fade to neutral over
REST_RAMP frames (200 ms from the end of speech to rest, as tracked real lips do).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from voca_cn.audio.features import FRAME_RATE, WIN, segment_labels
from voca_cn.core.arkit import NAMES
from voca_cn.core.phones import AZURE, PHONE_INDEX, PHONES, VISEME_POSES
from voca_cn.core.timing import FPS, SR, Segment, merge_silences, n_frames, resample_frames
from voca_cn.motion import onnx as runtime
from voca_cn.motion.fallback import Disagreement, mix, share
from voca_cn.motion.phonetic import PhoneticStage, Rows, one_pass_mel

# p/b/m probability above which the lips are closed, chosen on the val split: 0.3 gave bilabial
# recall 0.90 at LVE 1.98 mm and 0.5 gave 0.84 at 1.91 mm (shipped model at 0.3: 0.91, 1.94 mm)
BILABIAL_THRESHOLD = 0.3
# a viseme event shorter than 30 ms is kept where its phone's mean probability reaches this; chosen
# on the val split (benchmarks/visemes.py): 0.7 raised bilabial recall (Kathleen 0.874 -> 0.879,
# TTS 0.898 -> 0.934) at the same precision, 0.5 cost Kathleen precision 0.801 -> 0.763
CONFIDENT = 0.7
# a frame is quiet below REST_LEVEL, or below REST_SHARE of the loudest recent frame (a running top
# falling TOP_FALL a frame) where that is lower: in steady noise at 0-5 dB SNR speech rises only
# ~0.1-0.2 above the floor, and the fixed 0.3 alone froze the mouth for the whole take (pink noise
# 0 dB: r 0.26 -> 0.02); clean speech peaks above 0.6, where nothing changes
REST_LEVEL, REST_SHARE, TOP_FALL = 0.3, 0.5, 0.005
REST_AHEAD, REST_DELAY, REST_RAMP = 3, 3, 9  # 60 fps frames: look-ahead (50 ms < the model's 79 ms), wait, fade
# With a transcript (``--text``) a share of each frame's probability is moved to the phones its
# alignment has within Guide.window frames (100/s) of it, in the stage's own proportions (the aligned
# phone at least GUIDE_FLOOR): what the stage hears of other phones (noise, other voices) loses
# weight, its own timing and soft transitions stay. See :class:`Guide` for how much.
GUIDE_FLOOR = 0.02
BILABIALS = [PHONE_INDEX[p] for p in ("p", "b", "m")]
MOUTH = np.array([i for i, n in enumerate(NAMES) if n.startswith(("jaw", "mouth")) or n in ("tongueOut", "cheekPuff")])


@dataclass(frozen=True)
class Guide:
    """How far a transcript pulls each frame: ``share`` where the two shipped phonetic stages
    disagree by ``high`` nats or more (their running mean divergence, :mod:`voca_cn.motion.fallback`:
    noise, echo, other voices), none below ``low`` (they hear the same: the audio is clean and
    the stages hear it right), a linear ramp between; ``alone`` everywhere with a single model
    (nothing to compare). ``low`` < 0: ``share`` everywhere.

    Chosen on the val split by :mod:`voca_cn.training.calibrate_guide` (98 grid-s1 clips, each
    clean and as 2 training-chain recordings): against the earlier constant 0.4 the ramp 0 -> 0.55
    over 0.03-0.15 nats raised aperture r on clean takes 0.772 -> 0.777 (audio alone 0.775) and on
    degraded ones 0.700 -> 0.706; the window hardly matters (3-10 frames)."""
    share: float = 0.55
    low: float = 0.03
    high: float = 0.15
    window: int = 10
    alone: float = 0.4

    def shares(self, disagreement: np.ndarray | None, n: int) -> np.ndarray:
        """(n,) float32 share per 100/s frame from the (n,) running mean divergence (None: one model)."""
        if disagreement is None:
            return np.full(n, self.alone, np.float32)
        ramp = np.clip((np.asarray(disagreement) - self.low) / (self.high - self.low), 0.0, 1.0)
        return (self.share * ramp).astype(np.float32)


GUIDE = Guide()


class LipSync:
    """A trained lip-sync network (run-time graph). ``LipSync.load()`` reads the shipped one;
    ``net(probs_60fps)`` gives (T, 52) ARKit weights."""

    def __init__(self, net, lookahead: int):
        self.net, self.lookahead = net, lookahead

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None, threads: int = 0) -> "LipSync":
        net = runtime.load(directory, "lipsync", threads)
        runtime.check_shape(net, len(PHONES), 52, "lip-sync", directory)
        return cls(net, net.meta["lookahead"])

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        """(T, P) phone probabilities at 60 fps -> (T, 52) float32 weights (before lip closure);
        past the end the last frame is held, as a stream's end does."""
        n = len(probs)  # made chunk by chunk as the network reads it: no copy of hours of input
        x = Rows(n + self.lookahead, probs.shape[1], lambda a, b: probs[np.minimum(np.arange(a, b), n - 1)])
        return self.net.offline(x)[self.lookahead:]


class AudioAnimator:
    """Audio -> ARKit weights with no transcript: phonetic stage, 60 fps, lip-sync network, lips
    closed where a bilabial is heard. With a ``robust`` second model (the shipped default has one:
    :mod:`voca_cn.motion.fallback`) both run and are mixed frame by frame by how much their
    phonetic stages disagree. :class:`voca_cn.motion.stream.Stream` runs the same steps live."""

    def __init__(self, stage, net: LipSync, robust: "AudioAnimator | None" = None):
        self.stage, self.net, self.robust = stage, net, robust

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None, threads: int = 0) -> "AudioAnimator":
        """A model folder's animator; None = the shipped clean model with the robust one mixed in."""
        one = cls(PhoneticStage.load(directory, threads), LipSync.load(directory, threads))
        if directory is None:
            one.robust = cls.load("robust", threads)
            assert (one.robust.stage.lookahead, one.robust.net.lookahead) == (one.stage.lookahead, one.net.lookahead)
        return one

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(S,) float32 16 kHz -> (T, 52) float32 ARKit weights at 60 fps, T = ceil(S/16000*60)."""
        return self.run(audio)[0]

    def run(self, audio: np.ndarray):
        """Weights (T, 52) and the recognised phones (segments from the per-frame best phone)."""
        w, probs, _ = self.animate(audio)
        return w, best_phones(probs, len(audio) / SR)

    def animate(self, audio: np.ndarray, level: np.ndarray | None = None, phones: list[Segment] | None = None,
                heard=None, guide: Guide = GUIDE) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(S,) float32 16 kHz -> (T, 52) float32 weights in [0, 1] at 60 fps (T = ``len(level)``
        or ceil(S/16000*60)), the (F, P) phone probabilities at 100/s they came from and the two
        stages' (F,) running mean divergence (None with one model). With the
        audio's ``level`` (T,) (:func:`voca_cn.audio.loudness.loudness`) the mouth rests in silence;
        with a transcript's aligned ``phones`` each stage hears them (:func:`toward`, as far as
        ``guide`` says) and the lips
        also close wherever the alignment has p, b or m (in heavy noise the stages hear few of
        them: babble 5 dB, 30 grid-s1 clips, closed 0.39 of them without this rule, 0.61 with it, 0.66
        with the procedural animator's). ``heard``: :meth:`stages` of this audio where the caller
        has them already (left as they are)."""
        n = n_frames(len(audio)) if level is None else len(level)
        probs, other, d = self.stages(audio) if heard is None else heard
        ours = heard is None  # probabilities this call may mix in place (hours of them: no copy)
        said = np.zeros(len(probs), np.float32)
        if phones is not None:
            labels, pull = segment_labels(phones, len(probs)), guide.shares(d, len(probs))
            probs, other = (None if x is None else toward(x, labels, guide.window, pull) for x in (probs, other))
            said, ours = np.isin(labels, BILABIALS).astype(np.float32), True
        if self.robust is None:
            w = self.shapes(probs, n)
        else:
            a = share(d)
            w = mix(self.shapes(probs, n), self.robust.shapes(other, n), at_fps(a, n))
            probs = mix(probs if ours else probs.copy(), other, a)  # the lips close where the mix hears a bilabial
            del other
        w = close_lips(w, at_fps(np.maximum(closure(probs), said), n))
        return (w if level is None else to_rest(w, Rest()(level, end=True))), probs, d

    def hear(self, audio: np.ndarray, heard=None) -> np.ndarray:
        """(S,) float32 16 kHz -> (F, P) phone probabilities at 100/s, mixed as :meth:`animate`
        mixes them: what the lips close on, and what a transcript is aligned to. ``heard``:
        :meth:`stages` of this audio where the caller has them (left as they are)."""
        probs, other, d = self.stages(audio) if heard is None else (heard[0].copy(), *heard[1:])
        return probs if self.robust is None else mix(probs, other, share(d))

    def stages(self, audio: np.ndarray):
        """The clean stage's probabilities (F, P), the robust one's and their running mean
        divergence (F,) (:class:`voca_cn.motion.fallback.Disagreement`; None, None without a robust
        model)."""
        if self.robust is None:
            return self.stage(audio), None, None
        mel = one_pass_mel(audio)  # both stages read it; freed on return, before the lip-sync networks run
        probs, other = self.stage(audio, mel), self.robust.stage(audio, mel)
        return probs, other, Disagreement()(probs, other)

    def shapes(self, probs: np.ndarray, n: int) -> np.ndarray:
        """(F, P) phone probabilities at 100/s -> (n, 52) float32 network weights in [0, 1] at 60 fps."""
        w = self.net(resample_frames(probs, FRAME_RATE, FPS, n))
        return np.clip(w, 0.0, 1.0, out=w)

    def mouth(self, probs: np.ndarray, n: int) -> np.ndarray:
        """:meth:`shapes` with the lips closed wherever the phonetic stage hears a bilabial."""
        return close_lips(self.shapes(probs, n), at_fps(closure(probs), n))

    def lookahead_ms(self) -> float:
        """Algorithmic look-ahead in ms: how far past a frame's start time the audio must reach
        before the frame is final, worst case over frames. Frame j (at j/60 s) needs lip-sync input
        j + L2, interpolated from phone frames up to floor((j + L2) * 5/3) + 1 (and the closure
        rule's frame floor(j * 5/3) + 2); phone frame k needs log-mel frame k + L1, whose window
        ends half a window (12.5 ms) after its centre k * 10 ms."""
        def last_phone_frame(j: int) -> int:
            return max(int((j + self.net.lookahead) * FRAME_RATE / FPS) + 1, int(j * FRAME_RATE / FPS) + 2)

        worst = max((last_phone_frame(j) + self.stage.lookahead) / FRAME_RATE - j / FPS
                    for j in range(3))  # the pattern repeats every 3 frames (100/60 = 5/3)
        return 1000 * (worst + WIN / 2 / SR)


def toward(probs: np.ndarray, labels: np.ndarray, window: int, pull: np.ndarray | float,
           floor: float = GUIDE_FLOOR, chunk: int = 8192) -> np.ndarray:
    """(F, P) phone probabilities and (F,) int the aligned phone per frame (100/s) -> (F, P)
    float32: (1 - pull) of each frame as heard, ``pull`` (a number, or (F,) one per frame) over
    the phones aligned within ``window`` frames of it (in the probabilities' proportions, plus
    ``floor`` on the frame's own aligned phone, so a phone the stage did not hear still gets some)."""
    out = np.empty(probs.shape, np.float32)
    pull = np.broadcast_to(np.asarray(pull, np.float32), (len(probs),))
    last = len(labels) - 1
    for a in range(0, len(probs), chunk):
        p = np.asarray(probs[a:a + chunk], np.float32)
        rows = np.arange(len(p))
        allowed = np.zeros(p.shape, bool)
        for s in range(-window, window + 1):
            allowed[rows, labels[np.clip(np.arange(a, a + len(p)) + s, 0, last)]] = True
        q = np.where(allowed, p, 0.0)
        q[rows, labels[a:a + len(p)]] += floor
        k = pull[a:a + len(p), None]
        out[a:a + chunk] = (1.0 - k) * p + k * q / q.sum(1, keepdims=True)
    return out


def at_fps(x: np.ndarray, n: int) -> np.ndarray:
    """(F,) values at 100/s -> (n,) at 60 fps (linear interpolation)."""
    return resample_frames(x[:, None], FRAME_RATE, FPS, n)[:, 0]


def bilabial_on(probs: np.ndarray) -> np.ndarray:
    """(F, P) -> (F,) bool: the phonetic stage hears p, b or m (summed probability above
    :data:`BILABIAL_THRESHOLD`)."""
    return probs[:, BILABIALS].sum(1) > BILABIAL_THRESHOLD


def in_run(before: np.ndarray, on: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Closure target per 100/s frame (float32 0/1): the frame is in a run of at least two
    bilabial frames (one frame of look-ahead; a lone frame is a flicker, not a closure)."""
    return (on & (before | after)).astype(np.float32)


def closure(probs: np.ndarray) -> np.ndarray:
    """(F, P) probabilities -> (F,) float32 closure target at 100/s (see :func:`in_run`)."""
    on = bilabial_on(probs)
    none = np.zeros(1, bool)
    return in_run(np.concatenate([none, on[:-1]]), on, np.concatenate([on[1:], none]))


def close_lips(w: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Blend (T, 52) weights toward the lips-closed pose by (T,) e in [0, 1]: the lips meet on
    p, b and m however much the network, trained on a mean-squared loss, rounds closures off.
    Per frame, with no look-ahead of its own, so a stream gets the same frames."""
    pose = VISEME_POSES[AZURE["p"]].astype(np.float32)
    return (w + e[:, None] * (pose - w)).astype(np.float32)


class Rest:
    """How far (0 speaking .. 1 at rest) each 60 fps frame's mouth has gone to rest, from the
    loudness as it arrives: ``rest(levels)`` -> (k,) float32 for the frames whose REST_AHEAD frames
    of look-ahead are known (all of them with ``end``: past the end is silence)."""

    def __init__(self):
        self.held = np.zeros(0, bool)  # loud or not, per frame not yet decided
        self.top = 0.0
        self.quiet = REST_DELAY + REST_RAMP  # before the first sound the mouth is at rest

    def __call__(self, level: np.ndarray, end: bool = False) -> np.ndarray:
        level = np.concatenate([np.asarray(level, np.float32), np.zeros(REST_AHEAD if end else 0, np.float32)])
        loud = np.empty(len(level), bool)
        for j, x in enumerate(level):  # in arrival order: a stream decides as the whole file does
            self.top = max(float(x), self.top - TOP_FALL)
            loud[j] = x > min(REST_LEVEL, REST_SHARE * self.top)
        self.held = np.concatenate([self.held, loud])
        k = max(0, len(self.held) - REST_AHEAD)
        out = np.empty(k, np.float32)
        for i in range(k):
            self.quiet = 0 if self.held[i:i + REST_AHEAD + 1].any() else self.quiet + 1
            r = min(1.0, max(0.0, (self.quiet - REST_DELAY) / REST_RAMP))
            out[i] = r * r * (3 - 2 * r)  # smoothstep: no kink when the fade starts or ends
        self.held = self.held[k:]
        return out


def to_rest(w: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(T, 52) weights with the mouth channels faded to neutral by (T,) rest in [0, 1]."""
    out = np.array(w, np.float32, copy=True)
    out[:, MOUTH] *= (1.0 - rest)[:, None]
    return out


def best_phones(probs: np.ndarray, duration: float, rate: float = 100.0, min_frames: int = 3,
                confident: float = CONFIDENT):
    """(F, P) probabilities -> phone segments: runs of the best phone; a run shorter than
    ``min_frames`` is merged into the one before unless the stage was sure of it (its phone's mean
    probability over the run >= ``confident``): a plosive's burst lasts two frames, a flicker
    between two likely phones is unsure."""
    best = probs.argmax(1)
    change = np.flatnonzero(np.diff(best)) + 1
    bounds = np.concatenate([[0], change, [len(best)]])
    runs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        unsure = b - a < min_frames and probs[a:b, best[a]].mean() < confident
        if runs and (unsure or runs[-1][0] == best[a]):
            runs[-1][2] = b
        else:
            runs.append([best[a], a, b])
    phones = [Segment(PHONES[k], a / rate, min(b / rate, duration)) for k, a, b in runs
              if PHONES[k] != "sil" and a / rate < duration]
    return merge_silences(phones, duration)
