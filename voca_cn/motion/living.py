"""The living face: blinks, brows, gaze and head rotation from the voice's loudness, learned from
tracked real video (``voca_cn.training.fit_living`` writes ``assets/models/living.json``).

Every layer reads only the audio up to the end of the frame it makes (causal), so a stream gets
the same frames as the whole file, whatever the sizes of the pushed chunks, and adds no
look-ahead. Same audio + same seed -> same curves.

- the voice: loudness per 60 fps frame (:mod:`voca_cn.audio.loudness`, 0 noise floor .. 1 peak);
  speech = above :data:`SPEECH`.
- blinks: a renewal process in "operational time": a gamma-distributed interval elapses at a
  hazard multiplier that depends on the voice (speaking, the first ``phrase_end_s`` after speech
  stops, other silence; each multiplier is the real blink rate in that state over the mean), so
  blinks fall where the real speakers' do and are never periodic; with the real probability a blink
  is doubled (a second one a real double-blink gap later). Each blink is the mean real lid profile,
  stretched to a duration drawn from the real ones.
- gaze: fixations of log-normal duration at targets drawn from the real gaze spread, joined by
  ``saccade_frames``-long saccades; angles in radians (yaw, pitch), eyeLook weights = angle /
  :data:`GAZE_FULL`.
- expression (brows, squint): per channel a deviation = gain x loudness features [1, x, x^2]
  (where the data shows a link) + a smooth second-order process (as the head's) driven by noise
  with the channels' real correlation; brows > 0 raise (browInnerUp, browOuterUp), < 0 lower
  (browDown).
- head: per axis (yaw, pitch, roll) a critically damped second-order process driven by white
  noise whose strength follows the loudness as the real speakers' head speed does.

Head rotation convention (``head``, (T, 3) float32 radians, the head's own frame, Y up, face
toward +Z, +X the character's left, applied as R = Ry(yaw) Rx(pitch) Rz(roll) about the neck):
yaw > 0 turns the face to the character's left, pitch > 0 nods the chin down, roll > 0 tilts the
head toward the character's right shoulder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core import bounds
from voca_cn.core.arkit import GAZE_FULL, INDEX
from voca_cn.core.timing import FPS

MODEL = Path(__file__).resolve().parent.parent / "assets" / "models" / "living.json"
SPEECH = 0.5  # loudness above which a frame counts as speech (halfway between floor and peak in dB)

BLINK = [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]
LOOK = {k: INDEX[k] for k in ("eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft",
                              "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight", "eyeLookDownRight")}
BROW_UP = [INDEX["browInnerUp"], INDEX["browOuterUpLeft"], INDEX["browOuterUpRight"]]
BROW_DOWN = [INDEX["browDownLeft"], INDEX["browDownRight"]]
SQUINT = [INDEX["eyeSquintLeft"], INDEX["eyeSquintRight"]]
CHANNELS = sorted(set(BLINK + list(LOOK.values()) + BROW_UP + BROW_DOWN + SQUINT))  # what this layer writes


@dataclass(frozen=True)
class Living:
    """The user's controls. Each layer's scale: 0 = off, 1 = as learned, up to 2; ``intensity``
    scales them all; ``seed`` picks the random draws (same seed, same motion)."""
    blink: float = 1.0
    brows: float = 1.0
    gaze: float = 1.0
    head: float = 1.0
    intensity: float = 1.0
    seed: int = 0

    @property
    def off(self) -> bool:
        """Nothing to add: the mouth-only mode."""
        return self.intensity == 0 or not any((self.blink, self.brows, self.gaze, self.head))


MOUTH_ONLY = Living(blink=0.0, brows=0.0, gaze=0.0, head=0.0)


def parse_living(value: object, base: Living = Living()) -> Living:
    """``"blink=0 head=0.5 seed=3"`` / ``{"head": 0.5}`` / ``"off"`` (mouth only) -> Living.
    Scales must be 0-2, the seed a whole number >= 0."""
    if isinstance(value, Living):
        return value
    if isinstance(value, str) and value.strip().lower() in ("off", "mouth-only", "none"):
        return replace(MOUTH_ONLY, seed=base.seed)
    if isinstance(value, str):
        pairs = [p for p in re.split(r"[\s,;]+", value.strip()) if p]
        try:
            value = dict(p.split("=", 1) for p in pairs)
        except ValueError:
            raise VocaError(f"living {value!r} is not name=value pairs; write e.g. 'blink=1 head=0.5 seed=3' "
                            "or 'off'") from None
    if not isinstance(value, dict):
        raise VocaError(f"living {value!r} is not understood; give name=value pairs or 'off'")
    names = {f.name for f in fields(Living)}
    bad = sorted(set(value) - names)
    if bad:
        raise VocaError(f"unknown living control(s) {', '.join(bad)}; use {', '.join(sorted(names))}")
    out = {}
    for k, v in value.items():
        try:
            out[k] = (bounds.SEED if k == "seed" else bounds.LIVING).check(v)
        except ValueError as e:
            raise VocaError(f"living {k}: {e}") from None
    return replace(base, **out)


# ----------------------------------------------------------------------------- the model
class LivingModel:
    """The fitted parameters (``living.json``) and a fresh :class:`Motion` per animation."""

    def __init__(self, params: dict):
        self.p = params

    @classmethod
    def load(cls, path: str | Path | None = None) -> "LivingModel":
        path = Path(path or MODEL)
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise VocaError(f"the living-face model {path} is unreadable ({e}); reinstall voca_cn or "
                            "refit it with python -m voca_cn.training.fit_living") from None

    def motion(self, options: Living) -> "Motion":
        return Motion(self.p, options)


class Motion:
    """One animation's non-verbal motion, frame by frame: ``step(loudness (k,))`` -> (weights
    (k, 52) float32 with only :data:`CHANNELS` set, head (k, 3) float32 radians)."""

    def __init__(self, p: dict, o: Living):
        self.p, self.o = p, o
        seeds = np.random.SeedSequence(o.seed).spawn(4)
        self.rng_blink, self.rng_gaze, self.rng_expr, self.rng_head = (np.random.default_rng(s) for s in seeds)
        self.dt = 1.0 / FPS
        self.was_speech, self.silent_for = False, 1e9
        self.blink_peaks: list[float] = []  # times (s) of pending blink peaks and their durations
        self.blinks: list[tuple[float, float]] = []
        self.t = 0.0
        b = p["blink"]
        self.profile = np.asarray(b["profile"])  # the mean real lid closing, at times profile_u (blink widths)
        self.profile_u = b["profile_start"] + b["profile_step"] * np.arange(len(self.profile))
        self.clock, self.target = self._running_start(b)
        g = p["gaze"]
        self.gaze_pos = np.zeros(2)
        self.gaze_from, self.gaze_to, self.gaze_move = np.zeros(2), np.zeros(2), 1.0
        self.fix_left = self._fixation(g) * self.rng_gaze.random()
        e = p["expression"]
        self.expr, self.expr_v = np.zeros(len(e["channels"])), np.zeros(len(e["channels"]))
        self.expr_chol = np.linalg.cholesky(np.asarray(e["noise_corr"]) + 1e-9 * np.eye(len(self.expr)))
        self.head_x = np.zeros(3)
        self.head_v = np.zeros(3)

    # -- blinks
    def _running_start(self, b: dict) -> tuple[float, float]:
        """(time since the last blink, its interval) for a process already running when the audio
        starts: the interval under way is length-biased (gamma shape + 1), the moment uniform in it."""
        interval = float(self.rng_blink.gamma(b["shape"] + 1, b["scale"]))
        return interval * float(self.rng_blink.random()), interval

    def _hazard(self, speech: bool) -> float:
        h = self.p["blink"]["hazard"]
        if speech:
            return h["speech"]
        return h["phrase_end"] if self.silent_for < self.p["blink"]["phrase_end_s"] else h["silence"]

    def _blink_frame(self, speech: bool) -> float:
        b = self.p["blink"]
        self.clock += self.dt * self._hazard(speech)
        if self.clock >= self.target:
            start = self.t
            for _ in range(2):  # a blink, and with probability `double` a second one soon after
                fwhm = float(np.exp(self.rng_blink.normal(b["fwhm_log_mean"], b["fwhm_log_std"])))
                self.blinks.append((start + fwhm * -b["profile_start"], fwhm))  # peak after the closing phase
                if self.rng_blink.random() >= b["double"]:
                    break
                start += float(np.exp(self.rng_blink.normal(b["double_gap_log_mean"], b["double_gap_log_std"])))
            self.clock, self.target = 0.0, float(self.rng_blink.gamma(b["shape"], b["scale"]))
        value = 0.0
        for peak, fwhm in self.blinks:
            u = (self.t - peak) / fwhm
            value = max(value, float(np.interp(u, self.profile_u, self.profile, left=0.0, right=0.0)))
        if self.blinks:
            self.blinks = [(pk, f) for pk, f in self.blinks if (self.t - pk) / f <= self.profile_u[-1]]
        return value

    # -- gaze
    def _fixation(self, g: dict) -> float:
        return float(np.exp(self.rng_gaze.normal(g["fixation_log_mean"], g["fixation_log_std"])))

    def _gaze_frame(self) -> np.ndarray:
        g = self.p["gaze"]
        self.fix_left -= self.dt
        if self.fix_left <= 0:
            self.gaze_from = self.gaze_pos.copy()
            self.gaze_to = self.rng_gaze.normal(0.0, 1.0, 2) * np.asarray(g["std"])
            self.gaze_move = 0.0
            self.fix_left = self._fixation(g)
        if self.gaze_move < 1.0:
            self.gaze_move = min(1.0, self.gaze_move + 1.0 / g["saccade_frames"])
            s = 0.5 - 0.5 * np.cos(np.pi * self.gaze_move)  # a saccade's smooth start and stop
            self.gaze_pos = self.gaze_from + s * (self.gaze_to - self.gaze_from)
        return self.gaze_pos

    # -- the frame loop
    def step(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k,) loudness in [0, 1] of the next k frames -> (weights (k, 52), head (k, 3))."""
        p, o = self.p, self.o
        k = len(level)
        w = np.zeros((k, 52), np.float32)
        head = np.zeros((k, 3), np.float32)
        e, hd = p["expression"], p["head"]
        expr_noise = self.rng_expr.standard_normal((k, len(self.expr)))
        head_noise = self.rng_head.standard_normal((k, 3))
        e_omega, e_sigma, gain = np.asarray(e["omega"]), np.asarray(e["sigma"]), np.asarray(e["gain"])
        omega, sigma, mod = np.asarray(hd["omega"]), np.asarray(hd["sigma"]), np.asarray(hd["loudness_mod"])
        mean_level = hd["mean_loudness"]
        blink, gaze, expr = np.zeros(k), np.zeros((k, 2)), np.zeros((k, len(self.expr)))
        for i in range(k):
            x = float(level[i])
            speech = x > SPEECH
            if self.was_speech and not speech:
                self.silent_for = 0.0
            self.was_speech = speech
            if o.blink:
                blink[i] = self._blink_frame(speech)
            if o.gaze:
                gaze[i] = self._gaze_frame()
            head_step(self.expr, self.expr_v, self.expr_chol @ expr_noise[i], e_sigma, e_omega, self.dt)
            expr[i] = self.expr + gain @ np.array([1.0, x, x * x])
            # head: x'' = -2 w x' - w^2 x + s(t) noise, s following the loudness (semi-implicit Euler)
            head_step(self.head_x, self.head_v, head_noise[i], sigma * np.maximum(0.0, 1.0 + mod * (x - mean_level)),
                      omega, self.dt)
            head[i] = self.head_x * (o.head * o.intensity)
            self.silent_for += self.dt
            self.t += self.dt
        self._write(w, blink, gaze, expr)
        return w, head

    def _write(self, w: np.ndarray, blink: np.ndarray, gaze: np.ndarray, expr: np.ndarray) -> None:
        """Layer values of k frames (blink (k,), gaze (k, 2) radians, expression (k, C)) -> ARKit
        weights in [0, 1] (scaled by the user's controls) in w (k, 52); the loop above makes the
        values, this writes them all at once."""
        o = self.o
        w[:, BLINK] = np.minimum(1.0, blink * o.blink * o.intensity)[:, None]
        yaw, pitch = (gaze * (o.gaze * o.intensity) / GAZE_FULL).T  # yaw > 0: to the character's left
        w[:, [LOOK["eyeLookOutLeft"], LOOK["eyeLookInRight"]]] = np.maximum(0.0, yaw)[:, None]
        w[:, [LOOK["eyeLookInLeft"], LOOK["eyeLookOutRight"]]] = np.maximum(0.0, -yaw)[:, None]
        w[:, [LOOK["eyeLookUpLeft"], LOOK["eyeLookUpRight"]]] = np.maximum(0.0, -pitch)[:, None]
        w[:, [LOOK["eyeLookDownLeft"], LOOK["eyeLookDownRight"]]] = np.maximum(0.0, pitch)[:, None]
        s = o.brows * o.intensity
        for name, v in zip(self.p["expression"]["channels"], (expr * s).T):
            if name == "brow":
                w[:, BROW_UP] = np.maximum(0.0, v)[:, None]
                w[:, BROW_DOWN] = np.maximum(0.0, -v)[:, None]
            elif name == "squint":
                w[:, SQUINT] = np.maximum(0.0, v)[:, None]
        np.clip(w, 0.0, 1.0, out=w)


