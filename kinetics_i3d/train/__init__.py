"""Training: config and flags, strategies, learning-rate schedules, the distributed loop.

The names below are imported on first use (PEP 562), so `kinetics_i3d.train.config` and
`kinetics_i3d.train.flags` load without TensorFlow: a tool checks its flags before TF starts.
"""
import importlib

_EXPORTS = {
    "TrainConfig": "config", "batch_sizes": "config", "validate": "config",
    "Trainer": "loop", "build_model": "loop", "classifier_layer": "loop",
    "classifier_layers": "loop", "initialize_from_checkpoint": "loop",
    "PlateauSchedule": "schedule", "StepSchedule": "schedule",
    "make_strategy": "strategy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
