"""Decode a video, resample it to a target frame rate by timestamps, resize the short side.

Release preprocessing (DeepMind kinetics-i3d README; paper sec. 2.5): frames sampled at 25 fps,
RGB resized with bilinear interpolation so that the smaller side is 256, aspect ratio kept.
Kinetics clips are cut at their annotated start and end times.

Resampling is by time, not by frame index: output frame k is at `t_k = start + k / fps` and shows
the source frame on screen at that time, i.e. the latest one whose timestamp is `<= t_k` (a 0.1 ms
tolerance absorbs millisecond-rounded container timestamps), so frames are dropped (29.97 -> 25)
or repeated (15 -> 25) as needed. A clip spanning `D` seconds gives `ceil(D * fps)` frames.

Source timestamps come from the container (`CAP_PROP_POS_MSEC`) when they are strictly increasing;
some files report them in decode order or not at all, and then `index / CAP_PROP_FPS` is used.
"""
from __future__ import annotations

import dataclasses
import math
import os

import cv2
import numpy as np

# Frames whose time lies this far outside [start, end] are still decoded and kept, so that the
# frame shown at `start` is available whichever time basis (container or index) is chosen.
_WINDOW_MARGIN_S = 1.0
# Container timestamps are rounded to milliseconds.
_TIME_TOLERANCE_S = 1e-4


class VideoDecodeError(Exception):
    """A video that cannot be ingested; `reason` is a short machine-friendly tag."""

    def __init__(self, path: str, reason: str, detail: str):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass
class Clip:
    """A decoded, resampled, resized clip.

    rgb: `[T, H, W, 3]` uint8 RGB frames at `fps`; timestamps_us: `[T]` int64 microseconds in the
    source's time; start_us / end_us: the clip's span in the source; source_*: what was decoded.
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
    time_basis: str  # "container" or "index"


def resized_shape(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) after scaling the smaller side to `short_side`, aspect kept (rounded)."""
    if not short_side:
        return height, width
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, max(1, int(round(width * scale)))
    return max(1, int(round(height * scale))), short_side


def resize_short_side(frame: np.ndarray, short_side: int | None) -> np.ndarray:
    """Bilinear resize of `[H, W, C]` so that min(H, W) == short_side (None/0: unchanged)."""
    h, w = frame.shape[:2]
    new_h, new_w = resized_shape(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return frame
    return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def resample_indices(source_times_s: np.ndarray, fps: float, start_s: float,
                     end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Pick source frames for an output grid at `fps` over `[start_s, end_s)`.

    Args:
      source_times_s: `[N]` strictly increasing source frame times, seconds.
      fps: output frame rate.
      start_s, end_s: output span; `end_s > start_s`.

    Returns:
      (indices `[K]` int64 into the source frames, output times `[K]` float64 seconds), with
      `K = ceil((end_s - start_s) * fps)` (a 1e-6 tolerance absorbs float error).
    """
    count = int(math.ceil((end_s - start_s) * fps - 1e-6))
    times = start_s + np.arange(max(count, 0)) / fps
    idx = np.searchsorted(source_times_s, times + _TIME_TOLERANCE_S, side="right") - 1
    return np.clip(idx, 0, len(source_times_s) - 1).astype(np.int64), times


def read_video(
    path: str | os.PathLike,
    *,
    fps: float = 25.0,
    short_side: int | None = 256,
    start_s: float | None = None,
    end_s: float | None = None,
) -> Clip:
    """Decode `path` (any container OpenCV's FFmpeg backend reads) into a resampled clip.

    Args:
      path: video file.
      fps: output frame rate (release: 25).
      short_side: output smaller side in pixels (release: 256); None or 0 keeps the source size.
      start_s, end_s: optional clip span in the source, seconds (Kinetics annotations).

    Returns:
      A `Clip` with `rgb` `[T, H, W, 3]` uint8.

    Raises:
      VideoDecodeError: missing, empty, unreadable, truncated, or no frames in the span.
    """
    path = os.fspath(path)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(f"{path}: end_s={end_s} must be greater than start_s={start_s}")
    if not os.path.exists(path):
        raise VideoDecodeError(path, "missing", "no such file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty", "zero-byte file")
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise VideoDecodeError(path, "unreadable",
                                   "OpenCV/FFmpeg cannot open it (not a video or corrupt)")
        src_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0 < src_fps < 1000):
            src_fps = 0.0
        listed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        lo = -math.inf if start_s is None else start_s - _WINDOW_MARGIN_S
        hi = math.inf if end_s is None else end_s + _WINDOW_MARGIN_S
        pts: list[float] = []
        kept: dict[int, np.ndarray] = {}
        stopped_early = False
        while True:
            if not cap.grab():
                break
            i = len(pts)
            t_container = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            pts.append(t_container)
            estimates = [t_container] + ([i / src_fps] if src_fps else [])
            if all(t > hi for t in estimates):
                stopped_early = True
                break
            if any(lo <= t <= hi for t in estimates):
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    raise VideoDecodeError(path, "corrupt", f"frame {i} could not be decoded")
                if not kept:  # the source size, from the first frame decoded
                    src_h, src_w = bgr.shape[:2]
                kept[i] = cv2.cvtColor(resize_short_side(bgr, short_side), cv2.COLOR_BGR2RGB)
        num_decoded = len(pts) - (1 if stopped_early else 0)
        if num_decoded == 0 or not kept:
            raise VideoDecodeError(path, "no_frames",
                                   "no frame could be decoded" if num_decoded == 0 else
                                   f"no frame near the span [{start_s}, {end_s}] s")
        if not stopped_early and listed > 0 and num_decoded + max(2, 0.01 * listed) < listed:
            raise VideoDecodeError(path, "truncated",
                                   f"decoded {num_decoded} of the {listed} frames the container "
                                   "lists")
    finally:
        cap.release()

    container = np.asarray(pts[:num_decoded], np.float64)
    if num_decoded == 1 or np.all(np.diff(container) > 0):
        times, basis = container, "container"
        frame_dur = float(np.median(np.diff(container))) if num_decoded > 1 else (
            1.0 / src_fps if src_fps else 1.0 / fps)
    elif src_fps:
        times, basis = np.arange(num_decoded) / src_fps, "index"
        frame_dur = 1.0 / src_fps
    else:
        raise VideoDecodeError(path, "no_timestamps",
                               "container timestamps are not increasing and the frame rate is "
                               "unknown")
    video_end = times[-1] + frame_dur
    clip_start = times[0] if start_s is None else max(start_s, times[0])
    clip_end = video_end if end_s is None else min(end_s, video_end)
    if clip_end <= clip_start:
        raise VideoDecodeError(path, "no_frames",
                               f"span [{start_s}, {end_s}] s is outside the video "
                               f"[{times[0]:.3f}, {video_end:.3f}] s")
    idx, out_times = resample_indices(times, fps, clip_start, clip_end)
    available = np.array(sorted(kept))
    # Only kept frames can be chosen; with the margin above this is the chosen frame itself.
    pos = np.clip(np.searchsorted(available, idx, side="right") - 1, 0, len(available) - 1)
    rgb = np.stack([kept[int(available[p])] for p in pos])
    return Clip(
        rgb=rgb,
        timestamps_us=np.round(out_times * 1e6).astype(np.int64),
        fps=float(fps),
        start_us=int(round(clip_start * 1e6)),
        end_us=int(round(clip_end * 1e6)),
        source_fps=src_fps,
        source_num_frames=num_decoded,
        source_height=int(src_h),
        source_width=int(src_w),
        time_basis=basis,
    )
