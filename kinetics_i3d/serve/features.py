"""Per-video I3D features (Mixed_5c) from video files, folders or shards, with bounded memory.

Features are the `Mixed_5c` endpoint (the input of the Logits head, paper Fig. 3) of the whole
video, computed exactly as one pass would (`kinetics_i3d.serve.chunked`) on the release's test
input (25 fps, short side 256, 224 centre crop, [-1, 1]). Pooling:

  "mean": mean over T', H', W'                  -> float32 `[1024]` (default)
  "time": mean over H', W' (a time series)      -> float32 `[ceil(T/8), 1024]`
  "none": the unpooled map                      -> float32 `[ceil(T/8), 7, 7, 1024]` (224 crop)

Output layout under `output_dir`: `<video id>_<modality>.npy` per video and modality (video ids
of files are their path relative to the input folder, without extension), and `index.jsonl`,
one JSON line per processed video: `{"video_id", "source", "status": "ok" | "failed",
"reason", "detail", "files": {modality: {"path", "shape", "num_frames"}}}`; `index.csv` is the
same as a table, rewritten at the end of each run; `settings.json` records the settings that
shape the files (`feature_settings`: endpoint, pooling, input fps and sizes, frame limit, and per
stream the checkpoint's resolved prefix, size and mtime) and the package version.

Resume is settings-aware (`kinetics_i3d.provenance`): a rerun whose settings differ from the
stored ones (for the streams both runs have) stops with the differences listed and offers
`overwrite=True` (`--overwrite`: every video is recomputed); a folder whose index records no
feature file counts as empty and takes the new settings; a run that adds a stream (e.g.
`--modalities=rgb,flow` after `rgb`) computes only the missing stream. A video counts as done
only when every requested modality's file exists with the shape its index record gives; failed
videos are retried. Files are written to a temporary name and renamed, so an interrupted run
never leaves a truncated `.npy`.

Bad inputs do not stop the run: a video that cannot be decoded (the decoder's reason, as in
the ingest failure list: "missing", "empty", "unreadable", "truncated", "no_frames"; see
`kinetics_i3d.ingest.video`) or has fewer frames than `min_frames` ("too_short") is recorded as
failed with the reason and the next one is processed.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import preprocessing, provenance
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.video import VideoDecodeError, VideoFrames
from kinetics_i3d.models.i3d import MIN_FRAMES
from kinetics_i3d.progress import Progress
from kinetics_i3d.serve.chunked import POOLINGS, ChunkedI3D

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")
INDEX_JSONL = "index.jsonl"
INDEX_CSV = "index.csv"
SETTINGS_JSON = "settings.json"
ENDPOINT = "Mixed_5c"


@dataclasses.dataclass(frozen=True)
class InputSize:
    """Frame rate and sizes of the network input (release: 25 fps, short side 256, crop 224)."""

    fps: float = preprocessing.FRAME_RATE
    short_side: int = preprocessing.SHORT_SIDE
    crop_size: int = preprocessing.CROP_SIZE


def check_options(size: InputSize, max_frames: int | None = None, min_frames: int = MIN_FRAMES,
                  chunk_steps: int = 1) -> None:
    """Raises `UserError` (one line naming the flag, its value and the valid range) for options
    no video could be extracted with, before any output is written or a model is loaded.

    Ranges: fps > 0; short_side >= 1; 1 <= crop_size <= short_side (the centre crop is taken from
    the frame resized to short_side; Mixed_5c has SAME padding, so features need no minimum crop,
    unlike the Logits head's 193..224 px); max_frames None or >= min_frames (fewer frames make
    every video too_short); min_frames >= 1; chunk_steps >= 1.
    """
    if not size.fps > 0:
        raise UserError(f"--fps={size.fps}: expected a frame rate > 0")
    if size.short_side < 1:
        raise UserError(f"--short_side={size.short_side}: expected >= 1 pixel")
    if not 1 <= size.crop_size <= size.short_side:
        raise UserError(f"--crop_size={size.crop_size}: expected 1..{size.short_side} pixels "
                        f"(the centre crop of frames resized to --short_side={size.short_side})")
    if min_frames < 1:
        raise UserError(f"--min_frames={min_frames}: expected >= 1")
    if max_frames is not None and max_frames < min_frames:
        raise UserError(f"--max_frames={max_frames}: expected >= --min_frames={min_frames} "
                        "(fewer frames would make every video too_short)")
    if chunk_steps < 1:
        raise UserError(f"--chunk_steps={chunk_steps}: expected >= 1 Mixed_5c step per chunk")


VideoStream = VideoFrames  # the old name of the one decoder (`kinetics_i3d.ingest.video`)


def flow_frames(rgb_frames: Iterable[np.ndarray], backend: str = "opencv") -> Iterator[np.ndarray]:
    """Streams TV-L1 flow of consecutive uint8 RGB frames: yields float32 `[H, W, 2]` pixels.

    One pair at a time (`kinetics_i3d.ingest.flow`: OpenCV defaults, clipped to [-20, 20]);
    T frames give T - 1 flow frames.
    """
    from kinetics_i3d.ingest.flow import compute_flow, rgb_to_gray

    prev = None
    for frame in rgb_frames:
        gray = rgb_to_gray(frame)
        if prev is not None:
            yield compute_flow(np.stack([prev, gray]), backend=backend)[0]
        prev = gray


def _blocks(frames: Iterable[np.ndarray], block: int) -> Iterator[np.ndarray]:
    buf = []
    for f in frames:
        buf.append(f)
        if len(buf) == block:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def network_frames(raw: Iterable[np.ndarray], modality: str, size: InputSize,
                   block: int = 32) -> Iterator[np.ndarray]:
    """Raw frames (rgb uint8 / flow float pixels, any size) -> float32 `[S, S, C]` in [-1, 1]."""
    fn = (preprocessing.network_input_rgb_tf if modality == "rgb"
          else preprocessing.network_input_flow_tf)
    for chunk in _blocks(raw, block):
        yield from fn(chunk, size.short_side, size.crop_size).numpy()


@dataclasses.dataclass
class VideoItem:
    """One video to process: an id, where it came from, and per-modality frame sources.

    `frames[modality]()` returns `(iterable of network-ready float32 [S, S, C] frames, count)`.
    """

    video_id: str
    source: str
    frames: dict[str, Callable[[], tuple[Iterable[np.ndarray], int]]]


def file_items(paths: Sequence[str], root: str | None, modalities: Sequence[str],
               size: InputSize, max_frames: int | None = None,
               flow_backend: str = "opencv") -> Iterator[VideoItem]:
    """`VideoItem`s for video files; ids are paths relative to `root` without extension.
    Raises ValueError for `modalities` not a non-empty subset of ("rgb", "flow")."""
    if not modalities or set(modalities) - {"rgb", "flow"}:
        raise ValueError(f"modalities must be a non-empty subset of ('rgb', 'flow'), "
                         f"got {modalities}")
    for path in paths:
        rel = os.path.relpath(path, root) if root else os.path.basename(path)
        video_id = os.path.splitext(rel)[0]
        stream = VideoFrames(path, size.fps, size.short_side, max_frames)

        def rgb(stream=stream):
            return network_frames(stream, "rgb", size), stream.num_frames

        def flow(stream=stream):
            return (network_frames(flow_frames(stream, flow_backend), "flow", size),
                    max(stream.num_frames - 1, 0))

        sources = {"rgb": rgb, "flow": flow}
        yield VideoItem(video_id, path, {m: sources[m] for m in modalities})


def find_videos(folder: str) -> list[str]:
    """Video files (by extension, `VIDEO_EXTENSIONS`) under `folder`, recursively, sorted."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"video folder {folder!r} does not exist")
    found = []
    for dirpath, _, files in os.walk(folder):
        found += [os.path.join(dirpath, f) for f in files
                  if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS]
    return sorted(found)


