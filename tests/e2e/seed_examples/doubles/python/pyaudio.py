"""Test double for PyAudio (seed 003's Python streaming example): an output stream that keeps
what is written to it, in ``pyaudio.pcm``, and how it was used, in ``pyaudio.json``, both in
the working directory. A real PyAudio needs PortAudio and a sound card."""

import json

paInt16 = 8

_calls = {"opened": [], "writes": 0, "bytes": 0, "stopped": False, "closed": False}


class Stream:
    def write(self, frames):
        with open("pyaudio.pcm", "ab") as out:
            out.write(frames)
        _calls["writes"] += 1
        _calls["bytes"] += len(frames)

    def stop_stream(self):
        _calls["stopped"] = True

    def close(self):
        _calls["closed"] = True


class PyAudio:
    def open(self, format, channels, rate, output=False, **options):
        _calls["opened"].append(
            {"format": format, "channels": channels, "rate": rate, "output": output}
        )
        return Stream()

    def terminate(self):
        with open("pyaudio.json", "w") as out:
            json.dump({**_calls, "terminated": True}, out)
