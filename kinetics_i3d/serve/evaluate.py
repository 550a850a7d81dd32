"""Whole-video evaluation of I3D (one stream or two) on test shards (paper sec. 2.5, 3, 4).

The test interface of I3D: every frame of the video, 224x224 centre crop, one convolutional pass
in time, logits averaged over time (`kinetics_i3d.serve.chunked`, equal to one pass and bounded
in memory). Two-stream: the streams' logits are added (DeepMind's evaluate_sample.py). Videos
shorter than the 9 frames one prediction needs are looped to 9 frames, as the paper does for
short videos ("we looped the video as many times as necessary to satisfy each model's input
interface", sec. 3); their records say `"looped": true`.

`evaluate_videos` works on any iterable of `TestVideo`; `shard_videos` makes one from
MediaSequence shards with `kinetics_i3d.data.make_dataset(..., "i3d", split="test")`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d.models.i3d import MIN_FRAMES
from kinetics_i3d.serve import metrics, streams
from kinetics_i3d.serve.chunked import DEFAULT_CHUNK_STEPS, ChunkedI3D

PREDICTIONS_JSONL = "predictions.jsonl"


@dataclasses.dataclass
class TestVideo:
    """One test video: `frames[modality]` float32 `[T, 224, 224, C]` in [-1, 1] (no padding)."""

    media_id: str
    label: int
    frames: dict[str, np.ndarray]


def shard_videos(patterns: str | Sequence[str], modalities: Sequence[str], num_classes: int,
                 max_frames: int | None = None) -> Iterator[TestVideo]:
    """Test videos of MediaSequence shards, in file order, padding removed."""
    from kinetics_i3d.data import make_dataset

    ds = make_dataset(patterns, "i3d", split="test", batch_size=1, modalities=tuple(modalities),
                      num_classes=num_classes, max_test_frames=max_frames)
    for batch in ds.as_numpy_iterator():
        frames = {m: batch[m][0, :int(batch[f"{m}_num_frames"][0])] for m in modalities}
        yield TestVideo(batch["media_id"][0].decode(), int(batch["label"][0]), frames)


def loop_to(frames: np.ndarray, min_frames: int) -> np.ndarray:
    """Repeats `[T, ...]` frames in time until there are at least `min_frames` (T >= 1)."""
    if len(frames) == 0:
        raise ValueError("a video with no frames cannot be evaluated")
    if len(frames) >= min_frames:
        return frames
    reps = -(-min_frames // len(frames))
    return np.concatenate([frames] * reps, axis=0)[:min_frames]


@dataclasses.dataclass
class EvaluationResult:
    media_ids: list[str]
    labels: np.ndarray  # [N] int
    logits: np.ndarray  # [N, K] fused logits
    stream_logits: dict[str, np.ndarray]  # modality -> [N, K]
    metrics: metrics.Metrics
    stream_metrics: dict[str, metrics.Metrics]


def evaluate_videos(videos: Iterable[TestVideo], runners: dict[str, ChunkedI3D],
                    class_names: Sequence[str], predictions_path: str | None = None,
                    total: int | None = None, top_k: int = 5) -> EvaluationResult:
    """Runs every stream over every whole video, sums the streams' logits, computes metrics.

    Args:
      videos: test videos carrying a frame array for each modality in `runners`.
      runners: {modality: ChunkedI3D} (models with the Logits head, restored).
      class_names: K names.
      predictions_path: if given, one JSON line per video (`metrics.prediction_record`, plus
        per-stream top-1 and the frame counts).
      total: number of videos, for the progress bar.
    """
    num_classes = len(class_names)
    media_ids, labels, fused, per_stream = [], [], [], {m: [] for m in runners}
    progbar = tf.keras.utils.Progbar(total, unit_name="video", stateful_metrics=["videos/s"])
    start = time.perf_counter()
    out = open(predictions_path, "w", encoding="utf-8") if predictions_path else None
    try:
        for i, video in enumerate(videos):
            logits = {}
            looped = False
            for m, runner in runners.items():
                if m not in video.frames:
                    raise ValueError(f"video {video.media_id!r} has no {m} frames")
                frames = video.frames[m]
                looped |= len(frames) < MIN_FRAMES
                frames = loop_to(frames, MIN_FRAMES)
                logits[m] = runner.logits(frames, len(frames))
                if logits[m].shape != (num_classes,):
                    raise ValueError(f"{m} model gives {logits[m].shape[0]} logits; the label map "
                                     f"has {num_classes} classes")
                per_stream[m].append(logits[m])
            total_logits = metrics.fuse_logits(*logits.values())
            fused.append(total_logits)
            media_ids.append(video.media_id)
            labels.append(video.label)
            if out:
                rec = metrics.prediction_record(video.media_id, video.label, total_logits,
                                                class_names, k=top_k)
                rec["num_frames"] = {m: int(len(video.frames[m])) for m in runners}
                rec["looped"] = looped
                if len(runners) > 1:
                    rec["stream_top1"] = {m: class_names[int(np.argmax(v))]
                                          for m, v in logits.items()}
                out.write(json.dumps(rec) + "\n")
            rate = (i + 1) / max(time.perf_counter() - start, 1e-9)
            progbar.update(i + 1, [("videos/s", rate)])
    finally:
        if out:
            out.close()
    if not labels:
        raise ValueError("no test videos were read")
    labels_arr = np.asarray(labels, np.int64)
    fused_arr = np.stack(fused)
    streams = {m: np.stack(v) for m, v in per_stream.items()}
    return EvaluationResult(
        media_ids=media_ids,
        labels=labels_arr,
        logits=fused_arr,
        stream_logits=streams,
        metrics=metrics.compute_metrics(fused_arr, labels_arr, num_classes, top_k),
        stream_metrics={m: metrics.compute_metrics(v, labels_arr, num_classes, top_k)
                        for m, v in streams.items()},
    )


def write_evaluation(result: EvaluationResult, class_names: Sequence[str], output_dir: str,
                     extra: dict | None = None) -> dict[str, str]:
    """metrics.json (fused and per stream), per-class CSV, confusion CSV/PNG, logits .npz."""
    summary = dict(extra or {})
    summary["streams"] = {m: r.summary() for m, r in result.stream_metrics.items()}
    paths = metrics.write_report(result.metrics, class_names, output_dir, extra=summary)
    paths["logits"] = os.path.join(output_dir, "logits.npz")
    np.savez(paths["logits"], media_ids=np.array(result.media_ids), labels=result.labels,
             logits=result.logits, **{f"{m}_logits": v for m, v in result.stream_logits.items()})
    return paths


def expand_split(template: str | None, split: str) -> str | None:
    """`template` with `{split}` replaced (e.g. 'ucf101/test_split{split}-*.tfrecord')."""
    if template is None:
        return None
    if "{split}" not in template:
        raise ValueError(f"with --splits, {template!r} must contain '{{split}}'")
    return template.replace("{split}", split)


def log_summary(name: str, result: EvaluationResult) -> None:
    for m, r in result.stream_metrics.items():
        logging.info("%s %s: top-1 %.4f top-5 %.4f mean class %.4f (%d videos)", name, m, r.top1,
                     r.top5, r.mean_class_accuracy, r.num_videos)
    r = result.metrics
    logging.info("%s fused: top-1 %.4f top-5 %.4f mean class %.4f (%d videos)", name, r.top1,
                 r.top5, r.mean_class_accuracy, r.num_videos)


def run_evaluation(shards: str, checkpoints: dict[str, str | None], output_dir: str,
                   label_map: str | None = None, max_frames: int | None = None,
                   chunk_steps: int = DEFAULT_CHUNK_STEPS, top_k: int = 5,
                   extra: dict | None = None, num_classes: int | None = None) -> EvaluationResult:
    """Restores the streams, evaluates every video of `shards`, writes the reports.

    `checkpoints`: {modality: release-layout checkpoint prefix} (None: random weights, then
    `num_classes` is required; for tests). Raises `streams.ClassCountError` when the streams or
    the label map disagree on the class count.
    """
    runners = {}
    for m, ckpt in checkpoints.items():
        model = streams.load_stream(m, ckpt, num_classes)
        num_classes = model.num_classes
        runners[m] = ChunkedI3D(model, chunk_steps=chunk_steps)
    names = streams.class_names(num_classes, label_map)
    os.makedirs(output_dir, exist_ok=True)
    videos = shard_videos(shards, list(runners), num_classes, max_frames)
    result = evaluate_videos(videos, runners, names,
                             os.path.join(output_dir, PREDICTIONS_JSONL), top_k=top_k)
    write_evaluation(result, names, output_dir,
                     extra={**(extra or {}), "shards": shards, "checkpoints": checkpoints})
    log_summary(output_dir, result)
    return result


def run_splits(splits: Sequence[str], shards: str, checkpoints: dict[str, str | None],
               output_dir: str, **kwargs) -> dict:
    """`run_evaluation` per split (`{split}` substituted, results in `split_<s>/`), then the
    mean over splits written to `splits.json` and returned (`metrics.average_splits`)."""
    results = []
    for split in splits:
        ckpts = {m: expand_split(c, split) if c else None for m, c in checkpoints.items()}
        out = os.path.join(output_dir, f"split_{split}")
        results.append(run_evaluation(expand_split(shards, split), ckpts, out,
                                      extra={"split": split}, **kwargs).metrics)
    average = metrics.average_splits(results)
    average["splits"] = list(splits)
    with open(os.path.join(output_dir, "splits.json"), "w", encoding="utf-8") as f:
        json.dump(average, f, indent=2)
    return average