def shard_items(patterns: str | Sequence[str], modalities: Sequence[str], size: InputSize,
                max_frames: int | None = None) -> Iterator[VideoItem]:
    """`VideoItem`s for the videos of MediaSequence shards (ids: `clip/media_id`).

    Read with `kinetics_i3d.serve.evaluate.shard_videos` (the test split of
    `make_dataset(..., "i3d")`: centre crop of the stored frames, [-1, 1]); one video at a time.
    """
    from kinetics_i3d.serve.evaluate import shard_videos

    videos = shard_videos(patterns, modalities, max_frames, crop_size=size.crop_size,
                          short_side=size.short_side, require_labels=False)
    for i, video in enumerate(videos):
        media_id = video.media_id or f"record_{i:06d}"
        frames = {m: (lambda v=v: (iter(v), len(v))) for m, v in video.frames.items()}
        yield VideoItem(media_id.replace("/", "_"), f"{patterns}#{i}", frames)


def _npy_path(output_dir: str, video_id: str, modality: str) -> str:
    return os.path.join(output_dir, f"{video_id}_{modality}.npy")


def read_index(output_dir: str) -> dict[str, dict]:
    """The latest index record of every video id in `output_dir/index.jsonl` ({} if none)."""
    path = os.path.join(output_dir, INDEX_JSONL)
    records = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    records[rec["video_id"]] = rec
    return records