def head_step(x: np.ndarray, v: np.ndarray, noise: np.ndarray, strength: np.ndarray, omega: np.ndarray,
              dt: float) -> None:
    """One step of the head process, in place: x'' = -2 w x' - w^2 x + strength * white noise
    (semi-implicit Euler; x, v, noise, strength, omega broadcast, e.g. (3,) per axis)."""
    v += dt * (-2 * omega * v - omega ** 2 * x) + np.sqrt(dt) * strength * noise
    x += dt * v


def combine(weights: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """The mouth's weights (T, 52) with the living layers (T, 52) on the channels they drive
    (added to what the mouth model gives there, within [0, 1])."""
    out = np.array(weights, np.float32, copy=True)
    out[:, CHANNELS] = np.clip(out[:, CHANNELS] + layers[:, CHANNELS], 0.0, 1.0)
    return out


def animate_living(weights: np.ndarray, level: np.ndarray, options: Living = Living(),
                   model: LivingModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights (T, 52) at 60 fps from the mouth model + the audio's loudness (T,)
    (:func:`voca_cn.audio.loudness.loudness`) -> (weights with blinks, gaze and brows (T, 52)
    float32, head rotation (T, 3) float32 radians). Mouth-only (:data:`MOUTH_ONLY`): the weights
    unchanged (the same array) and a still head."""
    n = len(weights)
    if options.off:
        return weights, np.zeros((n, 3), np.float32)
    layers, head = (model or LivingModel.load()).motion(options).step(level)
    return combine(weights, layers), head
