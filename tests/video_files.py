"""Small video files generated with PyAV for tests: exact frame times, rotation, damage.

Each writer takes the frames' presentation times in milliseconds, so a test knows what a player
shows at every instant. Frame i is a flat grey of level `level(i)` (distinct, codec-robust) with
optional marker pixels.
"""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def level(i: int) -> int:
    """Grey level of generated frame i: 16 apart, so a lossy codec still tells frames apart."""
    return 16 + (16 * i) % 224


def grey_frames(count: int, height: int = 32, width: int = 48) -> list[np.ndarray]:
    """`count` uint8 RGB frames `[H, W, 3]`, frame i flat at `level(i)`."""
    return [np.full((height, width, 3), level(i), np.uint8) for i in range(count)]


def write_video(path: Path, frames: list[np.ndarray], times_ms: list[int], codec: str = "mpeg4",
                last_duration_ms: int | None = None, rate: int = 25,
                pix_fmt: str = "yuv420p") -> Path:
    """Writes `frames` (uint8 RGB) with presentation times `times_ms` into `path`'s container.

    `rate` is the stream's declared frame rate (what a header says; times are what counts);
    `last_duration_ms` sets the last packet's duration (how long the last frame is shown).
    """
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        if codec in ("mpeg4", "libx264"):
            stream.codec_context.options = {"bf": "0"}
        stream.codec_context.bit_rate = 4_000_000
        durations = list(np.diff(times_ms)) + [last_duration_ms or 0]
        for image, t, d in zip(frames, times_ms, durations):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = int(t)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                _mux(container, packet, times_ms, durations)
        for packet in stream.encode():
            _mux(container, packet, times_ms, durations)
    return path


def _mux(container, packet, times_ms, durations):
    if packet.pts is not None:
        i = times_ms.index(int(packet.pts * packet.time_base * 1000))
        if durations[i]:
            packet.duration = int(durations[i] / 1000 / packet.time_base)
    container.mux(packet)


def rotate_mp4(path: Path, quarter_turns_clockwise: int) -> Path:
    """Sets the MP4 track's display matrix (ISO 14496-12 `tkhd`) to a clockwise rotation.

    A point (p, q) of the stored frame is shown at (a p + c q + x, b p + d q + y); for a
    clockwise quarter turn (a, b, c, d) = (0, 1, -1, 0), as phones store portrait video.
    """
    a, b, c, d = {1: (0, 1, -1, 0), 2: (-1, 0, 0, -1), 3: (0, -1, 1, 0)}[quarter_turns_clockwise]
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    matrix = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8  # after durations, layer, volume
    fixed = [a, b, 0, c, d, 0, 0, 0, 0]
    fixed = [v * 0x10000 for v in fixed[:8]] + [0x40000000]  # u, v, w are 2.30 fixed point
    fixed[2] = fixed[5] = 0
    data[matrix:matrix + 36] = struct.pack(">9i", *fixed)
    path.write_bytes(bytes(data))
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An audio-only file (a sine tone), e.g. a podcast saved as .mp4/.mkv."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = int(16000 * seconds)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[start:start + 1024][None]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
