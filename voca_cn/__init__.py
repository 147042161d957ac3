"""voca_cn: speech-driven 3D face animation (audio -> ARKit weights -> meshes, video, data)."""

__version__ = "0.1.0"


class VocaError(Exception):
    """A user-facing problem: one line that names what is wrong and how to fix it."""
