"""Streamed time-to-first-audio vs the whole response, 1,000 characters of TTS.

    .venv/bin/python -m bench.streaming [--rounds 5] [--format mp3]

Starts a throw-away API server on loopback (``bench.server``), then in interleaved rounds asks
``POST /v1/audio/speech`` for the same 1,000-character English text twice: unstreamed (time
until the last byte) and streamed (time until the first audio byte). Prints min/median/max of
each and of the ratio first-byte ÷ whole. Goal (issue 4, B7 of issue 6): ≤ 0.25.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.server import api_server

SENTENCE = "The quick brown fox jumps over the lazy dog while the river keeps running to the sea. "
TEXT = (SENTENCE * 20)[:1000]
GOAL = 0.25


def time_speech(client: httpx.Client, key: str, *, stream: bool, fmt: str) -> float:
    """Seconds until the first body byte (stream) or the last one (whole)."""
    body = {
        "model": "tts-1",
        "input": TEXT,
        "voice": "alloy",
        "response_format": fmt,
        "stream": stream,
    }
    started = time.perf_counter()
    with client.stream(
        "POST", "/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        response.raise_for_status()
        first = None
        total = 0
        for chunk in response.iter_raw():
            if chunk and first is None:
                first = time.perf_counter() - started
            total += len(chunk)
        whole = time.perf_counter() - started
    if total == 0 or first is None:
        raise RuntimeError("empty audio")
    return first if stream else whole


def _row(name: str, values: list[float], unit: str = "s") -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"| {name} | {low:.3f} {unit} | {mid:.3f} {unit} | {high:.3f} {unit} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--format", default="mp3", choices=["mp3", "wav", "pcm", "opus"])
    args = parser.parse_args()
    with api_server() as server, httpx.Client(base_url=server.base_url, timeout=120) as client:
        key = server.new_api_key()
        time_speech(client, key, stream=False, fmt=args.format)  # load the engine: not measured
        firsts: list[float] = []
        wholes: list[float] = []
        ratios: list[float] = []
        for _ in range(args.rounds):
            whole = time_speech(client, key, stream=False, fmt=args.format)
            first = time_speech(client, key, stream=True, fmt=args.format)
            wholes.append(whole)
            firsts.append(first)
            ratios.append(first / whole)
    print(f"1,000 characters, {args.format}, {args.rounds} interleaved rounds")
    print("| measure | min | median | max |")
    print("|---|---|---|---|")
    print(_row("whole response", wholes))
    print(_row("streamed first byte", firsts))
    low, mid, high = min(ratios), statistics.median(ratios), max(ratios)
    verdict = "met" if mid <= GOAL else "MISSED"
    print(f"| first byte ÷ whole | {low:.3f} | {mid:.3f} | {high:.3f} |")
    print(f"goal ≤ {GOAL}: {verdict}")
    return 0 if mid <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
