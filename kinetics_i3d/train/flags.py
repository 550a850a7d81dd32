"""The trainer's absl flags, defined once; `config_from_flags()` turns them into a `TrainConfig`.

Paths given in flagfiles are used as written; the flagfiles in `flags/` use paths relative to the
repository root, so run the tools from there.
"""
from __future__ import annotations

import dataclasses

from absl import flags

from kinetics_i3d.train.config import FINETUNE_MODES, LR_SCHEDULES, STRATEGIES, TrainConfig

_D = TrainConfig()


def define_flags() -> None:
    """Defines the training flags on `absl.flags.FLAGS` (once per process)."""
    if "train_pattern" in flags.FLAGS:
        return
    flags.DEFINE_string("model", _D.model, "Registered architecture (kinetics_i3d.models.names()).")
    flags.DEFINE_string("modality", _D.modality, "rgb or flow.")
    flags.DEFINE_string("train_pattern", _D.train_pattern, "Glob of training TFRecord shards.")
    flags.DEFINE_string("val_pattern", _D.val_pattern, "Glob of validation TFRecord shards.")
    flags.DEFINE_integer("num_classes", _D.num_classes, "Number of classes.")
    flags.DEFINE_integer("num_frames", _D.num_frames,
                         "I3D: frames per training clip (0: the interface's, 64 as the paper).")
    flags.DEFINE_integer("crop_size", _D.crop_size,
                         "Square crop side in pixels (0: the interface's, 224 for I3D).")
    flags.DEFINE_integer("batch_size_per_replica", _D.batch_size_per_replica,
                         "Clips per replica per step (release: 6).")
    flags.DEFINE_integer("global_batch_size", _D.global_batch_size,
                         "If > 0: the global batch, split evenly over replicas (must divide).")
    flags.DEFINE_float("learning_rate", _D.learning_rate, "Initial learning rate.")
    flags.DEFINE_float("momentum", _D.momentum, "SGD momentum (paper: 0.9).")
    flags.DEFINE_float("weight_decay", _D.weight_decay,
                       "L2 weight decay on conv kernels: loss += wd * sum(w^2)/2 (release: 1e-7).")
    flags.DEFINE_float("dropout_rate", _D.dropout_rate, "Dropout before the logits (release: 0.5).")
    flags.DEFINE_integer("train_steps", _D.train_steps, "Total steps (paper: 110k on Kinetics).")
    flags.DEFINE_string("model_dir", _D.model_dir,
                        "Checkpoints, TensorBoard summaries, train_summary.json; resumes from it.")
    flags.DEFINE_string("init_checkpoint", _D.init_checkpoint,
                        "Released-layout checkpoint prefix (Kinetics or inflated ImageNet).")
    flags.DEFINE_enum("finetune_mode", _D.finetune_mode, FINETUNE_MODES,
                      "full: train everything; fixed: only the classifier (Table 4 'Fixed').")
    flags.DEFINE_enum("strategy", _D.strategy, STRATEGIES,
                      "default: one device; mirrored: all local devices; multi_worker: TF_CONFIG.")
    flags.DEFINE_boolean("mixed_precision", _D.mixed_precision,
                         "mixed_float16 compute with loss scaling (GPU).")
    flags.DEFINE_boolean("jit_compile", _D.jit_compile, "XLA-compile the forward/backward pass.")
    flags.DEFINE_boolean("sync_batch_norm", _D.sync_batch_norm,
                         "BatchNorm statistics over the global batch (all replicas).")
    flags.DEFINE_enum("lr_schedule", _D.lr_schedule, LR_SCHEDULES,
                      "plateau: drop on validation-loss plateaus (paper); steps: --lr_boundaries.")
    flags.DEFINE_integer("eval_every", _D.eval_every, "Evaluate every N steps (0: never).")
    flags.DEFINE_integer("eval_steps", _D.eval_steps,
                         "Global batches per evaluation (0: the whole validation set).")
    flags.DEFINE_float("lr_drop_factor", _D.lr_drop_factor, "Plateau: multiply the rate by this.")
    flags.DEFINE_integer("plateau_patience", _D.plateau_patience,
                         "Plateau: evaluations without improvement before a drop.")
    flags.DEFINE_float("min_delta", _D.min_delta, "Plateau: improvement must exceed this.")
    flags.DEFINE_integer("max_lr_drops", _D.max_lr_drops, "Plateau: at most this many drops.")
    flags.DEFINE_list("lr_boundaries", [], "Steps schedule: boundaries (steps), comma separated.")
    flags.DEFINE_list("lr_values", [], "Steps schedule: rates, one more than boundaries.")
    flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every, "Save every N steps.")
    flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints, "Periodic checkpoints kept.")
    flags.DEFINE_integer("log_every", _D.log_every, "Progress line and summaries every N steps.")
    flags.DEFINE_integer("seed", _D.seed, "Seed of the input order and augmentation.")


def config_from_flags() -> TrainConfig:
    """A `TrainConfig` from the parsed flags; list flags that do not parse raise naming the flag."""
    f = flags.FLAGS
    values = {}
    for field in dataclasses.fields(TrainConfig):
        values[field.name] = f[field.name].value
    try:
        values["lr_boundaries"] = tuple(int(v) for v in f.lr_boundaries)
    except ValueError:
        raise ValueError(f"--lr_boundaries must be integers, got {f.lr_boundaries}") from None
    try:
        values["lr_values"] = tuple(float(v) for v in f.lr_values)
    except ValueError:
        raise ValueError(f"--lr_values must be numbers, got {f.lr_values}") from None
    return TrainConfig(**values)
