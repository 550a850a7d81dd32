"""Sharded, parallel, resumable TFRecord build, splittable across machines.

Layout in `output_dir` for `name` and N shards:
  <name>-00000-of-0000N.tfrecord     finished shard: one serialized SequenceExample per video
  <name>-00000-of-0000N.meta.json    its record: options, videos written, failures
  <name>-00000-of-0000N.tfrecord.incomplete   a shard being written (never read as finished)
  <name>-failures[-task-K-of-M].tsv  failure list of this run: path, media_id, reason, detail
  <name>-dataset[-task-K-of-M].json  provenance and summary of this run: the label map (names,
                                     SHA-256, source), fps, short side, flow backend and bound,
                                     codec settings, package version, counts, failures file
  <name>-label_map.txt               the label map the shards' `clip/label/index` indexes, one
                                     class name per line (the format of `label_maps/label_map.txt`)

Assignment is deterministic: the manifest order is shuffled with `shuffle_seed` (so each shard
mixes classes; Kinetics CSVs are sorted by class), video j goes to shard `j % N`, and shard s
belongs to task `s % num_tasks`. N independent processes with `task_index` 0..N-1 therefore
write disjoint shard sets whose union is the single-task build.

A shard is written under a temporary name, then its meta file, then it is renamed; a finished
shard (final name present) is never rewritten, an interrupted one is redone from scratch. A
finished shard built with other options (or another label map) stops the run with the
differences listed (`kinetics_i3d.provenance.check_settings`) unless `overwrite=True`; so do
shards of `name` with another shard count (the folder would hold two sets, and a
`<name>-*.tfrecord` glob would read every video twice), which `overwrite=True` deletes.
Parallelism is over shards (`num_workers` processes); choose `num_shards >= num_workers`.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import json
import multiprocessing
import os
import queue as queue_lib
import random
import re
import time
from concurrent import futures
from typing import Any, Callable, Sequence

from absl import logging

from kinetics_i3d import labels as labels_lib
from kinetics_i3d import mediasequence as ms
from kinetics_i3d import provenance
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d import preprocessing
from kinetics_i3d.ingest import sequence
from kinetics_i3d.ingest import video as video_lib
from kinetics_i3d.ingest.manifests import VideoEntry
from kinetics_i3d.progress import Progress


@dataclasses.dataclass(frozen=True)
class IngestOptions:
    """What to store per video (release defaults: 25 fps, short side 256, flow bound 20)."""

    fps: float = preprocessing.FRAME_RATE
    short_side: int = preprocessing.SHORT_SIDE
    rgb: bool = True
    flow: bool = True
    flow_bound: float = ms.FLOW_BOUND
    flow_backend: str = "opencv"
    flow_batch: int = 8
    flow_format: str = "png"
    jpeg_quality: int = sequence.DEFAULT_JPEG_QUALITY
    # `labels.label_map_hash` of the map the labels index, stored in each example's context;
    # `build_dataset` fills it from its `class_names`.
    label_map_sha256: str | None = None

    def __post_init__(self):
        """Raises `UserError` (one line naming the flag and its allowed range) on a bad value."""
        if not (self.rgb or self.flow):
            raise UserError("--skip_rgb and --skip_flow together: nothing to store; keep RGB "
                            "or flow (rgb=False, flow=False)")
        if not self.fps > 0:
            raise UserError(f"--fps={self.fps}: expected > 0 frames per second (release: "
                            f"{preprocessing.FRAME_RATE:g})")
        if self.short_side < 0:
            raise UserError(f"--short_side={self.short_side}: expected >= 0 pixels (0 keeps the "
                            f"source size; release: {preprocessing.SHORT_SIDE})")
        if not self.flow_bound > 0:
            raise UserError(f"--flow_bound={self.flow_bound}: expected > 0 pixels (release: "
                            f"{preprocessing.FLOW_BOUND:g})")
        if self.flow_batch < 1:
            raise UserError(f"--flow_batch={self.flow_batch}: expected >= 1 frame pairs")
        if not 1 <= self.jpeg_quality <= 100:
            # cv2.IMWRITE_JPEG_QUALITY's range is 0-100; 0 is useless, so 1-100.
            raise UserError(f"--jpeg_quality={self.jpeg_quality}: expected 1-100")
        if self.flow_backend not in flow_lib.BACKENDS:
            raise UserError(f"--flow_backend={self.flow_backend!r}: expected one of "
                            f"{flow_lib.BACKENDS}")
        if self.flow_format not in sequence.FLOW_FORMATS:
            raise UserError(f"--flow_format={self.flow_format!r}: expected one of "
                            f"{sequence.FLOW_FORMATS}")

    def storage_dict(self) -> dict[str, Any]:
        """The options that change the bytes written (not flow_batch; the backend changes the
        flow values, so it is recorded)."""
        d = dataclasses.asdict(self)
        d.pop("flow_batch")
        return d


@dataclasses.dataclass
class BuildSummary:
    """Counts for the videos of this task (skipped finished shards included)."""

    num_videos: int = 0
    num_written: int = 0
    num_failed: int = 0
    num_frames: int = 0
    shards_total: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    seconds: float = 0.0
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)
    failures_path: str = ""
    dataset_path: str = ""
    label_map_path: str = ""

    @property
    def all_failed(self) -> bool:
        return self.num_videos > 0 and self.num_written == 0


def process_video(entry: VideoEntry, options: IngestOptions) -> tuple[bytes, int]:
    """Decode, resample, resize, compute flow and serialize one video.

    Returns (serialized SequenceExample, number of RGB frames). Raises `VideoDecodeError`.
    """
    clip = video_lib.read_video(entry.path, fps=options.fps, short_side=options.short_side,
                                start_s=entry.start_s, end_s=entry.end_s)
    flow = None
    if options.flow:
        flow = flow_lib.compute_flow(flow_lib.rgb_to_gray(clip.rgb), backend=options.flow_backend,
                                     batch=options.flow_batch, bound=options.flow_bound)
    offset_us = int(round(entry.time_offset_s * 1e6))
    example = sequence.make_sequence_example(
        clip.rgb if options.rgb else None, flow, fps=options.fps,
        label_index=entry.label_index, label_string=entry.label_string, media_id=entry.media_id,
        start_us=clip.start_us + offset_us, end_us=clip.end_us + offset_us,
        jpeg_quality=options.jpeg_quality, flow_format=options.flow_format,
        flow_bound=options.flow_bound, label_map_sha256=options.label_map_sha256)
    return example.SerializeToString(), int(clip.rgb.shape[0])


def shard_path(output_dir: str, name: str, index: int, num_shards: int) -> str:
    """`<output_dir>/<name>-<index:05d>-of-<num_shards:05d>.tfrecord`."""
    return os.path.join(output_dir, f"{name}-{index:05d}-of-{num_shards:05d}.tfrecord")


def meta_path(shard: str) -> str:
    return shard[: -len(".tfrecord")] + ".meta.json"


def assign_shards(entries: Sequence[VideoEntry], num_shards: int,
                  shuffle_seed: int | None = 0) -> list[list[VideoEntry]]:
    """Deterministic split of `entries` into `num_shards` lists (shuffled with `shuffle_seed`;
    None keeps the manifest order), video j of the shuffled order to shard j % num_shards."""
    if num_shards < 1:
        raise UserError(f"--num_shards={num_shards}: expected >= 1")
    order = list(entries)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    return [order[s::num_shards] for s in range(num_shards)]


def task_shards(num_shards: int, task_index: int, num_tasks: int) -> list[int]:
    """Shard indices of task `task_index` of `num_tasks`: s with s % num_tasks == task_index.

    Raises `UserError` when num_shards < 1, num_tasks < 1, task_index is outside
    [0, num_tasks), or the task gets no shard (num_shards <= task_index).
    """
    if num_shards < 1:
        raise UserError(f"--num_shards={num_shards}: expected >= 1")
    if num_tasks < 1:
        raise UserError(f"--num_tasks={num_tasks}: expected >= 1")
    if not 0 <= task_index < num_tasks:
        raise UserError(f"--task_index={task_index}: expected 0-{num_tasks - 1} "
                        f"(--num_tasks={num_tasks})")
    if task_index >= num_shards:
        raise UserError(f"--task_index={task_index}: this task gets no shard of "
                        f"--num_shards={num_shards}; use --num_shards >= --num_tasks "
                        f"({num_tasks})")
    return list(range(task_index, num_shards, num_tasks))


def _failure(entry: VideoEntry, reason: str, detail: str) -> dict[str, str]:
    return {"path": entry.path, "media_id": entry.media_id, "reason": reason, "detail": detail}


def build_shard(entries: Sequence[VideoEntry], path: str, options: IngestOptions,
                on_video: Callable[[int, bool], None] | None = None) -> dict[str, Any]:
    """Write one shard: temporary file, then meta file, then rename. Returns the meta dict.

    `on_video(num_frames, ok)` is called after each video (for progress).
    """
    import tensorflow as tf  # noqa: PLC0415  (imported here so spawned workers pay once)

    tmp = path + ".incomplete"
    videos, failures = [], []
    with tf.io.TFRecordWriter(tmp) as writer:
        for entry in entries:
            try:
                payload, frames = process_video(entry, options)
            except Exception as err:  # noqa: BLE001  one bad video must not stop the build
                if isinstance(err, video_lib.VideoDecodeError):
                    reason, detail = err.reason, err.detail
                else:
                    reason, detail = "error", f"{type(err).__name__}: {err}"
                failures.append(_failure(entry, reason, detail))
                logging.warning("skipping %s: %s: %s", entry.path, reason, detail)
                ok, frames = False, 0
            else:
                writer.write(payload)
                videos.append({"path": entry.path, "media_id": entry.media_id, "frames": frames})
                ok = True
            if on_video:
                on_video(frames, ok)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    meta = {"options": options.storage_dict(), "videos": videos, "failures": failures}
    with open(meta_path(path) + ".incomplete", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path(path) + ".incomplete", meta_path(path))
    os.replace(tmp, path)
    return meta


# ---- worker processes -------------------------------------------------------------------------

_PROGRESS_QUEUE = None


def _init_worker(progress_queue, cv2_threads: int) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = progress_queue
    import cv2  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    # N workers on C cores: give each C/N OpenCV threads (TV-L1 uses parallel_for_), and keep
    # TensorFlow (only used for TFRecord writing, or the "tf" flow backend) from oversubscribing.
    cv2.setNumThreads(cv2_threads)
    tf.config.threading.set_intra_op_parallelism_threads(cv2_threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)


def _worker_build_shard(entries, path, options) -> dict[str, Any]:
    def report(frames: int, ok: bool) -> None:
        _PROGRESS_QUEUE.put((frames, ok))

    return build_shard(entries, path, options, report)


class _Progress:
    """Ingest progress (`kinetics_i3d.progress.Progress`): videos with failures, shards and
    frames/s; a line every `interval` seconds when not on a terminal."""

    def __init__(self, total_videos: int, total_shards: int, interval: float = 5.0):
        self.total_shards = total_shards
        self.videos = self.failed = self.frames = self.shards = 0
        self.bar = Progress("ingest", total_videos, interval=interval)

    def video(self, frames: int, ok: bool) -> None:
        self.videos += 1
        self.frames += frames
        self.failed += 0 if ok else 1
        self.maybe_log()

    def maybe_log(self, force: bool = False) -> None:
        elapsed = max(time.monotonic() - self.bar.start, 1e-9)
        self.bar.update(self.videos, force=force, failed=self.failed,
                        shards=f"{self.shards}/{self.total_shards}",
                        **{"frames/s": f"{self.frames / elapsed:.1f}"})

    def close(self) -> None:
        self.maybe_log()
        self.bar.close()


def _holds_assigned(meta: dict[str, Any], assigned: Sequence[VideoEntry]) -> bool:
    """Whether a finished shard's meta lists (written or failed) exactly the `assigned` videos."""
    listed = sorted(v["media_id"] for v in meta["videos"] + meta["failures"])
    return listed == sorted(e.media_id for e in assigned)


