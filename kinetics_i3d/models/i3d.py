"""Inflated Inception-v1 (I3D), Carreira & Zisserman 2017, Fig. 3; layout of DeepMind's i3d.py."""
from __future__ import annotations

import keras
import tensorflow as tf

from kinetics_i3d.layers import (
    Unit,
    apply_trunk,
    build_trunk,
    inception_v1_backbone,
    pool_layer,
    trunk_named_units,
)
from kinetics_i3d.modalities import get_modality
from kinetics_i3d.models.checks import check_dropout_rate, check_num_classes

# The release's endpoints, in order (i3d.py VALID_ENDPOINTS).
VALID_ENDPOINTS = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
    "Logits",
    "Predictions",
)

# Head (sec. 2.4 and i3d.py): 2x7x7 average pool, stride 1, VALID, on Mixed_5c.
HEAD_POOL = (2, 7, 7)
# Total temporal and spatial stride of Mixed_5c: Conv3d_1a (2), MaxPool3d_4a (2), MaxPool3d_5a (2)
# in time; those and the two 1x3x3 pools (2 each) in space.
MIXED_5C_STRIDE = (8, 32, 32)
# The fewest input frames / pixels whose Mixed_5c still fills the head's pool.
MIN_FRAMES = (HEAD_POOL[0] - 1) * MIXED_5C_STRIDE[0] + 1  # 9
MIN_PIXELS = (HEAD_POOL[1] - 1) * MIXED_5C_STRIDE[1] + 1  # 193