def feature_settings(checkpoints: dict[str, str | None], pooling: str, size: InputSize,
                     max_frames: int | None = None, flow_backend: str | None = None) -> dict:
    """The settings that shape extracted features, as stored in `settings.json`.

    `checkpoints`: {modality: checkpoint path or None (random weights)}; each is resolved
    (`checkpoints.resolve_checkpoint`) and identified by its prefix, `.index` size and mtime.
    `flow_backend`: the TV-L1 implementation when flow is computed here (video files).
    """
    from kinetics_i3d.checkpoints import checkpoint_identity

    streams = {}
    for m, path in checkpoints.items():
        stream: dict = {"checkpoint": checkpoint_identity(path, f"{m}_checkpoint") if path
                        else None}
        if m == "flow" and flow_backend:
            stream["flow_backend"] = flow_backend
        streams[m] = stream
    return {"endpoint": ENDPOINT, "pooling": pooling, "fps": size.fps,
            "short_side": size.short_side, "crop_size": size.crop_size,
            "max_frames": max_frames, "streams": streams}


def check_settings(output_dir: str, settings: dict, overwrite: bool = False) -> list[str]:
    """Differences between `settings` and `output_dir/settings.json` over the streams both have
    (`provenance.settings_differences`; [] when nothing is stored).

    Raises `provenance.SettingsMismatchError` listing them unless `overwrite`.
    """
    stored_file = provenance.read_json(os.path.join(output_dir, SETTINGS_JSON))
    if stored_file is None or not _has_features(output_dir):
        return []  # settings.json without a feature file (e.g. a run that failed) binds nothing
    stored = stored_file["settings"]
    common = set(stored["streams"]) & set(settings["streams"])

    def restricted(s: dict) -> dict:
        return dict(s, streams={m: v for m, v in s["streams"].items() if m in common})

    if not overwrite:
        provenance.check_settings(
            restricted(stored), restricted(settings), f"the feature folder {output_dir}",
            "rerun with --overwrite to recompute every video, or use another --output_dir")
    return provenance.settings_differences(restricted(stored), restricted(settings))


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def _has_features(output_dir: str) -> bool:
    """Whether the index of `output_dir` records any written feature file."""
    return any(rec.get("files") for rec in read_index(output_dir).values())


def _done_files(record: dict | None, output_dir: str, modalities: Iterable[str]) -> dict:
    """{modality: file record} of the `modalities` whose `.npy` exists with the recorded shape."""
    done = {}
    for m in modalities:
        info = (record or {}).get("files", {}).get(m)
        if not info:
            continue
        path = os.path.join(output_dir, info["path"])
        try:
            shape = np.load(path, mmap_mode="r").shape  # reads the header only
        except (OSError, ValueError):
            continue
        if list(shape) == list(info["shape"]):
            done[m] = info
    return done


def _save_atomic(path: str, array: np.ndarray) -> None:
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def _extract_one(runner: ChunkedI3D, frames: Iterable[np.ndarray], n: int, pooling: str,
                 path: str) -> tuple[int, ...]:
    """Writes one modality's features to `path`; returns the shape."""
    if pooling != "none":
        array = runner.pooled_features(frames, n, pooling)
        _save_atomic(path, array)
        return array.shape
    # Unpooled: stream blocks into a memory-mapped .npy so a long video never sits in memory.
    tmp = path + ".tmp.npy"
    out = None
    row = 0
    steps = math.ceil(n / runner.stride)
    for block in runner.mixed_5c(frames, n):
        if out is None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                            shape=(steps,) + block.shape[1:])
        out[row:row + len(block)] = block
        row += len(block)
    out.flush()
    shape = out.shape
    del out
    os.replace(tmp, path)
    return shape


@dataclasses.dataclass
class ExtractionSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list = dataclasses.field(default_factory=list)


