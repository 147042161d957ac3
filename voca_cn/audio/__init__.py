"""Audio in: files and soundtracks at any rate -> 16 kHz mono float32; log-mel features."""
