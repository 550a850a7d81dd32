"""The one video decoder: timed, upright frames from any file FFmpeg reads (PyAV), streamed.

Every path from a video file to frames goes through this module: ingest (`read_video`), feature
extraction and `evaluate_sample --video` (`VideoFrames`), the benchmarks and the tests.

Decoding (`decode_frames`) yields the source frames in presentation order with their
presentation time (`pts * time_base`, relative to the stream's start) and duration (to the next
frame; the last frame's from its own packet duration, else the stream's declared end, else the
nominal rate). The display matrix is applied (a phone's portrait video comes out upright, as a
player shows it). Frames are converted to RGB only when used, so skipped or dropped frames cost
a decode but no conversion, and at most a few frames are held at a time: a 10-minute video never
sits whole in memory.

Resampling (`resample`) is by time, on the stream: output frame k is at `t_k = start + k / fps`
and shows the source frame on screen at that time, i.e. the latest one whose time is
`<= t_k` (a 0.1 ms tolerance absorbs millisecond-rounded container timestamps), so frames are
dropped (29.97 -> 25) or repeated (15 -> 25, variable frame rate) as needed. A clip spanning `D`
seconds gives `ceil(D * fps)` frames. Release preprocessing (DeepMind kinetics-i3d README; paper
sec. 2.5): 25 fps, then the short side resized to 256 (`kinetics_i3d.preprocessing`).

Failures raise `VideoDecodeError` whose `reason` is one of `REASONS`, decided by the decoder,
never by an estimated frame count: `missing` (no such file), `empty` (zero bytes), `unreadable`
(FFmpeg cannot open it, or it has no video stream), `truncated` (FFmpeg reports a decode error,
or the frames end before the stream's declared end), `no_frames` (nothing decodable, or nothing
in the requested span).
"""
from __future__ import annotations

import dataclasses
import heapq
import math
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator

import av
import numpy as np

from kinetics_i3d import preprocessing
from kinetics_i3d.errors import UserError
from kinetics_i3d.preprocessing import resize_short_side, resized_shape  # noqa: F401  (public)

REASONS = ("missing", "empty", "unreadable", "truncated", "no_frames")

# Container timestamps are often rounded to milliseconds.
_TIME_TOLERANCE_S = 1e-4
# Decoders may hand frames out with their pts in the wrong order (a stream whose reorder delay
# is declared but not used, e.g. the fixture box.mp4); frames are then timed by the sorted pts,
# looking this many frames ahead (bounded memory).
_REORDER_DEPTH = 16
# Frames ending this much before the stream's declared end mean a truncated file: two frames at
# the nominal rate, at least 0.1 s (containers round durations; the last frame may be dropped
# by an encoder's edit list).
_TRUNCATION_FRAMES = 2
_TRUNCATION_MIN_S = 0.1


class VideoDecodeError(UserError):
    """A video that cannot be decoded; `reason` is one of `REASONS`, `detail` says why.

    A `UserError`: at a command line it is the user's file (one `error:` line, `kinetics_i3d.cli`).
    """

    def __init__(self, path: str, reason: str, detail: str):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


