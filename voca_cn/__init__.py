"""voca_cn: speech-driven 3D face animation (audio -> ARKit weights -> meshes, video, data)."""

__version__ = "0.1.0"


class VocaError(Exception):
    """A user-facing problem: one line that names what is wrong and how to fix it."""


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter would drown the one-line messages on stderr."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


_quiet_tensorflow()
