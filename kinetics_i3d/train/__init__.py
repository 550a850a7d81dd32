"""Training: config and flags, strategies, learning-rate schedules, the distributed loop.

The names below are imported on first use (PEP 562), so `kinetics_i3d.train.config` and
`kinetics_i3d.train.flags` load without TensorFlow: a tool checks its flags before TF starts.
`classifier_layers` and `initialize_from_checkpoint` live with the checkpoint formats
(`kinetics_i3d.checkpoints.run`, `kinetics_i3d.checkpoints.init`) and are re-exported here.
"""
import importlib

_EXPORTS = {
    "TrainConfig": ".config", "batch_sizes": ".config", "validate": ".config",
    "Trainer": ".loop", "build_model": ".loop",
    "PlateauSchedule": ".schedule", "StepSchedule": ".schedule",
    "make_strategy": ".strategy",
    "classifier_layer": "kinetics_i3d.checkpoints.run",
    "classifier_layers": "kinetics_i3d.checkpoints.run",
    "initialize_from_checkpoint": "kinetics_i3d.checkpoints.init",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