class I3DHead(keras.layers.Layer):
    """I3D's classifier: 2x7x7 VALID average pool, dropout, 1x1x1 conv with bias, mean over time.

    Input `Mixed_5c` features `[B, T', 7, 7, 1024]` (T' >= 2); output logits `[B, num_classes]`,
    float32: the per-time-step logits `[B, T'-1, num_classes]` averaged over time, as the release
    does ("averaged_logits"). The conv unit is named `Conv3d_0c_1x1` as in the release.
    """

    def __init__(self, num_classes: int, dropout_rate: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.dropout_rate = float(dropout_rate)
        self.avg_pool = pool_layer("avg", HEAD_POOL, 1, rank=3, padding="valid", name="AvgPool3d")
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        self.logits = Unit(
            self.num_classes, 1, rank=3, use_batch_norm=False, activation=None,
            name="Conv3d_0c_1x1",
        )

    def build(self, input_shape):
        self.logits.build(tuple(input_shape))
        self.built = True

    def call(self, features, training=None):
        shape = features.shape
        t, h, w = shape[1], shape[2], shape[3]
        if h is not None and w is not None and (h, w) != HEAD_POOL[1:]:
            raise ValueError(
                f"I3D's Logits head pools {HEAD_POOL[1]}x{HEAD_POOL[2]} VALID and needs Mixed_5c "
                f"to be exactly that size (224x224 inputs; any of {MIN_PIXELS}..224 px); got "
                f"Mixed_5c spatial size {h}x{w}"
            )
        if t is not None and t < HEAD_POOL[0]:
            raise ValueError(
                f"I3D's Logits head needs at least {HEAD_POOL[0]} Mixed_5c time steps, i.e. at "
                f"least {MIN_FRAMES} input frames; got {t} Mixed_5c step(s)"
            )
        x = self.avg_pool(features)
        x = self.dropout(x, training=training)
        x = self.logits(x)
        x = tf.squeeze(x, axis=[2, 3])  # [B, T'', num_classes]
        if t is None:
            tf.debugging.assert_positive(
                tf.shape(x)[1],
                message=f"I3D needs at least {MIN_FRAMES} input frames for one Logits time step",
            )
        return tf.cast(tf.reduce_mean(x, axis=1), tf.float32)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, dropout_rate=self.dropout_rate)
        return config


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class InceptionI3d(keras.Model):
    """I3D over `[B, T, H, W, C]` float32 in [-1, 1] (C = 3 for rgb, 2 for flow).

    `model(x, training=False)` returns the `final_endpoint` tensor: by default `Logits`, the logits
    `[B, num_classes]` averaged over time; `Predictions` is their softmax; a trunk endpoint
    returns its feature map, e.g. `Mixed_5c`: `[B, ceil(T/8), ceil(H/32), ceil(W/32), 1024]`.
    Logits need T >= 9 frames and H, W in 193..224 (224 as the paper).
    """

    def __init__(
        self,
        num_classes: int = 400,
        modality: str = "rgb",
        dropout_rate: float = 0.5,
        final_endpoint: str = "Logits",
        sync_batch_norm: bool = False,
        name: str = "inception_i3d",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if final_endpoint not in VALID_ENDPOINTS:
            raise ValueError(f"final_endpoint must be one of {VALID_ENDPOINTS}, got {final_endpoint!r}")
        check_num_classes(num_classes)
        check_dropout_rate(dropout_rate)
        self.num_classes = int(num_classes)
        self.modality = get_modality(modality)
        self.dropout_rate = float(dropout_rate)
        self.final_endpoint = final_endpoint
        self.sync_batch_norm = sync_batch_norm
        last = VALID_ENDPOINTS.index(final_endpoint)
        trunk = inception_v1_backbone(rank=3, sync_batch_norm=sync_batch_norm)
        self.trunk = [layer for endpoint, layer in trunk if VALID_ENDPOINTS.index(endpoint) <= last]
        self.trunk_endpoints = [endpoint for endpoint, _ in trunk][: len(self.trunk)]
        self.head = (
            I3DHead(self.num_classes, self.dropout_rate, name="Logits")
            if last >= VALID_ENDPOINTS.index("Logits")
            else None
        )
        self.build((None, None, None, None, self.modality.channels))

    @property
    def input_channels(self) -> int:
        return self.modality.channels

    def build(self, input_shape):
        channels = build_trunk(self.trunk, input_shape[-1], rank=3)
        if self.head is not None:
            self.head.build((None, None, None, None, channels))
        self.built = True

    def _check_input(self, x):
        if x.shape.rank != 5:
            raise ValueError(
                f"{self.name} expects [batch, time, height, width, {self.input_channels}] inputs "
                f"({self.modality.name}); got rank {x.shape.rank}, shape {x.shape}"
            )
        if x.shape[-1] is not None and x.shape[-1] != self.input_channels:
            raise ValueError(
                f"{self.name} is a {self.modality.name} model and expects {self.input_channels} "
                f"input channels; got {x.shape[-1]} (shape {x.shape})"
            )

    def call(self, inputs, training=None):
        x = tf.convert_to_tensor(inputs)
        self._check_input(x)
        if self.compute_dtype != x.dtype:
            x = tf.cast(x, self.compute_dtype)
        x = apply_trunk(self.trunk, x, training=training)
        if self.head is None:
            return x
        logits = self.head(x, training=training)
        if self.final_endpoint == "Predictions":
            return tf.nn.softmax(logits)
        return logits

    def stream_networks(self) -> dict[str, "InceptionI3d"]:
        """`{modality: self}`: the one stream (as `TwoStreamI3D.stream_networks`)."""
        return {self.modality.name: self}

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layer: `[Logits/Conv3d_0c_1x1]` (`head.logits`, `[.., num_classes]`
        units); empty for a feature model (`final_endpoint` before `Logits`)."""
        return [self.head.logits] if self.head is not None else []

    def named_units(self) -> list[tuple[str, Unit]]:
        """`(release path, unit)` for every conv unit, e.g. `("Mixed_4b/Branch_1/Conv3d_0b_3x3", u)`."""
        named = trunk_named_units(self.trunk_endpoints, self.trunk)
        if self.head is not None:
            named.append(("Logits/Conv3d_0c_1x1", self.head.logits))
        return named

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "modality": self.modality.name,
            "dropout_rate": self.dropout_rate,
            "final_endpoint": self.final_endpoint,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }
