"""When to trust the clean model: the share of the robust model in each frame, from how much the
two models disagree.

Two models are shipped. The clean one (``--model clean``) was trained on clean speech and is the
best there for the voices it knows; the robust one (``--model robust``) was trained with half of its
windows degraded and is better on noisy, echoing, phone-line and low-bitrate audio, and about as good
on clean speech. A user should not have to know which one their recording needs, so by default both
run and are mixed frame by frame.

On speech like their training audio the two phonetic stages agree; where the audio is degraded the
clean one, never having heard noise, rooms or phone lines, hears other phones (and speech in the
noise between words), while the robust one does not. Their disagreement (the Jensen-Shannon
divergence of their phone probabilities) says which case a frame is in, and unlike either stage's
own certainty it hardly depends on the voice: on clean validation speech its running mean stays
below 0.08-0.14 nats in 99 % of frames for every voice (TTS, Kathleen, grid-s1), where an
unfamiliar clean voice makes the clean stage itself as unsure as a familiar voice in noise.

So the share ``a`` of the robust model is the divergence's causal running mean over :data:`TAU`
(bias-corrected at the start, so the first frames need no warm-up and a stream computes what the
whole file does), mapped linearly from :data:`LOW` (a = 0) to :data:`HIGH` (a = 1). The ramp is
chosen on the *validation* split (``python -m voca_cn.training.calibrate_fallback``), never on the
benchmark's clips or conditions: the least lip-vertex error over clean items and degraded copies
of them, with no source's clean error more than 1 % above the clean model's alone. It came out
as a share proportional to the disagreement (LOW 0) that saturates early (HIGH 0.02-0.03 nats): the
robust model carries most frames, clean ones included, and the clean model keeps a share where the
two agree closely; on clean speech that mix errs less than either model alone (grid-s1 video most
of all), on degraded copies as little as the robust model alone.
"""

from __future__ import annotations

import numpy as np

from voca_cn.audio.features import FRAME_RATE

# s and nats; chosen by voca_cn.training.calibrate_fallback on the validation split (see above)
TAU, LOW, HIGH = 0.5, 0.0, 0.02
# nats: a take whose median running divergence is above this sounds degraded. Clean speech of every
# voice measured (espeak-ng, flite, festival, Kathleen, grid-s1) stays at 0.02-0.12; white noise at 20 dB,
# babble, music or white noise at 10 dB and below, a 0.7 s room and a phone line are at 0.19-0.60
NOISY = 0.2


def degraded(disagreement: float | None) -> str | None:
    """What ``animate``, ``batch`` and ``stream`` say of audio whose divergence (nats; a take's median or
    a stream's running mean) is above :data:`NOISY`; None for audio that sounds clean, or one model."""
    if disagreement is None or disagreement <= NOISY:
        return None
    return (f"the audio sounds noisy, echoing or band-limited (the phonetic stages disagree by {disagreement:.2f} "
            f"nats; clean speech stays under {NOISY})")


def divergence(p: np.ndarray, q: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """(F, P) and (F, P) phone probabilities -> (F,) float64 Jensen-Shannon divergence in nats
    (0 = the same, ln 2 at most). A chunk at a time: hours of probabilities get no full-size
    temporaries, and chunks this small stay in the cache (65,536 rows took 0.54 s for 10 min of
    audio, mostly faulting in fresh pages for the float64 temporaries; 8,192 rows 0.07 s)."""
    out = np.empty(len(p))
    for i in range(0, len(p), chunk):
        a, b = (np.maximum(np.asarray(x[i:i + chunk], np.float64), 1e-12) for x in (p, q))
        m = 0.5 * (a + b)
        out[i:i + chunk] = 0.5 * (a * np.log(a / m) + b * np.log(b / m)).sum(axis=1)
    return out


class Disagreement:
    """The running mean divergence over ``tau`` s: ``disagreement(p, q)`` -> (F,) float64 for the
    frames pushed, carrying its state between calls (chunks give what one call gives, to float
    precision)."""

    def __init__(self, tau: float = TAU):
        self.decay = float(np.exp(-1.0 / (tau * FRAME_RATE)))
        self.mean = 0.0  # the running mean before its bias correction
        self.count = 0  # frames seen: the bias correction's exponent

    def __call__(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return self.running(divergence(p, q))

    def running(self, d: np.ndarray, block: int = 256) -> np.ndarray:
        """(F,) divergences in order -> (F,) their running mean."""
        out = np.empty(len(d))
        for i in range(0, len(d), block):
            # m_t = decay * m_(t-1) + (1 - decay) * d_t in closed form over a block (scipy.signal's
            # lfilter would do it, but importing it costs 0.8 s of every start-up)
            x = np.asarray(d[i:i + block], np.float64)
            k = np.arange(len(x))
            m = self.decay ** (k + 1) * self.mean + (1 - self.decay) * self.decay ** k * np.cumsum(x * self.decay ** -k)
            self.mean = float(m[-1])
            t = np.arange(self.count + 1, self.count + len(x) + 1)
            self.count += len(x)
            out[i:i + block] = m / (1.0 - self.decay ** t)
        return out


def share(disagreement: np.ndarray, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """(F,) running mean divergence -> (F,) float32 share of the robust model in [0, 1]."""
    return np.clip((np.asarray(disagreement) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def mix(clean: np.ndarray, robust: np.ndarray, a: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """(T, D) float32 frames mixed in place with (T, D) frames by (T,) share ``a`` of the second;
    returns ``clean``. A chunk at a time: hours of phone probabilities get no full-size temporaries."""
    for i in range(0, len(clean), chunk):
        c = clean[i:i + chunk]
        c += a[i:i + chunk, None] * (robust[i:i + chunk] - c)
    return clean
