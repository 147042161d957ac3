"""voca_cn: speech-driven 3D face animation (audio -> ARKit weights -> meshes, video, data).

``voca_cn.animate(audio)`` -> :class:`voca_cn.api.Animation`; ``voca_cn.Stream()`` animates live.
They load on first use, so ``import voca_cn`` stays instant.
"""

__version__ = "0.1.0"
__all__ = ["Animation", "Stream", "VocaError", "animate", "load"]
_LAZY = {"animate": "voca_cn.api", "Animation": "voca_cn.api", "load": "voca_cn.api", "Stream": "voca_cn.motion.stream"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'voca_cn' has no attribute {name!r}")


class VocaError(Exception):
    """A user-facing problem: one line that names what is wrong and how to fix it."""


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter would drown the one-line messages on stderr."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


_quiet_tensorflow()
