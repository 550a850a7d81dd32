"""Checkpoint name maps: DeepMind's released I3D checkpoints (and, later, ImageNet inflation)."""
from kinetics_i3d.checkpoints.released import (
    ReleasedLayout,
    detect_layout,
    export_released,
    model_variable_names,
    read_num_classes,
    released_variable_names,
    restore_released,
    write_checkpoint,
)

__all__ = [
    "ReleasedLayout",
    "detect_layout",
    "export_released",
    "model_variable_names",
    "read_num_classes",
    "released_variable_names",
    "restore_released",
    "write_checkpoint",
]
