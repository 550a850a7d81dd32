"""`TrainConfig`: every setting of a training run, checked before any work is done.

The absl flags (`kinetics_i3d.train.flags`) map one to one onto these fields; tests and other
tools build a `TrainConfig` directly. `validate()` raises `ValueError` naming the flag
(`--model`, `--train_pattern`, ...) and what was expected.
"""
from __future__ import annotations

import dataclasses
import glob
import os

from kinetics_i3d.errors import UserError

FINETUNE_MODES = ("full", "fixed")
STRATEGIES = ("default", "mirrored", "multi_worker")
LR_SCHEDULES = ("plateau", "steps")


@dataclasses.dataclass
class TrainConfig:
    """A training run. Defaults follow the paper (sec. 2.5) and DeepMind's release.

    Release (kinetics-i3d README / i3d.py): batch 6 clips per replica, SGD momentum 0.9, weight
    decay 1e-7 (L2 on conv kernels), dropout 0.5 before the logits; paper: 64-frame 224x224 RGB or
    TV-L1 flow snippets, "10x reduction of learning rate when validation loss saturated".
    """

    model: str = "i3d"
    modality: str = "rgb"
    train_pattern: str = ""
    val_pattern: str = ""
    num_classes: int = 400
    num_frames: int = 0  # 0: the model's interface (I3D: 64); consecutive-frame models only
    crop_size: int = 0  # 0: the model's interface (I3D: 224)
    batch_size_per_replica: int = 6
    global_batch_size: int = 0  # 0: batch_size_per_replica * replicas
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-7
    dropout_rate: float = 0.5
    train_steps: int = 110_000
    model_dir: str = ""
    init_checkpoint: str = ""
    finetune_mode: str = "full"
    strategy: str = "default"
    mixed_precision: bool = False
    jit_compile: bool = False
    sync_batch_norm: bool = False
    bn_momentum: float = 0.0  # 0: the model's own (release: 0.999)
    lr_schedule: str = "plateau"
    eval_every: int = 1000
    eval_steps: int = 0  # 0: the whole validation set
    lr_drop_factor: float = 0.1
    plateau_patience: int = 3
    min_delta: float = 0.0
    max_lr_drops: int = 3
    lr_boundaries: tuple[int, ...] = ()
    lr_values: tuple[float, ...] = ()
    checkpoint_every: int = 1000
    keep_checkpoints: int = 5
    log_every: int = 10
    seed: int = 0

    @property
    def model_options(self) -> dict:
        """Builder arguments besides `num_classes`: the fields the model's spec lists
        (`ModelSpec.options`: dropout and sync BN for every model, the modality for I3D)."""
        from kinetics_i3d.specs import get_spec

        return {name: getattr(self, name) for name in get_spec(self.model).options}


def _matches(pattern: str) -> bool:
    if "://" in pattern:  # remote file systems (s3://, gs://): checked when the reader opens them
        return True
    return bool(glob.glob(os.path.expanduser(pattern)))


def _check_label_map(config: TrainConfig) -> None:
    """Raises `UserError` when the label map ingest wrote beside the training shards
    (`<name>-label_map.txt`) has another class count than `--num_classes`: the run would train
    a head that does not fit the labels, and no tool could name its classes."""
    from kinetics_i3d import labels

    shards = sorted(glob.glob(os.path.expanduser(config.train_pattern)))
    path = labels.dataset_label_map(shards)
    if path is None:
        return
    count = len(labels.load_label_map(path))
    if count != config.num_classes:
        raise UserError(f"--num_classes={config.num_classes} but the training shards' label map "
                        f"{path} has {count} classes; pass --num_classes={count}")


