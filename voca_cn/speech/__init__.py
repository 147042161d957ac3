"""Phone timings from speech and text: forced alignment and recognition (pocketsphinx), TTS engines
with their phone timings, viseme events."""