def _suffix(task_index: int, num_tasks: int) -> str:
    return "" if num_tasks == 1 else f"-task-{task_index:05d}-of-{num_tasks:05d}"


_SHARD_FILE_SUFFIXES = (".tfrecord", ".tfrecord.incomplete", ".meta.json",
                        ".meta.json.incomplete")


def _other_count_files(output_dir: str, name: str, num_shards: int) -> dict[int, list[str]]:
    """{shard count: [file names]} of `<name>-NNNNN-of-MMMMM` shard and meta files (finished or
    not) in `output_dir` whose count MMMMM is not `num_shards`."""
    if not os.path.isdir(output_dir):
        return {}
    pattern = re.compile(re.escape(name) + r"-\d{5,}-of-(\d{5,})(" +
                         "|".join(map(re.escape, _SHARD_FILE_SUFFIXES)) + ")$")
    found: dict[int, list[str]] = collections.defaultdict(list)
    for file_name in sorted(os.listdir(output_dir)):
        match = pattern.fullmatch(file_name)
        if match and int(match.group(1)) != num_shards:
            found[int(match.group(1))].append(file_name)
    return dict(found)


def _check_other_shard_counts(output_dir: str, name: str, num_shards: int,
                              overwrite: bool) -> None:
    """A folder must never hold two shard sets of `name` (a `<name>-*.tfrecord` glob would read
    every video twice): shards of another `num_shards` stop the run with the difference listed
    (`provenance.check_settings`), or with `overwrite` are removed (shards and meta files)."""
    others = _other_count_files(output_dir, name, num_shards)
    if not others:
        return
    if not overwrite:
        old = sorted(others)
        where = ", ".join(os.path.join(output_dir, f"{name}-*-of-{count:05d}.tfrecord")
                          for count in old)
        provenance.check_settings(
            {"num_shards": old[0] if len(old) == 1 else old}, {"num_shards": num_shards}, where,
            "rerun with --overwrite to delete those shards and build the new set, or use "
            "another --output_dir")
    for count, file_names in sorted(others.items()):
        logging.warning("--overwrite: deleting %d files of the old %s-*-of-%05d shard set in %s",
                        len(file_names), name, count, output_dir)
        for file_name in file_names:
            os.remove(os.path.join(output_dir, file_name))