def validate(config: TrainConfig, check_files: bool = True) -> None:
    """Raises `ValueError` naming the first bad flag. Cheap: no TensorFlow work, no model."""
    from kinetics_i3d import specs  # the registry, no TensorFlow
    from kinetics_i3d.modalities import MODALITIES

    if config.model not in specs.video_names():
        raise ValueError(f"--model={config.model!r} is not a registered architecture that trains "
                         f"on videos; choose one of {specs.video_names()}")
    spec = specs.get_spec(config.model)
    if config.modality not in MODALITIES:
        raise ValueError(f"--modality={config.modality!r}: expected one of {sorted(MODALITIES)}")
    if not config.model_dir:
        raise ValueError("--model_dir is required (checkpoints, summaries and the final JSON "
                         "summary are written there)")
    if not config.train_pattern:
        raise ValueError("--train_pattern is required (a glob of training TFRecord shards)")
    if check_files and not _matches(config.train_pattern):
        raise ValueError(f"--train_pattern={config.train_pattern!r} matches no file")
    if config.lr_schedule == "plateau" and not config.val_pattern:
        raise ValueError("--val_pattern is required with --lr_schedule=plateau (the learning rate "
                         "drops when the validation loss saturates)")
    if config.val_pattern and check_files and not _matches(config.val_pattern):
        raise ValueError(f"--val_pattern={config.val_pattern!r} matches no file")
    if config.lr_schedule == "plateau" and config.eval_every <= 0:
        raise ValueError(f"--eval_every must be > 0 with --lr_schedule=plateau, "
                         f"got {config.eval_every}")
    if not spec.modality_flag and config.modality != "rgb":
        takes = [n for n in specs.video_names() if specs.get_spec(n).modality_flag]
        raise ValueError(f"--modality={config.modality} applies to --model="
                         f"{'/'.join(takes)} only; --model={config.model} reads the streams of "
                         f"its temporal interface")
    if config.num_frames < 0 or config.crop_size < 0:
        raise ValueError(f"--num_frames and --crop_size must be >= 0 (0: the interface's), got "
                         f"{config.num_frames} and {config.crop_size}")
    spec.check_crop_size(config.crop_size)
    if config.num_frames and not spec.consecutive_frames:
        raise ValueError(f"--num_frames applies to I3D models (consecutive frames); "
                         f"--model={config.model} samples the frames of its interface")
    positive = ("num_classes", "batch_size_per_replica",
                "train_steps", "checkpoint_every", "keep_checkpoints", "log_every")
    for name in positive:
        if getattr(config, name) <= 0:
            raise ValueError(f"--{name} must be > 0, got {getattr(config, name)}")
    if check_files and "://" not in config.train_pattern:
        _check_label_map(config)
    if config.global_batch_size < 0:
        raise ValueError(f"--global_batch_size must be >= 0, got {config.global_batch_size}")
    if config.eval_steps < 0:
        raise ValueError(f"--eval_steps must be >= 0, got {config.eval_steps}")
    if not config.learning_rate > 0:
        raise ValueError(f"--learning_rate must be > 0, got {config.learning_rate}")
    if not 0.0 <= config.momentum < 1.0:
        raise ValueError(f"--momentum must be in [0, 1), got {config.momentum}")
    if config.weight_decay < 0:
        raise ValueError(f"--weight_decay must be >= 0, got {config.weight_decay}")
    if not 0.0 <= config.bn_momentum < 1.0:
        raise ValueError(f"--bn_momentum must be in [0, 1) (0: the model's own), got "
                         f"{config.bn_momentum}")
    if not 0.0 <= config.dropout_rate < 1.0:
        raise ValueError(f"--dropout_rate must be in [0, 1), got {config.dropout_rate}")
    if config.finetune_mode not in FINETUNE_MODES:
        raise ValueError(f"--finetune_mode={config.finetune_mode!r}: expected one of "
                         f"{FINETUNE_MODES}")
    if config.strategy not in STRATEGIES:
        raise ValueError(f"--strategy={config.strategy!r}: expected one of {STRATEGIES}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"--lr_schedule={config.lr_schedule!r}: expected one of {LR_SCHEDULES}")
    if config.lr_schedule == "steps":
        if not config.lr_values:
            raise ValueError("--lr_schedule=steps needs --lr_values (and --lr_boundaries)")
        check_steps(config.lr_boundaries, config.lr_values)
    elif config.lr_boundaries or config.lr_values:
        raise ValueError("--lr_boundaries/--lr_values are only used with --lr_schedule=steps; "
                         f"got --lr_schedule={config.lr_schedule}")
    if config.lr_schedule == "plateau":
        check_plateau(config.learning_rate, config.lr_drop_factor, config.plateau_patience,
                      config.min_delta, config.max_lr_drops)
    if config.init_checkpoint and check_files and "://" not in config.init_checkpoint:
        from kinetics_i3d.checkpoints import resolve_checkpoint

        # A prefix, its .index / .data-* file, or a run's <model_dir>/ckpt or best folder.
        resolve_checkpoint(config.init_checkpoint, "init_checkpoint")
    if config.finetune_mode == "fixed" and not config.init_checkpoint:
        raise ValueError("--finetune_mode=fixed trains only the classifier on top of pre-trained "
                         "features (Table 4 'Fixed'); it needs --init_checkpoint")


def check_plateau(learning_rate: float, drop_factor: float, patience: int, min_delta: float,
                  max_drops: int) -> None:
    """The plateau schedule's arguments (`schedule.PlateauSchedule`), checked without
    TensorFlow; raises `ValueError` naming the flag."""
    if not learning_rate > 0:
        raise ValueError(f"--learning_rate must be > 0, got {learning_rate}")
    if not 0.0 < drop_factor < 1.0:
        raise ValueError(f"--lr_drop_factor must be in (0, 1), got {drop_factor}")
    if patience < 1:
        raise ValueError(f"--plateau_patience must be >= 1, got {patience}")
    if min_delta < 0:
        raise ValueError(f"--min_delta must be >= 0, got {min_delta}")
    if max_drops < 0:
        raise ValueError(f"--max_lr_drops must be >= 0, got {max_drops}")


def check_steps(boundaries, values) -> tuple[list[int], list[float]]:
    """The step schedule's `(boundaries, values)` (`schedule.StepSchedule`) as ints and floats,
    checked without TensorFlow; raises `ValueError` naming the flag."""
    boundaries = [int(b) for b in boundaries]
    values = [float(v) for v in values]
    if len(values) != len(boundaries) + 1:
        raise ValueError(
            f"--lr_values needs one more entry than --lr_boundaries; got {len(values)} values "
            f"{values} for {len(boundaries)} boundaries {boundaries}")
    if any(b <= 0 for b in boundaries) or any(b2 <= b1 for b1, b2 in zip(boundaries,
                                                                          boundaries[1:])):
        raise ValueError(f"--lr_boundaries must be positive and strictly increasing, "
                         f"got {boundaries}")
    if any(not v > 0 for v in values):
        raise ValueError(f"--lr_values must all be > 0, got {values}")
    return boundaries, values


def batch_sizes(config: TrainConfig, num_replicas: int) -> tuple[int, int]:
    """`(global, per_replica)` batch sizes for `num_replicas` replicas.

    `--global_batch_size`, when set, wins and must divide evenly over the replicas; otherwise the
    global batch is `--batch_size_per_replica` times the replicas.
    """
    if config.global_batch_size:
        if config.global_batch_size % num_replicas:
            raise ValueError(
                f"--global_batch_size={config.global_batch_size} is not divisible by the "
                f"{num_replicas} replicas of --strategy={config.strategy}")
        return config.global_batch_size, config.global_batch_size // num_replicas
    return config.batch_size_per_replica * num_replicas, config.batch_size_per_replica