def extract_features(items: Iterable[VideoItem], runners: dict[str, ChunkedI3D], output_dir: str,
                     pooling: str = "mean", min_frames: int = MIN_FRAMES,
                     total: int | None = None, settings: dict | None = None,
                     overwrite: bool = False) -> ExtractionSummary:
    """Extracts features for every item into `output_dir` (layout in the module docstring).

    Args:
      items: videos (`file_items`, `shard_items`).
      runners: {modality: ChunkedI3D} for the modalities to extract.
      pooling: one of `POOLINGS` ("mean", "time", "none").
      min_frames: videos with fewer frames (in any requested modality) are recorded as
        "too_short" (default 9, the fewest frames I3D makes one prediction from).
      total: number of items, for the progress bar.
      settings: `feature_settings(...)` of this run (default: endpoint, pooling and the
        streams, without checkpoint identities); stored in `settings.json`.
      overwrite: recompute every video when the stored settings differ (else stop).

    Raises:
      provenance.SettingsMismatchError: `output_dir` holds features made with other settings
        and `overwrite` is False.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if settings is None:
        settings = {"endpoint": ENDPOINT, "pooling": pooling,
                    "streams": {m: {} for m in runners}}
    if settings["pooling"] != pooling or set(settings["streams"]) != set(runners):
        raise ValueError(f"settings {settings} do not describe pooling={pooling!r} and streams "
                         f"{sorted(runners)}")
    os.makedirs(output_dir, exist_ok=True)
    settings_path = os.path.join(output_dir, SETTINGS_JSON)
    stored = (provenance.read_json(settings_path) or {}).get("settings")
    if check_settings(output_dir, settings, overwrite):  # only reached with overwrite
        logging.info("--overwrite: features in %s were made with other settings; recomputing "
                     "every video", output_dir)
        stored = None
        _remove(os.path.join(output_dir, INDEX_JSONL))
    elif stored is not None and not _has_features(output_dir):
        # No feature file yet (e.g. every video of a run failed): the folder counts as empty
        # and takes this run's settings; its failure records were made with the old ones.
        stored = None
        _remove(os.path.join(output_dir, INDEX_JSONL))
    merged = dict(settings, streams={**(stored or {}).get("streams", {}), **settings["streams"]})
    provenance.write_json(settings_path,
                          {"settings": merged, "package_version": provenance.package_version()})
    index = read_index(output_dir)
    summary = ExtractionSummary()
    progbar = Progress("features", total)
    with open(os.path.join(output_dir, INDEX_JSONL), "a", encoding="utf-8") as log:
        for i, item in enumerate(items):
            done = _done_files(index.get(item.video_id), output_dir, runners)
            if len(done) == len(runners):
                summary.skipped += 1
            else:
                todo = {m: r for m, r in runners.items() if m not in done}
                record = _process(item, todo, output_dir, pooling, min_frames)
                record["files"] = {**done, **record["files"]}
                index[item.video_id] = record
                log.write(json.dumps(record) + "\n")
                log.flush()
                if record["status"] == "ok":
                    summary.done += 1
                else:
                    summary.failed += 1
                    summary.failures.append(record)
                    logging.warning("%s (%s): %s: %s", item.video_id, item.source,
                                    record["reason"], record["detail"])
            progbar.update(i + 1, failed=summary.failed)
    progbar.close()
    write_index_csv(index, output_dir)
    logging.info("features: %d written, %d skipped (already done), %d failed -> %s",
                 summary.done, summary.skipped, summary.failed, output_dir)
    return summary


def _process(item: VideoItem, runners: dict[str, ChunkedI3D], output_dir: str, pooling: str,
             min_frames: int) -> dict:
    record = {"video_id": item.video_id, "source": item.source, "status": "ok", "reason": "",
              "detail": "", "files": {}}
    try:
        for modality, runner in runners.items():
            frames, n = item.frames[modality]()
            if n < min_frames:
                raise _TooShort(f"{n} {modality} frames; at least {min_frames} needed")
            path = _npy_path(output_dir, item.video_id, modality)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shape = _extract_one(runner, frames, n, pooling, path)
            record["files"][modality] = {"path": os.path.relpath(path, output_dir),
                                         "shape": list(shape), "num_frames": n}
    except VideoDecodeError as e:
        record.update(status="failed", reason=e.reason, detail=e.detail)
    except _TooShort as e:
        record.update(status="failed", reason="too_short", detail=str(e))
    except (tf.errors.OpError, ValueError) as e:
        record.update(status="failed", reason="error", detail=str(e).splitlines()[0][:500])
    if record["status"] != "ok":  # no partial outputs for a failed video
        for modality in runners:
            path = _npy_path(output_dir, item.video_id, modality)
            for p in (path, path + ".tmp.npy"):
                if os.path.exists(p):
                    os.remove(p)
        record["files"] = {}
    return record


class _TooShort(Exception):
    pass


def write_index_csv(index: dict[str, dict], output_dir: str) -> str:
    """`index.csv`: video_id, source, status, reason, detail, then modality, path, shape, frames."""
    path = os.path.join(output_dir, INDEX_CSV)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "source", "status", "reason", "detail", "modality", "path",
                         "shape", "num_frames"])
        for video_id in sorted(index):
            rec = index[video_id]
            base = [video_id, rec["source"], rec["status"], rec["reason"], rec["detail"]]
            if not rec["files"]:
                writer.writerow(base + ["", "", "", ""])
            for modality, info in sorted(rec["files"].items()):
                writer.writerow(base + [modality, info["path"], "x".join(map(str, info["shape"])),
                                        info["num_frames"]])
    return path
