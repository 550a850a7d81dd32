"""Whole-video evaluation of I3D (one stream or two) on test shards (paper sec. 2.5, 3, 4).

The test interface of I3D: every frame of the video, 224x224 centre crop, one convolutional pass
in time, logits averaged over time (`kinetics_i3d.serve.chunked`, equal to one pass and bounded
in memory). Two-stream: the streams' logits are added (DeepMind's evaluate_sample.py). Videos
shorter than the 9 frames one prediction needs are looped to 9 frames, as the paper does for
short videos ("we looped the video as many times as necessary to satisfy each model's input
interface", sec. 3); their records say `"looped": true`.

`evaluate_videos` works on any iterable of `TestVideo`; `shard_videos` makes one from
MediaSequence shards with `kinetics_i3d.data.make_dataset(..., "i3d", split="test")`.

The paper's baselines (`BASELINES`: ConvNet+LSTM, C3D, Two-Stream, 3D-Fused Two-Stream) are
evaluated in their own test interfaces (Table 1, `kinetics_i3d.specs`):
`run_model_evaluation` restores a registry model from a trainer `--model_dir`
(`load_trained_model`), reads test batches with `make_dataset(pattern, <model name>, "test")`
and scores them with `evaluate_model`; the results go through the same `EvaluationResult`,
`write_evaluation` and prediction records as I3D's.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import batch as keys
from kinetics_i3d import models
from kinetics_i3d.errors import UserError
from kinetics_i3d.specs import get_interface
from kinetics_i3d.checkpoints.run import CHECKPOINT_CHOICES, find_trainer_checkpoint  # noqa: F401
from kinetics_i3d.models.i3d import MIN_FRAMES
from kinetics_i3d.progress import Progress
from kinetics_i3d.serve import metrics, streams
from kinetics_i3d.serve.chunked import DEFAULT_CHUNK_STEPS, ChunkedI3D

PREDICTIONS_JSONL = "predictions.jsonl"
SETTINGS_JSON = "settings.json"


def claim_output(output_dir: str, settings: dict, overwrite: bool = False) -> None:
    """Records `settings` (what shapes the results: shards, checkpoints, label map, sizes) in
    `output_dir/settings.json`, after checking that results already there were made with the same
    ones (`provenance.check_settings`); `overwrite` replaces results made with other settings.

    Raises `provenance.SettingsMismatchError` listing the differences.
    """
    from kinetics_i3d import provenance

    path = os.path.join(output_dir, SETTINGS_JSON)
    stored = provenance.read_json(path)
    if stored is not None and not overwrite:
        provenance.check_settings(stored["settings"], settings, f"the evaluation in {output_dir}",
                                  "rerun with --overwrite to replace them, or use another "
                                  "--output_dir")
    os.makedirs(output_dir, exist_ok=True)
    provenance.write_json(path, {"settings": settings,
                                 "package_version": provenance.package_version()})


@dataclasses.dataclass
class TestVideo:
    """One test video: `frames[modality]` float32 `[T, 224, 224, C]` in [-1, 1] (no padding)."""

    media_id: str
    label: int
    frames: dict[str, np.ndarray]


def shard_videos(patterns: str | Sequence[str], modalities: Sequence[str],
                 max_frames: int | None = None, **dataset_kwargs) -> Iterator[TestVideo]:
    """Test videos of MediaSequence shards, in file order, padding removed.

    Read one at a time with `make_dataset(patterns, "i3d", split="test")` (centre crop of the
    stored frames, 224 unless `crop_size` is given; [-1, 1]); `dataset_kwargs` go to it
    (`num_classes`, `require_labels`, `crop_size`, `short_side`, `class_names`: the label map
    every record's label string is checked against). A label mismatch raises `UserError`.
    """
    from kinetics_i3d.data import make_dataset
    from kinetics_i3d.data.reader import label_errors_as_user_errors

    ds = make_dataset(patterns, "i3d", split="test", batch_size=1, modalities=tuple(modalities),
                      max_test_frames=max_frames, **dataset_kwargs)
    with label_errors_as_user_errors():
        for batch in ds.as_numpy_iterator():
            frames = {m: batch[keys.frames_key(m)][0, :int(batch[keys.num_frames_key(m)][0])]
                      for m in modalities}
            yield TestVideo(batch[keys.MEDIA_ID][0].decode(), int(batch[keys.LABEL][0]), frames)


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
                    total: int | None = None, top_k: int | None = None) -> EvaluationResult:
    """Runs every stream over every whole video, sums the streams' logits, computes metrics.

    Args:
      videos: test videos carrying a frame array for each modality in `runners`.
      runners: {modality: ChunkedI3D} (models with the Logits head, restored).
      class_names: K names.
      predictions_path: if given, one JSON line per video (`metrics.prediction_record`, plus
        per-stream top-1 and the frame counts).
      total: number of videos, for the progress bar.
      top_k: k of top-k accuracy and of the predictions' top list (`metrics.resolve_top_k`:
        None is 5, or the class count if fewer; a UserError outside [1, class count]).
    """
    num_classes = len(class_names)
    top_k = metrics.resolve_top_k(top_k, num_classes)
    media_ids, labels, fused, per_stream = [], [], [], {m: [] for m in runners}
    progbar = Progress("evaluate", total)
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
            progbar.update(i + 1)
    finally:
        progbar.close()
        if out:
            out.close()
    return _make_result(media_ids, labels, fused, per_stream, num_classes, top_k)


def _make_result(media_ids: list[str], labels: list[int], logits: list[np.ndarray],
                 per_stream: dict[str, list[np.ndarray]], num_classes: int,
                 top_k: int) -> EvaluationResult:
    """Stacks per-video logits `[K]` into an `EvaluationResult` with its metrics."""
    if not labels:
        raise UserError("no test videos were read (--shards matched no examples?)")
    labels_arr = np.asarray(labels, np.int64)
    fused_arr = np.stack(logits)
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
        raise UserError(f"with --splits, {template!r} must contain '{{split}}'")
    return template.replace("{split}", split)


def log_summary(name: str, result: EvaluationResult) -> None:
    """One log line per stream and fused: the numbers of `Metrics.summary` (top-k only where it
    means something for the class count)."""
    for m, r in [*result.stream_metrics.items(), ("fused", result.metrics)]:
        numbers = " ".join(f"{key} {value:.4f}" for key, value in r.summary().items()
                           if key != "num_videos")
        logging.info("%s %s: %s (%d videos)", name, m, numbers, r.num_videos)


def run_evaluation(shards: str, checkpoints: dict[str, str | None], output_dir: str,
                   label_map: str | None = None, max_frames: int | None = None,
                   chunk_steps: int = DEFAULT_CHUNK_STEPS, top_k: int | None = None,
                   extra: dict | None = None, num_classes: int | None = None,
                   overwrite: bool = False) -> EvaluationResult:
    """Restores the streams, evaluates every video of `shards`, writes the reports.

    `checkpoints`: {modality: release-layout checkpoint prefix} (None: random weights, then
    `num_classes` is required; for tests). Raises `streams.ClassCountError` when the streams or
    the label map disagree on the class count, `provenance.SettingsMismatchError` when
    `output_dir` holds results made with other settings (unless `overwrite`).
    """
    from kinetics_i3d.checkpoints import checkpoint_identity
    from kinetics_i3d.labels import label_map_beside, label_map_hash

    models = streams.load_streams(checkpoints, num_classes)
    runners = {m: ChunkedI3D(model, chunk_steps=chunk_steps) for m, model in models.items()}
    num_classes = next(iter(models.values())).num_classes
    first = next((c for c in checkpoints.values() if c), None)
    label_map = label_map or (label_map_beside(first) if first else None)  # a trainer run's
    names = streams.class_names(num_classes, label_map)
    top_k = metrics.resolve_top_k(top_k, num_classes)
    claim_output(output_dir, {
        "model": "i3d", "shards": shards, "max_frames": max_frames, "top_k": top_k,
        "checkpoints": {m: checkpoint_identity(c, f"{m}_checkpoint") if c else None
                        for m, c in checkpoints.items()},
        "label_map_sha256": label_map_hash(names)}, overwrite)
    videos = shard_videos(shards, list(runners), max_frames, num_classes=num_classes,
                          class_names=names, label_map_source=_names_source(label_map,
                                                                            num_classes))
    result = evaluate_videos(videos, runners, names,
                             os.path.join(output_dir, PREDICTIONS_JSONL), top_k=top_k)
    write_evaluation(result, names, output_dir,
                     extra={**(extra or {}), "shards": shards, "checkpoints": checkpoints})
    log_summary(output_dir, result)
    return result


def _names_source(label_map: str | None, num_classes: int) -> str:
    """How the label map in use is named in a label-mismatch error."""
    return f"--label_map={label_map}" if label_map else f"the shipped {num_classes}-class map"


def run_splits(splits: Sequence[str], shards: str, checkpoints: dict[str, str | None] | None,
               output_dir: str, model: str = "i3d", model_dir: str | None = None,
               **kwargs) -> dict:
    """`run_evaluation` per split (`{split}` substituted, results in `split_<s>/`), then the
    mean over splits written to `splits.json` and returned (`metrics.average_splits`).

    `model` other than "i3d" (one of `BASELINES`): `run_model_evaluation` per split with
    `{split}` substituted in `model_dir` too (`checkpoints` unused).
    """
    results = []
    for split in splits:
        out = os.path.join(output_dir, f"split_{split}")
        if model == "i3d":
            ckpts = {m: expand_split(c, split) if c else None for m, c in checkpoints.items()}
            result = run_evaluation(expand_split(shards, split), ckpts, out,
                                    extra={"split": split}, **kwargs)
        else:
            result = run_model_evaluation(model, expand_split(shards, split),
                                          expand_split(model_dir, split), out,
                                          extra={"split": split}, **kwargs)
        results.append(result.metrics)
    average = metrics.average_splits(results)
    average["splits"] = list(splits)
    with open(os.path.join(output_dir, "splits.json"), "w", encoding="utf-8") as f:
        json.dump(average, f, indent=2)
    return average


# ------------------------------------------------------------------ the baselines (Table 1)
BASELINES = ("convnet_lstm", "c3d", "two_stream", "fused_two_stream")


def load_trained_model(model_name: str, model_dir: str, which: str = "auto",
                       num_classes: int | None = None, model_kwargs: dict | None = None
                       ) -> tuple[keras.Model, str]:
    """A registry model (`kinetics_i3d.models.build`) with the weights of a trainer run.

    Only the model's weights are read: the trainer saves them under "model" keyed by Keras path
    (`kinetics_i3d.checkpoints.run.model_weights`); its optimizer, step and schedule are ignored.
    Every weight of the model must be in the checkpoint with the same shape. Returns (model,
    checkpoint prefix).

    Args:
      model_name: one of `BASELINES`.
      model_dir: the trainer's `--model_dir`.
      which: see `find_trainer_checkpoint`.
      num_classes: expected class count (None: the checkpoint's classifier's).
      model_kwargs: extra builder arguments the run used (e.g. `lstm_units`; the trainer's own
        runs use the defaults).
    Raises:
      FileNotFoundError: no checkpoint in `model_dir`.
      streams.ClassCountError: the checkpoint has another class count than `num_classes`.
      ValueError: the checkpoint is not one of `model_name` (missing or mis-shaped weights).
    """
    from kinetics_i3d.checkpoints.run import (MODEL_KEY, checkpoint_key, classifier_layers,
                                              model_weights)

    if model_name not in BASELINES:
        raise UserError(f"--model={model_name!r}: expected one of {BASELINES} (or i3d)")
    path = find_trainer_checkpoint(model_dir, which)
    shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    where = f"checkpoint {path!r} (--model_dir={model_dir!r})"

    def build(count: int) -> keras.Model:
        return models.build(model_name, count, **{"dropout_rate": 0.0, **(model_kwargs or {})})

    model = build(num_classes or 1)
    bias_key = checkpoint_key(classifier_layers(model)[0].bias.path)
    if bias_key not in shapes or len(shapes[bias_key]) != 1:
        raise UserError(f"{where} has no classifier weight {bias_key!r}: not a trainer "
                         f"checkpoint of --model={model_name}")
    have = int(shapes[bias_key][0])
    if num_classes is not None and have != num_classes:
        raise streams.ClassCountError(f"{where} has {have} classes, expected {num_classes} "
                                      f"(--num_classes / label map)")
    if have != model.num_classes:
        model = build(have)
    weights = model_weights(model)
    for weight_path, weight in weights.items():
        saved = shapes.get(checkpoint_key(weight_path))
        if saved != list(weight.shape):
            raise UserError(
                f"{where} does not match --model={model_name} with {have} classes: weight "
                f"{weight_path!r} is {list(weight.shape)} in the model, "
                f"{'missing' if saved is None else saved} in the checkpoint")
    status = tf.train.Checkpoint(**{MODEL_KEY: weights}).restore(path)
    status.expect_partial().assert_existing_objects_matched()
    logging.info("restored %s (%d classes, %d weights) from %s", model_name, have, len(weights),
                 path)
    return model, path


def _required_frames(sampling) -> int:
    """Frames a test sampling spans before it loops (`processors.snapshot_starts`)."""
    if sampling.snapshot_stride is None:
        return sampling.footprint
    return (sampling.num_snapshots - 1) * sampling.snapshot_stride + sampling.footprint


def model_inputs(batch: dict[str, np.ndarray], model_name: str) -> np.ndarray | dict:
    """A test batch of `make_dataset(..., model_name, "test")` -> what the model takes.

    Single-stream models (ConvNet+LSTM, C3D) take `batch["rgb"]`; two-stream models a dict of
    "rgb" and "flow". These interfaces sample a fixed number of snapshots (short videos are
    looped, not padded), so every `{m}_mask` is all true; one that is not raises, so a padded
    frame can never enter a prediction.
    """
    interface = get_interface(model_name)
    for m in interface.modalities:
        mask = batch.get(keys.mask_key(m))
        if mask is not None and not np.all(mask):
            raise ValueError(f"{model_name} test batch has padded {m} entries (mask false); "
                             f"its interface has a fixed layout, padding is not expected")
    if interface.modalities == ("rgb",):
        return batch[keys.frames_key("rgb")]
    return {m: batch[keys.frames_key(m)] for m in interface.modalities}


def evaluate_model(batches: Iterable[dict[str, np.ndarray]], model: keras.Model,
                   model_name: str, class_names: Sequence[str],
                   predictions_path: str | None = None, total: int | None = None,
                   top_k: int | None = None) -> EvaluationResult:
    """Scores every test batch with `model(inputs, training=False)` in its test interface.

    Args:
      batches: numpy test batches of `make_dataset(..., model_name, split="test")` (e.g.
        ConvNet+LSTM rgb `[B, 50, 224, 224, 3]`; Two-Stream rgb `[B, 25, 224, 224, 3]` and flow
        `[B, 25, 10, 224, 224, 2]`), float32 in [-1, 1], with `label`, `media_id`, `num_frames`.
      model: a `BASELINES` model giving logits `[B, K]` (ConvNet+LSTM: the last step;
        Two-Stream, C3D: the averaged prediction's logits).
      predictions_path: if given, one JSON line per video (`metrics.prediction_record`, plus
        `num_frames` (stored RGB frames) and `looped` (shorter than the interface's span);
        Two-Stream also `stream_top1`).
    Returns an `EvaluationResult`; Two-Stream's `stream_logits` holds its rgb and flow streams
    (each averaged over its 25 snapshots), the others' is empty.
    """
    num_classes = len(class_names)
    top_k = metrics.resolve_top_k(top_k, num_classes)
    sampling = get_interface(model_name).test
    two_stream = hasattr(model, "stream_logits")
    # Flow frame t spans RGB frames t..t+1, so a two-stream video loops with the flow's period.
    uses_flow = bool(sampling.flow_offsets)
    required = _required_frames(sampling)

    @tf.function(reduce_retracing=True)
    def predict(inputs):
        if two_stream:
            return model.stream_logits(inputs, training=False)
        return {"joint": model(inputs, training=False)}

    media_ids, labels, fused = [], [], []
    per_stream = {m: [] for m in ("rgb", "flow")} if two_stream else {}
    progbar = Progress(f"evaluate {model_name}", total)
    done = 0
    out = open(predictions_path, "w", encoding="utf-8") if predictions_path else None
    try:
        for batch in batches:
            logits = {k: v.numpy() for k, v in predict(model_inputs(batch, model_name)).items()}
            if logits["joint"].shape[-1] != num_classes:
                raise ValueError(f"{model_name} gives {logits['joint'].shape[-1]} logits; the "
                                 f"label map has {num_classes} classes")
            for i in range(len(batch[keys.LABEL])):
                media_id = batch[keys.MEDIA_ID][i].decode()
                label = int(batch[keys.LABEL][i])
                media_ids.append(media_id)
                labels.append(label)
                fused.append(logits["joint"][i])
                for m in per_stream:
                    per_stream[m].append(logits[m][i])
                if out:
                    rec = metrics.prediction_record(media_id, label, logits["joint"][i],
                                                    class_names, k=top_k)
                    stored = int(batch[keys.NUM_FRAMES][i])
                    rec["num_frames"] = stored
                    rec["looped"] = stored - int(uses_flow) < required
                    if per_stream:
                        rec["stream_top1"] = {m: class_names[int(np.argmax(logits[m][i]))]
                                              for m in per_stream}
                    out.write(json.dumps(rec) + "\n")
                done += 1
            progbar.update(done)
    finally:
        progbar.close()
        if out:
            out.close()
    return _make_result(media_ids, labels, fused, per_stream, num_classes, top_k)


def run_model_evaluation(model_name: str, shards: str, model_dir: str, output_dir: str,
                         label_map: str | None = None, checkpoint: str = "auto",
                         num_classes: int | None = None, batch_size: int = 1,
                         crop_size: int | None = None, short_side: int | None = None,
                         top_k: int | None = None, extra: dict | None = None,
                         model_kwargs: dict | None = None,
                         overwrite: bool = False) -> EvaluationResult:
    """Restores a trained baseline from `model_dir`, evaluates every video of `shards` in the
    model's test interface, writes the same reports as `run_evaluation`.

    Args:
      model_name: one of `BASELINES` (the registry and interface name).
      model_dir: the trainer's `--model_dir`; `checkpoint` picks the checkpoint in it
        (`find_trainer_checkpoint`).
      num_classes: expected class count (None: the checkpoint's); the label map must agree.
      batch_size: videos per forward pass (any: these interfaces have fixed layouts).
      crop_size, short_side: override the interface's (a run trained with `--crop_size`).
      model_kwargs: extra builder arguments (`load_trained_model`).
      overwrite: replace results in `output_dir` made with other settings (`claim_output`).
    Raises `FileNotFoundError` (no checkpoint / no shards), `streams.ClassCountError` (class
    counts disagree), `ValueError` (checkpoint of another model),
    `provenance.SettingsMismatchError` (other settings in `output_dir`).
    """
    from kinetics_i3d.checkpoints import checkpoint_identity
    from kinetics_i3d.labels import label_map_hash

    from kinetics_i3d.data import make_dataset
    from kinetics_i3d.data.reader import label_errors_as_user_errors
    from kinetics_i3d.labels import label_map_beside, load_label_map

    label_map = label_map or label_map_beside(model_dir)  # the trainer copies it there
    if num_classes is None and label_map:
        num_classes = len(load_label_map(label_map))  # build the model once, at that count
    model, path = load_trained_model(model_name, model_dir, checkpoint, num_classes,
                                     model_kwargs)
    names = streams.class_names(model.num_classes, label_map)
    top_k = metrics.resolve_top_k(top_k, model.num_classes)
    claim_output(output_dir, {
        "model": model_name, "shards": shards, "checkpoint": checkpoint_identity(path),
        "crop_size": crop_size, "short_side": short_side, "top_k": top_k,
        "model_kwargs": model_kwargs or {}, "label_map_sha256": label_map_hash(names)},
        overwrite)
    dataset = make_dataset(shards, model_name, split="test", batch_size=batch_size,
                           num_classes=model.num_classes, crop_size=crop_size,
                           short_side=short_side, class_names=names,
                           label_map_source=_names_source(label_map, model.num_classes))
    with label_errors_as_user_errors():
        result = evaluate_model(dataset.as_numpy_iterator(), model, model_name, names,
                                os.path.join(output_dir, PREDICTIONS_JSONL), top_k=top_k)
    write_evaluation(result, names, output_dir,
                     extra={**(extra or {}), "model": model_name, "shards": shards,
                            "model_dir": model_dir, "checkpoint": path})
    log_summary(output_dir, result)
    return result