def build_dataset(
    entries: Sequence[VideoEntry],
    output_dir: str,
    *,
    name: str,
    num_shards: int,
    options: IngestOptions = IngestOptions(),
    num_workers: int = 1,
    task_index: int = 0,
    num_tasks: int = 1,
    shuffle_seed: int | None = 0,
    progress_interval: float = 5.0,
    class_names: Sequence[str] | None = None,
    label_map_source: str = "",
    overwrite: bool = False,
) -> BuildSummary:
    """Build (or resume) this task's shards of `entries` in `output_dir`.

    Args:
      entries: the whole manifest (every task passes the same one).
      output_dir: created if missing.
      name: shard name prefix, e.g. "train".
      num_shards: total shards over all tasks.
      options: what to store.
      num_workers: processes; 1 runs in this process.
      task_index, num_tasks: this process's share (see `task_shards`).
      shuffle_seed: see `assign_shards`; must be the same for every task.
      progress_interval: seconds between progress lines.
      class_names: the label map the entries' `label_index` indexes (`manifests.Manifest`);
        written to `<name>-label_map.txt` and `<name>-dataset[...].json`, its hash into every
        example (`options.label_map_sha256` is set from it). None: unlabelled data.
      label_map_source: where `class_names` came from (recorded).
      overwrite: rebuild finished shards made with other options instead of stopping, and
        delete the shards (and meta files) of `name` with another shard count in `output_dir`.

    Returns:
      A `BuildSummary`; also written with the provenance to `<name>-dataset[...].json`, and the
      failure list to `<name>-failures[...].tsv`.

    Raises:
      provenance.SettingsMismatchError: a finished shard was made with other options (or label
        map), or `output_dir` holds `name` shards of another `num_shards`, and `overwrite` is
        False.
      UserError: a bad value (num_shards, num_workers, task_index, num_tasks); raised before
        anything is written.
    """
    # Every bad value is refused before anything is written (no empty output folder left).
    if num_workers < 1:
        raise UserError(f"--num_workers={num_workers}: expected >= 1")
    mine = task_shards(num_shards, task_index, num_tasks)
    if options.flow:
        flow_lib.check_backend(options.flow_backend)
    if class_names is not None:
        options = dataclasses.replace(options,
                                      label_map_sha256=labels_lib.label_map_hash(class_names))
    _check_other_shard_counts(output_dir, name, num_shards, overwrite)
    os.makedirs(output_dir, exist_ok=True)
    per_shard = assign_shards(entries, num_shards, shuffle_seed)
    summary = BuildSummary(shards_total=len(mine))
    todo: list[int] = []
    metas: dict[int, dict[str, Any]] = {}
    for s in mine:
        path = shard_path(output_dir, name, s, num_shards)
        summary.num_videos += len(per_shard[s])
        if os.path.exists(path) and os.path.exists(meta_path(path)):
            with open(meta_path(path), encoding="utf-8") as f:
                meta = json.load(f)
            if overwrite and meta["options"] != options.storage_dict():
                meta = None
            else:
                provenance.check_settings(
                    meta["options"], options.storage_dict(), path,
                    "rerun with --overwrite to rebuild such shards, or use another --output_dir")
            if meta is not None and not _holds_assigned(meta, per_shard[s]):
                # Finished means: it holds (or lists as failed) exactly the videos the manifest
                # assigns it now. A changed manifest (videos added to a folder) rebuilds it.
                logging.info("%s holds other videos than the manifest now assigns it: rebuilding",
                             path)
                meta = None
        else:
            meta = None
        if meta is not None:
            metas[s] = meta
            summary.shards_skipped += 1
        else:
            for stale in (path, path + ".incomplete", meta_path(path) + ".incomplete"):
                if os.path.exists(stale):
                    os.remove(stale)
            todo.append(s)
    if class_names is not None:  # after the checks: a refused run leaves the old map in place
        labels_lib.write_label_map(os.path.join(output_dir, f"{name}-label_map.txt"), class_names)
    todo_videos = sum(len(per_shard[s]) for s in todo)
    logging.info("ingest task %d/%d: %d shards (%d already finished), %d videos to process, "
                 "%d workers", task_index, num_tasks, len(mine), summary.shards_skipped,
                 todo_videos, num_workers)
    progress = _Progress(todo_videos, len(todo), progress_interval)
    start = time.monotonic()
    if num_workers == 1 or len(todo) <= 1:
        for s in todo:
            metas[s] = build_shard(per_shard[s], shard_path(output_dir, name, s, num_shards),
                                   options, progress.video)
            progress.shards += 1
    else:
        if len(todo) < num_workers:
            logging.warning("only %d shards to build for %d workers; use num_shards >= "
                            "num_workers * num_tasks", len(todo), num_workers)
        ctx = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
        progress_queue = ctx.Queue()
        threads = max(1, (os.cpu_count() or 1) // num_workers)
        with futures.ProcessPoolExecutor(min(num_workers, len(todo)), mp_context=ctx,
                                         initializer=_init_worker,
                                         initargs=(progress_queue, threads)) as pool:
            pending = {pool.submit(_worker_build_shard, per_shard[s],
                                   shard_path(output_dir, name, s, num_shards), options): s
                       for s in todo}
            while pending:
                done, _ = futures.wait(pending, timeout=0.5, return_when=futures.FIRST_COMPLETED)
                _drain(progress_queue, progress)
                for fut in done:
                    s = pending.pop(fut)
                    metas[s] = fut.result()
                    progress.shards += 1
            _drain(progress_queue, progress)
    if todo:
        progress.close()
    else:
        logging.info("ingest: all %d shards of this task are already finished; nothing to do",
                     len(mine))
    summary.seconds = time.monotonic() - start
    summary.shards_written = len(todo)
    for s in mine:
        meta = metas[s]
        summary.num_written += len(meta["videos"])
        summary.num_frames += sum(v["frames"] for v in meta["videos"])
        summary.failures.extend(meta["failures"])
    summary.num_failed = len(summary.failures)
    _write_reports(summary, output_dir, name, task_index, num_tasks, num_shards, options,
                   class_names, label_map_source)
    return summary


def _drain(progress_queue, progress: _Progress) -> None:
    while True:
        try:
            frames, ok = progress_queue.get_nowait()
        except queue_lib.Empty:
            return
        progress.video(frames, ok)


def _write_reports(summary: BuildSummary, output_dir: str, name: str, task_index: int,
                   num_tasks: int, num_shards: int, options: IngestOptions,
                   class_names: Sequence[str] | None, label_map_source: str) -> None:
    suffix = _suffix(task_index, num_tasks)
    summary.failures_path = os.path.join(output_dir, f"{name}-failures{suffix}.tsv")
    summary.dataset_path = os.path.join(output_dir, f"{name}-dataset{suffix}.json")
    if class_names is not None:
        summary.label_map_path = os.path.join(output_dir, f"{name}-label_map.txt")
    with open(summary.failures_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "media_id", "reason", "detail"],
                                delimiter="\t")
        writer.writeheader()
        writer.writerows(summary.failures)
    data: dict[str, Any] = {
        "name": name,
        "package_version": provenance.package_version(),
        "label_map": None if class_names is None else {
            "names": list(class_names), "num_classes": len(class_names),
            "sha256": options.label_map_sha256, "source": label_map_source,
            "file": os.path.basename(summary.label_map_path)},
        "options": options.storage_dict(),
    }
    data.update({k: v for k, v in dataclasses.asdict(summary).items() if k != "failures"})
    data.update(task_index=task_index, num_tasks=num_tasks, num_shards=num_shards,
                failure_reasons=dict(collections.Counter(f["reason"] for f in summary.failures)))
    provenance.write_json(summary.dataset_path, data)
    logging.info("ingest summary: %d videos, %d written, %d failed (%s), %d frames, shards "
                 "%d written + %d already finished, %.1f s; failures in %s",
                 summary.num_videos, summary.num_written, summary.num_failed,
                 data["failure_reasons"], summary.num_frames, summary.shards_written,
                 summary.shards_skipped, summary.seconds, summary.failures_path)
