"""Training: config and flags, strategies, learning-rate schedules, the distributed loop."""
from kinetics_i3d.train.config import TrainConfig, batch_sizes, validate
from kinetics_i3d.train.loop import (
    Trainer,
    build_model,
    classifier_layer,
    classifier_layers,
    initialize_from_checkpoint,
)
from kinetics_i3d.train.schedule import PlateauSchedule, StepSchedule
from kinetics_i3d.train.strategy import make_strategy

__all__ = ["PlateauSchedule", "StepSchedule", "TrainConfig", "Trainer", "batch_sizes",
           "build_model", "classifier_layer", "classifier_layers", "initialize_from_checkpoint",
           "make_strategy", "validate"]