class SourceFrame:
    """One decoded frame in presentation order.

    index: position in presentation order; time_s: presentation time in seconds from the
    stream's start; duration_s: seconds until the next frame (the last frame: see the module
    docstring); rotation: degrees counterclockwise applied to make it upright; nominal_fps: the
    stream's average frame rate (0.0 if unknown), for reports only; `image`
    (computed on first use): uint8 RGB `[H, W, 3]`, upright, short side resized.
    """

    __slots__ = ("index", "time_s", "duration_s", "rotation", "nominal_fps", "_frame",
                 "_short_side", "_image")

    def __init__(self, index: int, time_s: float, frame: av.VideoFrame, short_side: int | None,
                 nominal_fps: float = 0.0):
        self.index = index
        self.nominal_fps = nominal_fps
        self.time_s = time_s
        self.duration_s = 0.0
        self.rotation = _upright_turns(frame) * 90 % 360
        self._frame = frame
        self._short_side = short_side
        self._image = None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            rgb = self._frame.to_ndarray(format="rgb24")
            turns = self.rotation // 90
            if turns:
                rgb = np.ascontiguousarray(np.rot90(rgb, turns))
            self._image = resize_short_side(rgb, self._short_side)
            self._frame = None
        return self._image

    @property
    def upright_shape(self) -> tuple[int, int]:
        """(height, width) of the upright source frame, before resizing."""
        if self._frame is None:
            raise RuntimeError("upright_shape is only known before the image is converted")
        h, w = self._frame.height, self._frame.width
        return (w, h) if self.rotation in (90, 270) else (h, w)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One output frame of `resample`: the source frame on screen at `time_s` (seconds)."""

    time_s: float
    source: SourceFrame

    @property
    def image(self) -> np.ndarray:
        """uint8 RGB `[H, W, 3]`."""
        return self.source.image


def _upright_turns(frame: av.VideoFrame) -> int:
    """Quarter turns counterclockwise (np.rot90's k) that show `frame` as a player does.

    FFmpeg's display matrix angle (`av_display_rotation_get`, PyAV `VideoFrame.rotation`) is the
    counterclockwise rotation to apply; angles are rounded to quarter turns (phones only write
    0/90/180/270); mirroring in the matrix is not applied.
    """
    angle = frame.rotation or 0
    return int(round(angle / 90.0)) % 4


def _open(path: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing", "no such file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty", "zero-byte file")
    try:
        container = av.open(path)
    except av.FFmpegError as e:
        raise VideoDecodeError(path, "unreadable", f"FFmpeg cannot open it: {_ffmpeg_message(e)}"
                               ) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoDecodeError(path, "unreadable",
                               f"no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _ffmpeg_message(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error).splitlines()[0]


def _declared_end_s(container, stream) -> float | None:
    """The video stream's declared length in seconds (stream header; Matroska's DURATION tag;
    the container's duration when the file has no other stream), or None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag or "")
    if match:
        h, m, s = match.groups()
        return int(h) * 3600 + int(m) * 60 + float(s)
    if len(container.streams) == 1 and container.duration:
        return container.duration / av.time_base
    return None


def nominal_fps(stream) -> float:
    """The stream's average frame rate (0.0 if unknown or implausible)."""
    rate = stream.average_rate or stream.guessed_rate
    rate = float(rate) if rate else 0.0
    return rate if 0 < rate < 1000 else 0.0


def decode_frames(path: str | os.PathLike, short_side: int | None = None) -> Iterator[SourceFrame]:
    """Decodes `path` frame by frame (module docstring): `SourceFrame`s in presentation order.

    Args:
      path: a video file in any container/codec FFmpeg (PyAV's bundled build) reads.
      short_side: images' smaller side in pixels (None or 0: the upright source size).

    Raises:
      VideoDecodeError: reasons `missing`, `empty`, `unreadable`, `truncated`, `no_frames`,
        raised before the first frame (open) or once decoding reaches the failure.
    """
    path = os.fspath(path)
    container, stream = _open(path)
    try:
        start = stream.start_time or 0
        time_base = stream.time_base
        fps = nominal_fps(stream)
        pending: deque[av.VideoFrame] = deque()
        pts_heap: list[int] = []
        state = {"index": 0, "last_time": -math.inf}
        previous: SourceFrame | None = None

        def timed(frame: av.VideoFrame, pts: int | None) -> SourceFrame:
            if pts is None:  # no timestamps at all: frame index at the nominal rate
                if not fps:
                    raise VideoDecodeError(path, "unreadable",
                                           "frames have no timestamps and the frame rate is "
                                           "unknown")
                t = state["index"] / fps
            else:
                t = float((pts - start) * time_base)
            # Reordering deeper than _REORDER_DEPTH frames: keep time non-decreasing.
            t = max(t, state["last_time"])
            state["last_time"] = t
            out = SourceFrame(state["index"], t, frame, short_side, fps)
            state["index"] += 1
            return out

        def release(frame: SourceFrame) -> Iterator[SourceFrame]:
            nonlocal previous
            if previous is not None:
                previous.duration_s = frame.time_s - previous.time_s
                yield previous
            previous = frame

        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    pending.append(frame)
                    if frame.pts is not None:
                        heapq.heappush(pts_heap, frame.pts)
                    if len(pending) > _REORDER_DEPTH:
                        f = pending.popleft()
                        yield from release(timed(f, heapq.heappop(pts_heap) if pts_heap
                                                 else None))
        except av.FFmpegError as e:
            where = (f"after {state['index'] + len(pending)} frames "
                     f"({max(state['last_time'], 0):.3f} s)")
            reason = "truncated" if state["index"] + len(pending) else "unreadable"
            raise VideoDecodeError(path, reason, f"FFmpeg decode error {where}: "
                                   f"{_ffmpeg_message(e)}") from None
        while pending:
            f = pending.popleft()
            yield from release(timed(f, heapq.heappop(pts_heap) if pts_heap else None))
        if previous is None:
            raise VideoDecodeError(path, "no_frames", "the video stream has no decodable frame")
        last = previous
        declared = _declared_end_s(container, stream)
        last.duration_s = _last_duration(last, declared, fps, time_base)
        if declared is not None:
            slack = max(_TRUNCATION_FRAMES / fps if fps else 0.0, _TRUNCATION_MIN_S)
            end = last.time_s + last.duration_s
            if end < declared - slack:
                raise VideoDecodeError(
                    path, "truncated",
                    f"frames end at {end:.3f} s but the stream declares {declared:.3f} s "
                    f"({last.index + 1} frames decoded)")
        yield last
    finally:
        container.close()


def _last_duration(last: SourceFrame, declared: float | None, fps: float, time_base) -> float:
    """The last frame's duration: its packet's, else to the declared end, else 1 / nominal fps."""
    frame = last._frame
    if frame is not None and frame.duration:
        return float(frame.duration * time_base)
    if declared is not None and declared > last.time_s:
        return declared - last.time_s
    if fps:
        return 1.0 / fps
    return 1.0 / preprocessing.FRAME_RATE


def _output_count(start_s: float, end_s: float, fps: float) -> int:
    """Frames of an `fps` grid from `start_s` up to (excluding) `end_s`: ceil((end - start) * fps)
    (a 1e-6 tolerance absorbs float error)."""
    return max(int(math.ceil((end_s - start_s) * fps - 1e-6)), 0)


def resample(frames: Iterable[SourceFrame], fps: float, start_s: float | None = None,
             end_s: float | None = None, path: str = "") -> Iterator[Frame]:
    """Resamples timed source frames to `fps` on the stream (module docstring), holding one.

    Args:
      frames: `SourceFrame`s (or anything with `time_s`, `duration_s`), times non-decreasing.
      fps: output frame rate (release: 25).
      start_s, end_s: optional span in source seconds; the output starts at
        `max(start_s, first frame's time)` and stops at `min(end_s, last frame's end)`.
      path: named in errors.

    Yields:
      `Frame`s at `start + k / fps`.

    Raises:
      VideoDecodeError: `no_frames` when the span holds no frame.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    it = iter(frames)
    current = next(it, None)
    if current is None:
        raise VideoDecodeError(path, "no_frames", "no frame to resample")
    first = current.time_s
    clip_start = first if start_s is None else max(start_s, first)
    limit = math.inf if end_s is None else _output_count(clip_start, end_s, fps)
    k = 0
    for following in it:
        while k < limit and clip_start + k / fps + _TIME_TOLERANCE_S < following.time_s:
            yield Frame(clip_start + k / fps, current)
            k += 1
        if k >= limit:
            return
        current = following
    video_end = current.time_s + current.duration_s
    clip_end = video_end if end_s is None else min(end_s, video_end)
    if clip_end <= clip_start:
        raise VideoDecodeError(path, "no_frames", f"span [{start_s}, {end_s}] s is outside the "
                               f"video [{first:.3f}, {video_end:.3f}] s")
    for k in range(k, _output_count(clip_start, clip_end, fps)):
        yield Frame(clip_start + k / fps, current)


@dataclasses.dataclass
class _Timed:
    index: int
    time_s: float
    duration_s: float


def resample_indices(source_times_s: np.ndarray, fps: float, start_s: float,
                     end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """`resample`'s rule on an array of times (tests, planning): source frame of each output.

    Args:
      source_times_s: `[N]` non-decreasing source frame times, seconds; the last frame is taken
        to last until `end_s`.
      fps: output frame rate.
      start_s, end_s: output span; `end_s > start_s`.

    Returns:
      (indices `[K]` int64 into the source frames, output times `[K]` float64 seconds), with
      `K = ceil((end_s - start_s) * fps)`.
    """
    times = np.asarray(source_times_s, np.float64)
    timed = [_Timed(i, float(t), 0.0) for i, t in enumerate(times)]
    timed[-1].duration_s = max(end_s - timed[-1].time_s, 0.0)
    first = _Timed(0, min(start_s, float(times[0])), 0.0)  # frames before the first show it
    out = list(resample([first] + timed if start_s < times[0] else timed, fps, start_s, end_s))
    return (np.array([f.source.index for f in out], np.int64),
            np.array([f.time_s for f in out], np.float64))


class VideoFrames:
    """A video file as a re-iterable of resampled uint8 RGB frames `[H, W, 3]`, streamed.

    `num_frames` (cached) counts the output frames in a first pass that decodes but converts
    nothing (feature extraction needs the length before the first frame, `serve.chunked`);
    iterating decodes again and yields the images. `max_frames` keeps the first ones only.

    Raises `VideoDecodeError` (module docstring) from `num_frames` or while iterating.
    """

    def __init__(self, path: str | os.PathLike, fps: float = preprocessing.FRAME_RATE,
                 short_side: int | None = preprocessing.SHORT_SIDE,
                 max_frames: int | None = None, start_s: float | None = None,
                 end_s: float | None = None):
        self.path = os.fspath(path)
        self.fps = fps
        self.short_side = short_side
        self.max_frames = max_frames
        self.start_s = start_s
        self.end_s = end_s
        self._num_frames: int | None = None

    def frames(self) -> Iterator[Frame]:
        """The resampled `Frame`s (times and lazily converted images)."""
        out = resample(decode_frames(self.path, self.short_side), self.fps, self.start_s,
                       self.end_s, self.path)
        for k, frame in enumerate(out):
            if self.max_frames is not None and k >= self.max_frames:
                out.close()
                return
            yield frame

    @property
    def num_frames(self) -> int:
        if self._num_frames is None:
            self._num_frames = sum(1 for _ in self.frames())
        return self._num_frames

    def __len__(self) -> int:
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.frames():
            yield frame.image


@dataclasses.dataclass
class Clip:
    """A decoded, resampled, resized clip.

    rgb: `[T, H, W, 3]` uint8 RGB frames at `fps`, upright; timestamps_us: `[T]` int64
    microseconds in the source's time; start_us / end_us: the clip's span in the source;
    source_*: what was decoded (size upright, before resizing; rotation applied, degrees
    counterclockwise; frames decoded up to the end of the span).
    """

    rgb: np.ndarray
    timestamps_us: np.ndarray
    fps: float
    start_us: int
    end_us: int
    source_fps: float
    source_num_frames: int
    source_height: int
    source_width: int
    rotation: int = 0


def read_video(
    path: str | os.PathLike,
    *,
    fps: float = preprocessing.FRAME_RATE,
    short_side: int | None = preprocessing.SHORT_SIDE,
    start_s: float | None = None,
    end_s: float | None = None,
) -> Clip:
    """Decodes `path` into a resampled clip held in memory (ingest of one clip).

    Args:
      path: video file (any container/codec FFmpeg reads).
      fps: output frame rate (release: 25).
      short_side: output smaller side in pixels (release: 256); None or 0 keeps the source size.
      start_s, end_s: optional clip span in the source, seconds (Kinetics annotations).

    Returns:
      A `Clip` with `rgb` `[T, H, W, 3]` uint8.

    Raises:
      VideoDecodeError: `missing`, `empty`, `unreadable`, `truncated`, `no_frames`.
      ValueError: fps <= 0 or end_s <= start_s.
    """
    path = os.fspath(path)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"{path}: end_s={end_s} must be greater than start_s={start_s}")
    decoded = {"first": None, "last": None}

    def watched(frames):
        for frame in frames:
            if decoded["first"] is None:
                decoded["first"] = (frame.upright_shape, frame.rotation)
            decoded["last"] = frame
            yield frame

    source = decode_frames(path, short_side)
    images, times = [], []
    for frame in resample(watched(source), fps, start_s, end_s, path):
        images.append(frame.image)
        times.append(frame.time_s)
    (src_h, src_w), rotation = decoded["first"]
    last = decoded["last"]
    video_end = last.time_s + last.duration_s
    clip_end = video_end if end_s is None else min(end_s, video_end)
    return Clip(
        rgb=np.stack(images),
        timestamps_us=np.round(np.asarray(times) * 1e6).astype(np.int64),
        fps=float(fps),
        start_us=int(round(times[0] * 1e6)),
        end_us=int(round(clip_end * 1e6)),
        source_fps=last.nominal_fps,
        source_num_frames=last.index + 1,
        source_height=int(src_h),
        source_width=int(src_w),
        rotation=rotation,
    )
