"""espeak-ng with phoneme events, one utterance per process (see voca_cn.speech.tts).

    python -m voca_cn.speech.espeak_events VOICE RATE < text

Writes one JSON line {"sr": ..., "events": [[ipa, sample], ...]} and then the audio as raw
16-bit PCM to stdout. Only ctypes and json are imported, so a process starts in ~30 ms.
"""

import ctypes
import json
import sys

_SYNCHRONOUS, _PHONEME_EVENTS, _PHONEME_IPA, _UTF8, _EVENT_PHONEME, _RATE = 2, 1, 2, 1, 7, 1


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


def main() -> int:
    voice, rate = sys.argv[1], float(sys.argv[2])
    text = sys.stdin.buffer.read()
    try:
        lib = ctypes.cdll.LoadLibrary("libespeak-ng.so.1")
    except OSError:
        print("libespeak-ng is missing; install espeak-ng (see README setup)", file=sys.stderr)
        return 1
    pcm, events = [], []

    def collect(wav, n, ev):
        if n > 0:
            pcm.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while ev[i].type != 0:
            if ev[i].type == _EVENT_PHONEME:
                events.append((ev[i].id.decode("utf-8", "replace"), ev[i].sample))
            i += 1
        return 0

    callback = _CALLBACK(collect)
    sr = lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS | _PHONEME_IPA)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        print(f"espeak-ng has no voice {voice!r}; list them with espeak-ng --voices", file=sys.stderr)
        return 1
    lib.espeak_SetParameter(_RATE, int(round(175 * rate)), 0)
    lib.espeak_Synth(text, len(text) + 1, 0, 0, 0, _UTF8, None, None)
    lib.espeak_Synchronize()
    out = sys.stdout.buffer
    out.write(json.dumps({"sr": sr, "events": events}).encode() + b"\n")
    out.write(b"".join(pcm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
