"""Evaluation of every registered video model on test shards (paper sec. 2.5, 3, 4): one stack.

A *predictor* turns test videos into `Prediction`s (media id, label, the model's logits, each
stream's logits, frame counts, whether the video was looped); `evaluate` consumes any iterable of
them: one loop, one progress bar, one predictions.jsonl writer, one `EvaluationResult`. Which
predictor a model uses is its spec's `test_prediction` (`kinetics_i3d.specs`):

- `PREDICT_WHOLE_VIDEO` (I3D, Two-Stream I3D): `whole_video_predictions` runs each stream over
  every frame (224x224 centre crop, logits averaged over time) through
  `kinetics_i3d.serve.chunked.ChunkedI3D` (equal to one pass, bounded in memory) and fuses the
  streams with `kinetics_i3d.fusion.fuse_logits` (sum of logits, as DeepMind's release). Videos
  shorter than the 9 frames one prediction needs are looped to 9 frames, as the paper does
  ("we looped the video as many times as necessary to satisfy each model's input interface",
  sec. 3). The release sample (`kinetics_i3d.serve.sample`) is one such video.
- `PREDICT_SNAPSHOTS` (the baselines): `snapshot_predictions` runs the model once over its
  interface's test snapshots (Table 1), batches of `make_dataset(pattern, <model>, "test")`.

`run_evaluation` (release-layout checkpoints per stream) and `run_model_evaluation` (a trainer
`--model_dir`, `kinetics_i3d.checkpoints.run.load_trained_model`) restore the model and build the
predictions; both then share `_run`: settings.json, the reports, the log line.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import batch as keys
from kinetics_i3d import fusion, specs
from kinetics_i3d.checkpoints.run import CHECKPOINT_CHOICES, find_trainer_checkpoint  # noqa: F401
from kinetics_i3d.errors import UserError
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
    Settings of a run that wrote no report (`metrics.json`: it failed or was stopped) bind
    nothing: the corrected rerun goes ahead.

    Raises `provenance.SettingsMismatchError` listing the differences.
    """
    from kinetics_i3d import provenance

    path = os.path.join(output_dir, SETTINGS_JSON)
    stored = provenance.read_json(path)
    finished = os.path.exists(os.path.join(output_dir, metrics.METRICS_JSON))
    if stored is not None and finished and not overwrite:
        provenance.check_settings(stored["settings"], settings, f"the evaluation in {output_dir}",
                                  "rerun with --overwrite to replace them, or use another "
                                  "--output_dir")
    os.makedirs(output_dir, exist_ok=True)
    provenance.write_json(path, {"settings": settings,
                                 "package_version": provenance.package_version()})


@dataclasses.dataclass
class TestVideo:
    """One test video: `frames[modality]` float32 `[T, H, W, C]` in [-1, 1] (no padding), or a
    `(iterable of T frames [H, W, C], T)` pair streamed from a decoder or a memory map."""

    media_id: str
    label: int | None
    frames: dict[str, object]


@dataclasses.dataclass
class Prediction:
    """One video's prediction, whatever the model.

    logits: `[K]`, the model's (whole-video streams: their fusion).
    stream_logits: {stream: `[K]`} where the model reports its streams ({} otherwise).
    num_frames: frames of the video (whole-video: per stream; snapshots: stored RGB frames).
    looped: the video was shorter than what one prediction spans, and was looped.
    """

    media_id: str
    label: int | None
    logits: np.ndarray
    stream_logits: dict[str, np.ndarray]
    num_frames: int | dict[str, int]
    looped: bool

    def record(self, class_names: Sequence[str], k: int) -> dict:
        """The predictions.jsonl record (`metrics.prediction_record`, `num_frames`, `looped`,
        and `stream_top1` for two streams)."""
        rec = metrics.prediction_record(self.media_id, self.label, self.logits, class_names, k=k)
        rec["num_frames"] = self.num_frames
        rec["looped"] = bool(self.looped)
        if len(self.stream_logits) > 1:
            rec["stream_top1"] = {m: class_names[int(np.argmax(v))]
                                  for m, v in self.stream_logits.items()}
        return rec


