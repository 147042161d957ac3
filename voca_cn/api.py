"""The library API: the one way through the pipeline (audio -> phones -> ARKit weights -> outputs).

    import voca_cn
    anim = voca_cn.animate("speech.wav")            # or animate(samples, sr=44100)
    anim.weights                                    # (T, 52) float32 ARKit weights, 60 fps
    anim.visemes("azure")                           # viseme events
    anim.vertices("makehuman")                      # (T, V, 3) float32 metres
    anim.save("out/", video=False)                  # animation.npz, visemes.json, meshes/, preview.mp4

The command line, the evaluation and the batch tools all call :func:`animate` and
:meth:`Animation.save`; :class:`voca_cn.motion.stream.Stream` runs the same steps live.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.timing import FPS, SR
from voca_cn.motion.living import Living
from voca_cn.motion.procedural import Style


@dataclass
class Animation:
    """ARKit blendshape weights over time, with what they were made from.

    weights: (T, 52) float32 in Apple's ARKit order (:data:`voca_cn.core.arkit.NAMES`), frame i covering
    [i / fps, (i + 1) / fps) s. phones: timed phone segments (seconds; recognised, aligned or
    ``None`` when unknown). audio: (S,) float32 at 16 kHz, or None. probabilities: the phonetic
    stage's (F, P) phone probabilities at 100 frames/s (audio-only model only). head: (T, 3)
    float32 head rotation in radians (yaw, pitch, roll; convention in :mod:`voca_cn.motion.living`).
    alignment: how a transcript was aligned, {"method", "confidence", "fallback", "pocketsphinx"}
        (:class:`voca_cn.motion.transcript.TranscriptAlignment`; None without a transcript).
    disagreement: how unlike clean speech the take sounds, nats: the median over its frames of the
        clean and the robust phonetic stages' running mean divergence (0.02-0.12 on clean speech, 0.2-0.6
        in noise, echo or on a phone line; above :data:`voca_cn.motion.fallback.NOISY` it sounds
        degraded); None with one model or the procedural animator.
    """
    weights: np.ndarray
    fps: float = FPS
    phones: list | None = None
    audio: np.ndarray | None = field(default=None, repr=False)
    audio_path: Path | None = None
    probabilities: np.ndarray | None = field(default=None, repr=False)
    template: object = "makehuman"
    head: np.ndarray | None = field(default=None, repr=False)
    alignment: dict | None = None
    disagreement: float | None = None

    def __post_init__(self):
        if self.head is None:  # a still head
            self.head = np.zeros((len(self.weights), 3), np.float32)

    @property
    def duration(self) -> float:
        """Seconds covered by the frames."""
        return len(self.weights) / self.fps

    def visemes(self, format: str = "azure"):
        """Viseme events from the phones: ``azure`` (VisemeReceived-like list), ``oculus`` (list)
        or ``rhubarb`` (mouthCues dict)."""
        from voca_cn.speech.visemes import events

        if self.phones is None:
            raise VocaError("this animation has no phone timings, so no visemes; animate it from audio")
        if format not in ("azure", "oculus", "rhubarb"):
            raise VocaError(f"viseme format {format!r} is unknown; use azure, oculus or rhubarb")
        return events(self.phones, format)

    def vertices(self, template=None) -> np.ndarray:
        """(T, V, 3) float32 deformed vertex positions in metres on ``template`` (a name, file or
        :class:`voca_cn.face.template.Template`; default: the animation's). Memory: T x V x 12 bytes."""
        return _template(template or self.template).deform(self.weights)

    def save(self, out: str | os.PathLike, template=None, *, obj: bool | None = None, video: bool = True,
             size: tuple[int, int] = (512, 512), fps: int = FPS, overwrite: bool = False,
             exports: tuple[str, ...] = (), view: str = "face",
             beside: str | os.PathLike | None = None) -> Path:
        """Write ``out/``: animation.npz (weights resampled to ``fps``), visemes.json (when phones
        are known), meshes/000000.obj... (``obj``; None: unless it would pass
        :data:`voca_cn.formats.outputs.OBJ_LIMIT` bytes, which is refused), preview.mp4 with the audio (``video``, at
        ``size`` WxH pixels), and the ``exports`` asked for (keys of
        :data:`voca_cn.formats.EXPORTS`: glb, livelink, arkit-json, pc2). ``view``: preview framing, face
        (eyes to chin) or head; ``beside``: a video (e.g. the real speaker) shown to the right of
        the head in preview.mp4, time-aligned from 0. All or nothing: written beside ``out`` and renamed into place."""
        from voca_cn.core.files import check_output_dir
        from voca_cn.formats.outputs import OutputOptions, write_outputs

        from voca_cn.core import bounds
        from voca_cn.formats import parse_exports

        out = Path(out)
        check_output_dir(out, overwrite)
        try:
            if isinstance(fps, str) or isinstance(size, str):
                raise ValueError("give numbers, not text")
            width, height = size
            fps, size = bounds.FPS.check(fps), (bounds.SIDE.check(width), bounds.SIDE.check(height))
        except (ValueError, TypeError) as e:
            raise VocaError(f"save(fps={fps!r}, size={size!r}): {e}; e.g. fps=60, size=(512, 512)") from None
        exports = parse_exports(list(exports) if isinstance(exports, (tuple, list, set)) else exports)
        if view not in ("face", "head"):
            raise VocaError(f"view {view!r} is unknown; use face or head")
        reference = None
        if beside is not None:
            from voca_cn.render import probe_video

            if not video:
                raise VocaError("--beside needs the preview video; drop --no-video")
            reference = probe_video(beside)
        options = OutputOptions(obj=obj, video=video, width=size[0], height=size[1], fps=fps, overwrite=overwrite,
                                exports=tuple(exports), view=view, beside=reference)
        visemes = self.visemes("azure") if self.phones is not None else None
        with tempfile.TemporaryDirectory() as tmp:
            sound = self.audio_path
            if video and sound is None and self.audio is not None:  # the preview needs a file
                import soundfile as sf

                sound = Path(tmp) / "audio.wav"
                sf.write(sound, self.audio, SR)
            return write_outputs(out, _template(template or self.template), self.weights, sound, options,
                                 visemes=visemes, fps_in=self.fps, head=self.head,
                                 audio_seconds=None if self.audio is None else len(self.audio) / SR)


def _template(spec):
    from voca_cn.face.template import Template
    from voca_cn.rig import resolve

    return spec if isinstance(spec, Template) else resolve(spec)


def read_audio(audio, sr: float | None = None) -> tuple[np.ndarray, Path | None]:
    """A path or an array at ``sr`` Hz -> ((S,) float32 16 kHz samples, the path or None)."""
    from voca_cn.audio import load as audio_io

    if isinstance(audio, (str, os.PathLike)):
        return audio_io.load(audio), Path(audio)
    if sr is None:
        raise VocaError("an audio array needs its sample rate: animate(samples, sr=44100)")
    return audio_io.prepare(audio, sr, SR, "the audio array"), None


def animate(audio, sr: float | None = None, text: str | None = None, *, template="makehuman",
            style: Style = Style(), model=None,
            procedural: bool = False, language: str | None = "auto",
            living: Living | str | dict = Living()) -> Animation:
    """Speech -> :class:`Animation` (ARKit weights at 60 fps, T = ceil(seconds * 60)).

    audio: a WAV/FLAC/OGG/MP3 path, or samples at ``sr`` Hz: (S,) mono or (S, channels), one
    column per channel (averaged to mono; (channels, S) is refused, pass ``samples.T``), float in
    [-1, 1] or PCM integers (int16 as ``soundfile.read(..., dtype="int16")`` gives them: scaled by
    1/32768). Bytes, generators and a text ``sr`` are refused with a VocaError.
    Without ``text`` the trained model animates from the audio alone (any voice, any language;
    ``model`` = a model folder, default the shipped one, or a loaded
    :class:`voca_cn.motion.lipsync.AudioAnimator`, as a worker that animates many lines keeps one). With ``text`` the
    transcript is aligned to the audio and the model hears its phones (what it hears of noise and
    other voices counts less), and the phones and visemes are the alignment's; ``language`` is the
    transcript's (auto: Chinese characters or toned pinyin -> cmn, else en; any code espeak-ng
    speaks: de, fr, ...). ``procedural=True`` animates with the procedural animator instead of the
    model, on the transcript's alignment or, without ``text``, on pocketsphinx phone recognition;
    ``style`` (jaw, lip) scales its articulation.
    ``template`` is the head :meth:`Animation.vertices` and :meth:`Animation.save` use by default.
    ``living``: blinks, gaze, brows and head motion learned from real video, each layer scaled
    (:class:`voca_cn.motion.living.Living`, or ``"blink=0 head=0.5 seed=3"``; ``"off"`` for the
    mouth only, whose curves are then exactly the mouth model's). Bad input raises :class:`voca_cn.VocaError` with a one-line message.
    """
    from voca_cn.audio.loudness import loudness
    from voca_cn.motion.living import animate_living, parse_living

    if text is not None and not isinstance(text, str):
        raise VocaError(f"text must be a string (the transcript), not {type(text).__name__}")
    living = parse_living(living)
    y, path = read_audio(audio, sr)
    duration = len(y) / SR
    from voca_cn.motion.lipsync import AudioAnimator, best_phones

    if text is not None or not procedural:  # a transcript is aligned to what the model hears
        animator = model if isinstance(model, AudioAnimator) else AudioAnimator.load(model)
    phones = info = heard = None
    if text is not None:
        from voca_cn.motion.transcript import align

        heard = animator.stages(y)  # the lips below hear them too: the networks run once
        result = align(y, text, language, animator, probs=animator.hear(y, heard))
        phones, info = result.phones, {"method": result.method, "confidence": result.confidence,
                                       "fallback": result.fallback, "pocketsphinx": result.pocketsphinx}
    if not procedural:
        from voca_cn.core.timing import n_frames

        level = loudness(y, n_frames(len(y)))
        weights, probs, d = animator.animate(y, level, phones, heard)
        disagreement = None if d is None else float(np.median(d))
        weights, head = animate_living(weights, level, living)
        return Animation(weights, FPS, best_phones(probs, duration) if phones is None else phones, y, path, probs,
                         template, head, info, disagreement)
    from voca_cn.motion.procedural import animate as procedural_animate

    if text is None:
        from voca_cn.speech.recognize import PhoneRecognizer

        phones = PhoneRecognizer().recognize(y)
    weights = procedural_animate(phones, duration, style)
    weights, head = animate_living(weights, loudness(y, len(weights)), living)
    return Animation(weights, FPS, phones, y, path, None, template, head, info)


def load(path: str | os.PathLike, audio=None, template="makehuman") -> Animation:
    """An ``animation.npz`` (from :meth:`Animation.save`) as an :class:`Animation`, optionally
    with its audio (a path) for the preview."""
    from voca_cn.formats import load_animation

    from voca_cn.formats.animation import read_head

    weights, fps = load_animation(path)
    y, audio_path = read_audio(audio) if audio is not None else (None, None)
    return Animation(weights, fps, None, y, audio_path, None, template, read_head(path, len(weights)))
