"""The trainer's absl flags, defined once; `config_from_flags()` turns them into a `TrainConfig`.

Every `TrainConfig` field is a flag of the same name and default. Paths given in flagfiles are
used as written; the flagfiles in `flags/` use paths relative to the repository root, so run the
tools from there.
"""
from __future__ import annotations

import dataclasses

from absl import flags

from kinetics_i3d.train.config import FINETUNE_MODES, LR_SCHEDULES, STRATEGIES, TrainConfig

_D = TrainConfig()

# (name, help) per field; enums get their choices from config.py.
_HELP = {
    "model": "Registered video architecture: a name in the spec registry "
             "(kinetics_i3d.specs.video_names()).",
    "modality": "I3D stream: rgb or flow (specs with modality_flag; the other models read "
                "their interface's streams).",
    "train_pattern": "Glob of training TFRecord shards.",
    "val_pattern": "Glob of validation TFRecord shards.",
    "num_classes": "Number of classes.",
    "num_frames": "I3D models (specs with consecutive_frames): frames per training clip "
                  "(0: the interface's, 64 as the paper).",
    "crop_size": "Square crop side in pixels (0: the interface's, 224 for I3D).",
    "batch_size_per_replica": "Clips per replica per step (release: 6).",
    "global_batch_size": "If > 0: the global batch, split evenly over replicas (must divide).",
    "learning_rate": "Initial learning rate.",
    "momentum": "SGD momentum (paper: 0.9).",
    "weight_decay": "L2 on conv kernels: loss += wd * sum(w^2) / 2 (release: 1e-7).",
    "dropout_rate": "Dropout before the logits (release: 0.5).",
    "train_steps": "Total steps (paper: 110k on Kinetics, up to 5k on UCF-101/HMDB-51).",
    "model_dir": "Checkpoints, TensorBoard summaries, train_summary.json; resumes from it.",
    "init_checkpoint": "Pre-trained weights, of a kind the model's spec takes (init_sources): "
                       "I3D: released-layout checkpoint prefix (Kinetics or inflated ImageNet); "
                       "Inception-v1 baselines: TF-slim ImageNet checkpoint; any model: another "
                       "run's checkpoint, or its <model_dir>/ckpt or best folder (newest).",
    "finetune_mode": "full: train everything; fixed: only the classifier (Table 4 'Fixed').",
    "strategy": "default: one device; mirrored: all local devices; multi_worker: TF_CONFIG.",
    "mixed_precision": "mixed_float16 compute with loss scaling (for GPUs).",
    "jit_compile": "XLA-compile the per-replica forward/backward pass.",
    "sync_batch_norm": "BatchNorm statistics over the global batch (all replicas).",
    "bn_momentum": "If > 0: momentum of every BatchNorm's moving statistics (release: 0.999); "
                   "short runs need less (the smoke run uses 0.5).",
    "lr_schedule": "plateau: drop on validation-loss plateaus (paper); steps: --lr_boundaries.",
    "eval_every": "Evaluate every N steps (0: never).",
    "eval_steps": "Global batches per evaluation (0: the whole validation set, one pass).",
    "lr_drop_factor": "Plateau: multiply the rate by this.",
    "plateau_patience": "Plateau: evaluations without improvement before a drop.",
    "min_delta": "Plateau: an improvement must exceed this.",
    "max_lr_drops": "Plateau: at most this many drops.",
    "lr_boundaries": "Steps schedule: boundaries (steps), comma separated.",
    "lr_values": "Steps schedule: rates, one more than boundaries, comma separated.",
    "checkpoint_every": "Save a checkpoint every N steps (and at the end).",
    "keep_checkpoints": "Periodic checkpoints kept (the best one is kept apart).",
    "log_every": "Progress line and TensorBoard summaries every N steps.",
    "seed": "Seed of the input order and augmentation (resumed runs add the step).",
}
_ENUMS = {"finetune_mode": FINETUNE_MODES, "strategy": STRATEGIES, "lr_schedule": LR_SCHEDULES}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the training flags on `flag_values` (default: the global FLAGS), once."""
    if "train_pattern" in flag_values:
        return
    for field in dataclasses.fields(TrainConfig):
        name, default, text = field.name, getattr(_D, field.name), _HELP[field.name]
        if name in _ENUMS:
            flags.DEFINE_enum(name, default, _ENUMS[name], text, flag_values=flag_values)
        elif isinstance(default, bool):
            flags.DEFINE_boolean(name, default, text, flag_values=flag_values)
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, [], text, flag_values=flag_values)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, text, flag_values=flag_values)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, text, flag_values=flag_values)
        else:
            flags.DEFINE_string(name, default, text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    """A `TrainConfig` from the parsed flags; list flags that do not parse raise naming the flag."""
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(TrainConfig)}
    try:
        values["lr_boundaries"] = tuple(int(v) for v in values["lr_boundaries"])
    except ValueError:
        raise ValueError(
            f"--lr_boundaries must be integers, got {values['lr_boundaries']}") from None
    try:
        values["lr_values"] = tuple(float(v) for v in values["lr_values"])
    except ValueError:
        raise ValueError(f"--lr_values must be numbers, got {values['lr_values']}") from None
    return TrainConfig(**values)