def shard_videos(patterns: str | Sequence[str], modalities: Sequence[str],
                 max_frames: int | None = None, model: str = "i3d",
                 **dataset_kwargs) -> Iterator[TestVideo]:
    """Test videos of MediaSequence shards, in file order, padding removed.

    Read one at a time with `make_dataset(patterns, model, split="test")`: the test interface of
    `model`, a `PREDICT_WHOLE_VIDEO` model of `kinetics_i3d.specs` (every frame, centre crop of
    the stored frames at the interface's crop size, 224 for I3D, unless `crop_size` is given;
    [-1, 1]); `dataset_kwargs` go to it (`num_classes`, `require_labels`, `crop_size`,
    `short_side`, `class_names`: the label map every record's label string is checked against).
    A label mismatch raises `UserError`.
    """
    from kinetics_i3d.data import make_dataset
    from kinetics_i3d.data.reader import label_errors_as_user_errors

    ds = make_dataset(patterns, model, split="test", batch_size=1, modalities=tuple(modalities),
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
    return frames if len(frames) >= min_frames else np.resize(frames, (min_frames,
                                                                       *frames.shape[1:]))


def stream_frames(frames) -> tuple[Iterable[np.ndarray], int]:
    """A stream of `TestVideo.frames` as `(iterable of frames [H, W, C], T)`, without copying:
    an array `[T, H, W, C]` (a memory map stays one) or an `(iterable, T)` pair as it is."""
    if isinstance(frames, tuple):
        return frames[0], int(frames[1])
    if np.ndim(frames) != 4:
        raise ValueError(f"expected frames [T, H, W, C], got shape {list(np.shape(frames))}")
    return frames, len(frames)


def whole_video_predictions(videos: Iterable[TestVideo], runners: Mapping[str, ChunkedI3D]
                            ) -> Iterator[Prediction]:
    """`PREDICT_WHOLE_VIDEO`: every stream of `runners` ({modality: ChunkedI3D of a model with
    the Logits head}) over every frame of each video, logits fused by `fusion.fuse_logits`.
    Videos under `MIN_FRAMES` frames are looped to it (`looped`); longer ones are streamed."""
    for video in videos:
        missing = [m for m in runners if m not in video.frames]
        if missing:
            raise ValueError(f"video {video.media_id!r} has no {missing[0]} frames")
        sources = {m: stream_frames(video.frames[m]) for m in runners}
        num_frames = {m: n for m, (_, n) in sources.items()}
        fusion.check_stream_lengths(num_frames, f"video {video.media_id!r}: two-stream input")
        logits, looped = {}, False
        for m, runner in runners.items():
            frames, n = sources[m]
            if n < MIN_FRAMES:
                looped = True
                frames = loop_to(np.asarray(list(frames)), MIN_FRAMES)
                n = len(frames)
            logits[m] = runner.logits(frames, n)
        yield Prediction(video.media_id, video.label, fusion.fuse_logits(logits), logits,
                         num_frames, looped)


def _required_frames(sampling: specs.Sampling) -> int:
    """Frames a test sampling spans before it loops (`processors.snapshot_starts`)."""
    if sampling.snapshot_stride is None:
        return sampling.footprint
    return (sampling.num_snapshots - 1) * sampling.snapshot_stride + sampling.footprint


def model_inputs(batch: dict[str, np.ndarray], model_name: str) -> np.ndarray | dict:
    """A test batch of `make_dataset(..., model_name, "test")` -> what the model takes
    (`specs.model_inputs`: the one tensor of a single-stream model, else {modality: tensor}).

    These interfaces sample a fixed number of snapshots (short videos are looped, not padded),
    so every `{m}_mask` is all true; one that is not raises, so a padded frame can never enter a
    prediction.
    """
    streams_ = specs.get_spec(model_name).streams()
    for m in streams_:
        mask = batch.get(keys.mask_key(m))
        if mask is not None and not np.all(mask):
            raise ValueError(f"{model_name} test batch has padded {m} entries (mask false); "
                             f"its interface has a fixed layout, padding is not expected")
    return specs.model_inputs({m: batch[keys.frames_key(m)] for m in streams_}, streams_)


def snapshot_predictions(batches: Iterable[dict[str, np.ndarray]], model,
                         model_name: str) -> Iterator[Prediction]:
    """`PREDICT_SNAPSHOTS`: `model(inputs, training=False)` over numpy test batches of
    `make_dataset(..., model_name, split="test")` (e.g. ConvNet+LSTM rgb `[B, 50, 224, 224, 3]`;
    Two-Stream rgb `[B, 25, 224, 224, 3]` and flow `[B, 25, 10, 224, 224, 2]`, [-1, 1]).

    Logits `[B, K]` are the model's (ConvNet+LSTM: the last step; Two-Stream, C3D: the averaged
    prediction's); a spec with `stream_logits` also gives each stream's (`model.stream_logits`).
    `looped`: the stored RGB frames are fewer than the interface spans.
    """
    spec = specs.get_spec(model_name)
    sampling = spec.interface.test
    # Flow frame t spans RGB frames t..t+1, so a two-stream video loops with the flow's period.
    required = _required_frames(sampling) + int(bool(sampling.flow_offsets))

    @tf.function(reduce_retracing=True)
    def predict(inputs):
        if spec.stream_logits:
            return model.stream_logits(inputs, training=False)
        return {"joint": model(inputs, training=False)}

    for batch in batches:
        out = {k: v.numpy() for k, v in predict(model_inputs(batch, model_name)).items()}
        joint = out.pop("joint")
        for i in range(len(joint)):
            stored = int(batch[keys.NUM_FRAMES][i])
            yield Prediction(batch[keys.MEDIA_ID][i].decode(), int(batch[keys.LABEL][i]),
                             joint[i], {m: v[i] for m, v in out.items()}, stored,
                             stored < required)


@dataclasses.dataclass
class EvaluationResult:
    media_ids: list[str]
    labels: np.ndarray  # [N] int
    logits: np.ndarray  # [N, K] the model's (fused) logits
    stream_logits: dict[str, np.ndarray]  # modality -> [N, K]
    metrics: metrics.Metrics
    stream_metrics: dict[str, metrics.Metrics]


def evaluate(predictions: Iterable[Prediction], class_names: Sequence[str],
             predictions_path: str | None = None, total: int | None = None,
             top_k: int | None = None, name: str = "evaluate") -> EvaluationResult:
    """Consumes `predictions` (any predictor's), writes one JSON line per video
    (`Prediction.record`) to `predictions_path` if given, computes the metrics, fused and per
    stream.

    Args:
      class_names: K names; a prediction with another number of logits raises ValueError.
      total: number of videos, for the progress bar (`name`).
      top_k: k of top-k accuracy and of the records' top list (`metrics.resolve_top_k`: None is
        5, or the class count if fewer; a UserError outside [1, class count]).
    Raises `UserError` when there are no predictions.
    """
    num_classes = len(class_names)
    top_k = metrics.resolve_top_k(top_k, num_classes)
    rows: list[Prediction] = []
    progbar = Progress(name, total)
    out = open(predictions_path, "w", encoding="utf-8") if predictions_path else None
    try:
        for p in predictions:
            for m, v in {"the model": p.logits, **p.stream_logits}.items():
                if np.shape(v) != (num_classes,):
                    raise ValueError(f"{m} gives {np.shape(v)[-1]} logits; the label map has "
                                     f"{num_classes} classes")
            rows.append(p)
            if out:
                out.write(json.dumps(p.record(class_names, top_k)) + "\n")
            progbar.update(len(rows))
    finally:
        progbar.close()
        if out:
            out.close()
    if not rows:
        raise UserError("no test videos were read (--shards matched no examples?)")
    labels = np.asarray([p.label for p in rows], np.int64)
    logits = np.stack([p.logits for p in rows])
    per_stream = {m: np.stack([p.stream_logits[m] for p in rows]) for m in rows[0].stream_logits}
    return EvaluationResult(
        media_ids=[p.media_id for p in rows], labels=labels, logits=logits,
        stream_logits=per_stream,
        metrics=metrics.compute_metrics(logits, labels, num_classes, top_k),
        stream_metrics={m: metrics.compute_metrics(v, labels, num_classes, top_k)
                        for m, v in per_stream.items()})


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


def _run(output_dir: str, settings: dict, num_classes: int, label_map: str | None,
         predictions: Callable, top_k: int | None, extra: dict, overwrite: bool,
         name: str) -> EvaluationResult:
    """The one tail of every evaluation: the class names (`streams.class_names`), claiming
    `output_dir` with `settings`, evaluating `predictions(names, names_source)`, the reports."""
    from kinetics_i3d.data.reader import label_errors_as_user_errors
    from kinetics_i3d.labels import label_map_hash

    names = streams.class_names(num_classes, label_map)
    top_k = metrics.resolve_top_k(top_k, num_classes)
    claim_output(output_dir, {**settings, "top_k": top_k,
                              "label_map_sha256": label_map_hash(names)}, overwrite)
    # How the label map in use is named in a label-mismatch error.
    source = f"--label_map={label_map}" if label_map else f"the shipped {num_classes}-class map"
    with label_errors_as_user_errors():
        result = evaluate(predictions(names, source), names,
                          os.path.join(output_dir, PREDICTIONS_JSONL), top_k=top_k, name=name)
    write_evaluation(result, names, output_dir, extra=extra)
    log_summary(output_dir, result)
    return result


def run_evaluation(shards: str, checkpoints: dict[str, str | None], output_dir: str,
                   label_map: str | None = None, max_frames: int | None = None,
                   chunk_steps: int = DEFAULT_CHUNK_STEPS, top_k: int | None = None,
                   extra: dict | None = None, num_classes: int | None = None,
                   overwrite: bool = False, model: str = "i3d") -> EvaluationResult:
    """Evaluates a `PREDICT_WHOLE_VIDEO` model (`model`: "i3d", or "two_stream_i3d", which needs
    both streams) from release-layout checkpoints on every video of `shards`; writes the reports.

    `checkpoints`: {modality: release-layout checkpoint prefix} (None: random weights, then
    `num_classes` is required; for tests). Raises `streams.ClassCountError` when the streams or
    the label map disagree on the class count, `provenance.SettingsMismatchError` when
    `output_dir` holds results made with other settings (unless `overwrite`), `UserError` for a
    model evaluated otherwise or missing streams.
    """
    from kinetics_i3d.checkpoints import checkpoint_identity

    if specs.get_spec(model).test_prediction != specs.PREDICT_WHOLE_VIDEO:
        raise UserError(f"--model={model} is evaluated from its trainer --model_dir "
                        f"(run_model_evaluation), not from release-layout checkpoints")
    # Two-Stream I3D is its two InceptionI3d streams, fused by `fusion.fuse_logits` as
    # `TwoStreamI3D` does: the whole-video pass runs each stream alone (ChunkedI3D).
    models, label_map = streams.restore_release_streams(model, checkpoints, num_classes,
                                                        label_map)
    runners = {m: ChunkedI3D(net, chunk_steps=chunk_steps) for m, net in models.items()}
    num_classes = next(iter(models.values())).num_classes

    def predictions(names, source):
        videos = shard_videos(shards, list(runners), max_frames, model, num_classes=num_classes,
                              class_names=names, label_map_source=source)
        return whole_video_predictions(videos, runners)

    settings = {"model": model, "shards": shards, "max_frames": max_frames,
                "checkpoints": {m: checkpoint_identity(c, f"{m}_checkpoint") if c else None
                                for m, c in checkpoints.items()}}
    return _run(output_dir, settings, num_classes, label_map, predictions, top_k,
                {**(extra or {}), "shards": shards, "checkpoints": checkpoints}, overwrite,
                "evaluate")


def run_model_evaluation(model_name: str, shards: str, model_dir: str, output_dir: str,
                         label_map: str | None = None, checkpoint: str = "auto",
                         num_classes: int | None = None, batch_size: int = 1,
                         crop_size: int | None = None, short_side: int | None = None,
                         top_k: int | None = None, extra: dict | None = None,
                         model_kwargs: dict | None = None, overwrite: bool = False,
                         max_frames: int | None = None,
                         chunk_steps: int = DEFAULT_CHUNK_STEPS) -> EvaluationResult:
    """Restores a model from a trainer `model_dir`, evaluates every video of `shards` in the
    model's test interface, writes the same reports as `run_evaluation`. Models whose runs write
    no release-layout checkpoint (`not spec.released_export`): the baselines
    (`PREDICT_SNAPSHOTS`) and Two-Stream I3D (`PREDICT_WHOLE_VIDEO`: its `stream_networks()`
    through `whole_video_predictions`, with `max_frames` and `chunk_steps`, videos read in the
    model's own test interface, `shard_videos(..., model_name)`). Whole-video prediction is
    I3D's chunked pass (`ChunkedI3D` runs one InceptionI3d per stream), so a
    `PREDICT_WHOLE_VIDEO` model must expose `stream_networks()` of InceptionI3d networks
    (`streams.stream_networks`); one that does not is a `UserError` before any output is written.

    Args:
      model_name: the registry and interface name (`kinetics_i3d.specs`).
      model_dir: the trainer's `--model_dir`; `checkpoint` picks the checkpoint in it
        (`checkpoints.run.find_trainer_checkpoint`).
      num_classes: expected class count (None: the checkpoint's); the label map must agree.
      batch_size: videos per forward pass (any: these interfaces have fixed layouts).
      crop_size, short_side: override the interface's (a run trained with `--crop_size`).
      model_kwargs: extra builder arguments (`checkpoints.run.load_trained_model`).
      overwrite: replace results in `output_dir` made with other settings (`claim_output`).
    Raises `FileNotFoundError` (no checkpoint / no shards), `streams.ClassCountError` (class
    counts disagree), `ValueError` (checkpoint of another model), `UserError` (a whole-video
    model without `stream_networks()`), `provenance.SettingsMismatchError` (other settings in
    `output_dir`).
    """
    from kinetics_i3d.checkpoints import checkpoint_identity
    from kinetics_i3d.data import make_dataset

    spec = specs.SPECS.get(model_name)
    if spec is None or not spec.is_video_model or spec.released_export:
        raise UserError(f"--model={model_name!r}: trainer runs are evaluated from --model_dir for "
                        f"{[n for n in specs.video_names() if not specs.SPECS[n].released_export]}"
                        f"; an i3d run's released/model.ckpt is its --rgb_checkpoint or "
                        f"--flow_checkpoint")
    whole_video = spec.test_prediction == specs.PREDICT_WHOLE_VIDEO
    model, path, label_map = streams.restore_run_model(model_name, model_dir, checkpoint,
                                                       label_map, num_classes, model_kwargs)
    # Each stream alone through the chunked pass, fused as the model does.
    nets = streams.stream_networks(model, model_name) if whole_video else {}

    def predictions(names, source):
        if whole_video:
            runners = {m: ChunkedI3D(net, chunk_steps=chunk_steps) for m, net in nets.items()}
            videos = shard_videos(shards, list(runners), max_frames, model_name,
                                  num_classes=model.num_classes, class_names=names,
                                  label_map_source=source)
            return whole_video_predictions(videos, runners)
        dataset = make_dataset(shards, model_name, split="test", batch_size=batch_size,
                               num_classes=model.num_classes, crop_size=crop_size,
                               short_side=short_side, class_names=names,
                               label_map_source=source)
        return snapshot_predictions(dataset.as_numpy_iterator(), model, model_name)

    settings = {"model": model_name, "shards": shards, "checkpoint": checkpoint_identity(path),
                "crop_size": crop_size, "short_side": short_side,
                "model_kwargs": model_kwargs or {},
                **({"max_frames": max_frames} if whole_video else {})}
    return _run(output_dir, settings, model.num_classes, label_map, predictions, top_k,
                {**(extra or {}), "model": model_name, "shards": shards, "model_dir": model_dir,
                 "checkpoint": path}, overwrite, f"evaluate {model_name}")


def run_splits(splits: Sequence[str], shards: str, checkpoints: dict[str, str | None] | None,
               output_dir: str, model: str = "i3d", model_dir: str | None = None,
               **kwargs) -> dict:
    """`run_evaluation` (release-layout models) or `run_model_evaluation` (trainer runs) per
    split, `{split}` substituted in `shards` and in the checkpoints or `model_dir`, results in
    `split_<s>/`; then the mean over splits written to `splits.json` and returned
    (`metrics.average_splits`)."""
    results = []
    for split in splits:
        out = os.path.join(output_dir, f"split_{split}")
        if checkpoints:  # release-layout checkpoints per stream, else a trainer --model_dir
            ckpts = {m: expand_split(c, split) if c else None for m, c in checkpoints.items()}
            result = run_evaluation(expand_split(shards, split), ckpts, out, model=model,
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
