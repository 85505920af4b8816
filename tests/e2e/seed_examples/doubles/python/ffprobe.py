"""Test double for ffprobe, which pydub runs before decoding (imageio-ffmpeg ships ffmpeg only).

It answers pydub's one question, ``ffprobe -of json -v info -show_format -show_streams …``,
from the same libavformat through PyAV, reading a path or ``cache:pipe:0`` (standard input)."""

import io
import json
import sys

import av

source = sys.argv[-1]
data = sys.stdin.buffer.read() if source.startswith(("cache:pipe", "pipe:", "-")) else None
try:
    container = av.open(io.BytesIO(data) if data is not None else source)
except av.error.FFmpegError as error:
    print(error, file=sys.stderr)
    print("{}")
    sys.exit(1)
streams = []
for stream in container.streams:
    entry = {"index": stream.index, "codec_type": stream.type}
    if stream.type == "audio":
        context = stream.codec_context
        entry.update(
            codec_name=context.codec.canonical_name,
            sample_fmt=context.format.name if context.format else "",
            sample_rate=str(context.sample_rate),
            channels=context.layout.nb_channels,
            bits_per_sample=0,
        )
        described = [entry["codec_name"], f"{context.sample_rate} Hz", context.layout.name]
        described.append(entry["sample_fmt"])
        print(f"    Stream #0:{stream.index}: Audio: {', '.join(described)}", file=sys.stderr)
    streams.append(entry)
print(json.dumps({"streams": streams, "format": {"format_name": container.format.name}}))
