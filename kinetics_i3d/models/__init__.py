"""The paper's architectures as Keras models, and `build(name, ...)` over the one registry.

The registry is `kinetics_i3d.specs.SPECS`: each name's model class, temporal interface, streams,
loss and test-time prediction live in its `ModelSpec`; `build` and `names` read it.
"""
from __future__ import annotations

import keras

from kinetics_i3d import specs
from kinetics_i3d.models.baselines import (
    C3D,
    ConvNetLSTM,
    Fused3DTwoStream,
    TwoStream2D,
    TwoStreamI3D,
)
from kinetics_i3d.models.i3d import VALID_ENDPOINTS, InceptionI3d
from kinetics_i3d.models.inception_v1 import InceptionV1


def names() -> list[str]:
    return specs.names()


def build(name: str, num_classes: int, **kwargs) -> keras.Model:
    """Builds the registered architecture `name` with `num_classes` outputs
    (`specs.get_spec(name).build`); a ValueError naming the registered models otherwise."""
    return specs.get_spec(name).build(num_classes, **kwargs)


__all__ = [
    "C3D",
    "ConvNetLSTM",
    "Fused3DTwoStream",
    "InceptionI3d",
    "InceptionV1",
    "TwoStream2D",
    "TwoStreamI3D",
    "VALID_ENDPOINTS",
    "build",
    "names",
]
