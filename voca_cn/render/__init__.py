"""Preview video: moderngl on EGL in a spawned worker. ``preview`` draws a frame, ``worker`` owns the
process and the ffmpeg pipe; these names are the ones README documents."""

from voca_cn.render.preview import RenderMesh, project
from voca_cn.render.worker import Reference, probe_video, render_frames, render_video

__all__ = ["Reference", "RenderMesh", "probe_video", "project", "render_frames", "render_video"]
