"""Real faces on video: MediaPipe tracking calibrated to a head, audio-video sync."""
