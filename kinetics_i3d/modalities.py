"""The one place that says what a modality changes: input channels and the checkpoint scope."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Modality:
    name: str
    channels: int  # last axis of the network input
    scope: str  # top-level variable scope in DeepMind's released checkpoints


# DeepMind release (kinetics-i3d, evaluate_sample.py): RGB inputs have 3 channels under the
# "RGB/inception_i3d" scope, TV-L1 flow inputs have 2 (x, y) under "Flow/inception_i3d".
MODALITIES = {
    "rgb": Modality("rgb", 3, "RGB"),
    "flow": Modality("flow", 2, "Flow"),
}


def get_modality(name: str) -> Modality:
    try:
        return MODALITIES[name]
    except KeyError:
        raise ValueError(f"modality must be one of {sorted(MODALITIES)}, got {name!r}") from None
