"""Dataset functions for the trainer: `fn(input_context) -> tf.data.Dataset` of per-replica batches.

Three sources, one shape contract (`(inputs, labels)`, inputs `[b, T, H, W, C]` float32 in
[-1, 1], labels `[b]` int32, b = the per-replica batch):
  `shards_dataset_fn`: MediaSequence TFRecord shards through `kinetics_i3d.data` (the real input).
  `in_memory_dataset_fn`: arrays held in memory (tests, tiny tasks).
  `synthetic_dataset_fn`: random clips (benchmarks: no decode cost).
Each is sharded per input pipeline (`input_context.input_pipeline_id`), so every worker of a
multi-worker run reads a different part of the data.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf

from kinetics_i3d import batch as keys
from kinetics_i3d import specs
from kinetics_i3d.train.config import TrainConfig

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def _per_replica(input_context: tf.distribute.InputContext | None, global_batch: int) -> int:
    if input_context is None:
        return global_batch
    return input_context.get_per_replica_batch_size(global_batch)


def in_memory_dataset_fn(inputs: np.ndarray, labels: np.ndarray, global_batch: int,
                         shuffle: bool = True, repeat: bool = True, seed: int = 0) -> DatasetFn:
    """Batches of `(inputs[i], labels[i])`; with `shuffle`, a seeded order per epoch."""
    inputs = np.asarray(inputs, np.float32)
    labels = np.asarray(labels, np.int32)
    if len(inputs) != len(labels):
        raise ValueError(f"inputs ({len(inputs)}) and labels ({len(labels)}) differ in length")

    def fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if shuffle:
            ds = ds.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        return ds.batch(_per_replica(input_context, global_batch), drop_remainder=repeat)
    return fn


def synthetic_dataset_fn(config: TrainConfig, global_batch: int, channels: int = 3,
                         seed: int = 0) -> DatasetFn:
    """An endless stream of one random batch `[b, T, S, S, channels]` (T = --num_frames,
    S = --crop_size) with random labels, cached so no input cost enters a benchmark."""
    def fn(input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        b = _per_replica(input_context, global_batch)
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1, 1, (b, config.num_frames, config.crop_size, config.crop_size,
                                channels)).astype(np.float32)
        y = rng.integers(0, config.num_classes, (b,)).astype(np.int32)
        return tf.data.Dataset.from_tensors((x, y)).repeat()
    return fn


def model_streams(config: TrainConfig) -> tuple[str, ...]:
    """The streams `--model` reads (`ModelSpec.streams`): I3D its `--modality`; the other
    models their interface's."""
    return specs.get_spec(config.model).streams(config.modality)


def training_interface(config: TrainConfig) -> specs.TemporalInterface:
    """`--model`'s temporal interface, with a training clip of `--num_frames` consecutive frames
    for the models whose spec has `consecutive_frames` (I3D; `validate` refuses the flag for the
    others)."""
    spec = specs.get_spec(config.model)
    interface = specs.get_interface(config.model)
    if (spec.consecutive_frames and config.num_frames
            and config.num_frames != len(interface.train.rgb_offsets)):
        frames = tuple(range(config.num_frames))
        train = interface.train  # only the streams the interface samples
        interface = dataclasses.replace(interface, train=dataclasses.replace(
            train, rgb_offsets=frames if train.rgb_offsets else (),
            flow_offsets=frames if train.flow_offsets else ()))
    return interface


def _to_model_inputs(batch: dict, streams: tuple[str, ...], squeeze: bool):
    """`(inputs, labels)` of one batch: `specs.model_inputs` of its frames (squeezed over the
    one test snapshot of a validation batch), labels `[b]`."""
    frames = {s: batch[keys.frames_key(s)] for s in streams}
    if squeeze:
        frames = {s: tf.squeeze(t, axis=1) for s, t in frames.items()}
    return specs.model_inputs(frames, streams), batch[keys.LABEL]


def shards_dataset_fns(config: TrainConfig, global_batch: int
                       ) -> tuple[Callable[[int], DatasetFn], DatasetFn | None]:
    """`(train_fn(start_step) -> dataset_fn, val_dataset_fn or None)` over `--train_pattern`
    and `--val_pattern` through `kinetics_i3d.data.make_dataset`.

    Train: the interface's random-start, random-crop, flipped clips, seeded with
    `--seed + start_step` so a resumed run does not replay the batches it already trained on.
    Validation: one centre-cropped training-length clip per video (`test_clips=1`), a fixed
    order; `--eval_steps` > 0 repeats it and takes that many batches.
    """
    from kinetics_i3d.data import make_dataset

    interface = training_interface(config)
    streams = model_streams(config)
    common = dict(num_classes=config.num_classes, modalities=streams,
                  crop_size=config.crop_size or None)

    def train_fn(start_step: int) -> DatasetFn:
        def fn(input_context=None):
            ds = make_dataset(config.train_pattern, interface, "train", global_batch,
                              input_context=input_context, seed=config.seed + start_step,
                              **common)
            return ds.map(lambda b: _to_model_inputs(b, streams, squeeze=False),
                          num_parallel_calls=tf.data.AUTOTUNE)
        return fn

    if not config.val_pattern:
        return train_fn, None

    def val_fn(input_context=None):
        ds = make_dataset(config.val_pattern, interface, "test", global_batch,
                          input_context=input_context, test_clips=1,
                          repeat=config.eval_steps > 0, **common)
        return ds.map(lambda b: _to_model_inputs(b, streams, squeeze=True),
                      num_parallel_calls=tf.data.AUTOTUNE)
    return train_fn, val_fn
