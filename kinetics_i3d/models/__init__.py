"""The paper's architectures as Keras models, and `build(name, ...)`: the one registry.

Registry names are shared with the input pipeline's temporal interfaces
(`kinetics_i3d.data.interfaces`), so `build("i3d", ...)` and the "i3d" interface go together.
"""
from __future__ import annotations

from typing import Callable

import keras

from kinetics_i3d.models.baselines import (
    C3D,
    ConvNetLSTM,
    Fused3DTwoStream,
    TwoStream2D,
    TwoStreamI3D,
)
from kinetics_i3d.models.i3d import VALID_ENDPOINTS, InceptionI3d
from kinetics_i3d.models.inception_v1 import InceptionV1

_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "i3d": InceptionI3d,
    "inception_v1": InceptionV1,
    # The paper's baselines (sec. 2.1-2.3, Fig. 2 a-d) and Two-Stream I3D (Fig. 2e).
    "convnet_lstm": ConvNetLSTM,
    "c3d": C3D,
    "two_stream": TwoStream2D,
    "fused_two_stream": Fused3DTwoStream,
    "two_stream_i3d": TwoStreamI3D,
}


def names() -> list[str]:
    return sorted(_BUILDERS)


def build(name: str, num_classes: int, **kwargs) -> keras.Model:
    """Builds the registered architecture `name` with `num_classes` outputs."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {names()}") from None
    return builder(num_classes=num_classes, **kwargs)


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
