"""ImageNet Inception-v1 with BatchNorm (TF-slim `InceptionV1`), the 2D network I3D is inflated from.

Sec. 2.4 of the paper starts from "Inception-v1 with batch normalization" pre-trained on ImageNet;
the public weights are TF-slim's `inception_v1_2016_08_28`. The trunk is the same
`inception_v1_backbone` I3D uses, at `rank=2`, so names follow slim (`Conv2d_1a_7x7`,
`Mixed_3b/Branch_1/Conv2d_0b_3x3`); the head is slim's (tensorflow/models
research/slim/nets/inception_v1.py): `AvgPool_0a_7x7` (7x7, stride 1, VALID), dropout
(`Dropout_0b`), `Conv2d_0c_1x1` with bias and no BN, spatial squeeze.
"""
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
from kinetics_i3d.models.checks import check_dropout_rate, check_num_classes

# slim inception_v1_base endpoints, then the head's (slim's `end_points` keys).
TRUNK_ENDPOINTS = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)
# `AvgPool_0a_7x7` is the pooled feature `[B, 1, 1, 1024]` (at 224x224), before dropout and logits.
POOLED_ENDPOINT = "AvgPool_0a_7x7"
ENDPOINTS = TRUNK_ENDPOINTS + (POOLED_ENDPOINT, "Logits", "Predictions")

# slim inception_v1: avg_pool2d(net, [7, 7], stride=1) with slim's default VALID padding.
HEAD_POOL = 7
# Total spatial stride of Mixed_5c: Conv2d_1a and the four stride-2 max-pools.
MIXED_5C_STRIDE = 32
# slim inception_v1(num_classes=1000) plus the background class of the released checkpoint.
IMAGENET_CLASSES = 1001
# slim inception_v1 default dropout_keep_prob=0.8.
DEFAULT_DROPOUT_RATE = 0.2
MIXED_5C_CHANNELS = 1024



@keras.saving.register_keras_serializable(package="kinetics_i3d")
class InceptionV1(keras.Model):
    """2D Inception-v1 (with BN) over images `[B, H, W, C]`, float32 in [-1, 1].

    `model(x, training=False)` returns the `final_endpoint` tensor:
    - a trunk endpoint (`Conv2d_1a_7x7` ... `Mixed_5c`): its feature map; `Mixed_5c` is
      `[B, ceil(H/32), ceil(W/32), 1024]` (`[B, 7, 7, 1024]` at 224x224);
    - `AvgPool_0a_7x7`: the 7x7 VALID average pool of `Mixed_5c`, `[B, H'-6, W'-6, 1024]`
      (`[B, 1, 1, 1024]` at 224x224; needs Mixed_5c at least 7x7, i.e. H, W >= 193);
    - `Logits`: `[B, num_classes]` float32 (needs Mixed_5c exactly 7x7: H, W in 193..224);
    - `Predictions`: their softmax.

    `input_channels` is 3 for RGB; other counts (e.g. 20 for the Two-Stream baseline's stacked
    flow) change only `Conv2d_1a_7x7`'s kernel. Unit paths (`named_units()`) are slim's.
    """

    def __init__(
        self,
        num_classes: int = IMAGENET_CLASSES,
        input_channels: int = 3,
        dropout_rate: float = DEFAULT_DROPOUT_RATE,
        final_endpoint: str = "Logits",
        sync_batch_norm: bool = False,
        name: str = "InceptionV1",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if final_endpoint not in ENDPOINTS:
            raise ValueError(f"final_endpoint must be one of {ENDPOINTS}, got {final_endpoint!r}")
        check_num_classes(num_classes)
        if int(input_channels) < 1:
            raise ValueError(f"input_channels must be positive, got {input_channels}")
        check_dropout_rate(dropout_rate)
        self.num_classes = int(num_classes)
        self.input_channels = int(input_channels)
        self.dropout_rate = float(dropout_rate)
        self.final_endpoint = final_endpoint
        self.sync_batch_norm = sync_batch_norm
        last = ENDPOINTS.index(final_endpoint)
        trunk = inception_v1_backbone(rank=2, sync_batch_norm=sync_batch_norm)
        assert tuple(e for e, _ in trunk) == TRUNK_ENDPOINTS, "backbone endpoints changed"
        self.trunk = [layer for endpoint, layer in trunk if ENDPOINTS.index(endpoint) <= last]
        self.trunk_endpoints = list(TRUNK_ENDPOINTS[: len(self.trunk)])
        self.avg_pool = (
            pool_layer("avg", HEAD_POOL, 1, rank=2, padding="valid", name=POOLED_ENDPOINT)
            if last >= ENDPOINTS.index(POOLED_ENDPOINT)
            else None
        )
        if last >= ENDPOINTS.index("Logits"):
            self.dropout = keras.layers.Dropout(self.dropout_rate, name="Dropout_0b")
            self.logits = Unit(
                self.num_classes, 1, rank=2, use_batch_norm=False, activation=None,
                name="Conv2d_0c_1x1",
            )
        else:
            self.dropout = None
            self.logits = None
        self.build((None, None, None, self.input_channels))

    def build(self, input_shape):
        channels = build_trunk(self.trunk, input_shape[-1], rank=2)
        if self.logits is not None:
            self.logits.build((None, 1, 1, channels))
        self.built = True

    def _check_input(self, x):
        if x.shape.rank != 4:
            raise ValueError(
                f"{self.name} expects [batch, height, width, {self.input_channels}] images; got "
                f"rank {x.shape.rank}, shape {x.shape}"
            )
        if x.shape[-1] is not None and x.shape[-1] != self.input_channels:
            raise ValueError(
                f"{self.name} was built for {self.input_channels} input channels; got "
                f"{x.shape[-1]} (shape {x.shape})"
            )

    def _check_pool_input(self, x):
        h, w = x.shape[1], x.shape[2]
        need_exact = self.logits is not None  # spatial squeeze needs a 1x1 pooled map
        for size in (h, w):
            if size is None:
                continue
            if size < HEAD_POOL or (need_exact and size != HEAD_POOL):
                raise ValueError(
                    f"{self.name}: endpoint {self.final_endpoint} pools Mixed_5c {HEAD_POOL}x"
                    f"{HEAD_POOL} VALID and needs Mixed_5c "
                    f"{'exactly' if need_exact else 'at least'} {HEAD_POOL}x{HEAD_POOL} "
                    f"(inputs of {(HEAD_POOL - 1) * MIXED_5C_STRIDE + 1}.."
                    f"{HEAD_POOL * MIXED_5C_STRIDE} px{'' if need_exact else ' or more'}); got "
                    f"Mixed_5c {h}x{w}"
                )

    def call(self, inputs, training=None):
        x = tf.convert_to_tensor(inputs)
        self._check_input(x)
        if self.compute_dtype != x.dtype:
            x = tf.cast(x, self.compute_dtype)
        x = apply_trunk(self.trunk, x, training=training)
        if self.avg_pool is None:
            return x
        self._check_pool_input(x)
        x = self.avg_pool(x)
        if self.logits is None:
            return x
        x = self.dropout(x, training=training)
        x = self.logits(x)
        logits = tf.cast(tf.squeeze(x, axis=[1, 2]), tf.float32)  # slim "SpatialSqueeze"
        if self.final_endpoint == "Predictions":
            return tf.nn.softmax(logits)
        return logits

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layer: `[Logits/Conv2d_0c_1x1]` (`num_classes` units); empty for a
        feature model (`final_endpoint` before `Logits`, as in the baselines' towers)."""
        return [self.logits] if self.logits is not None else []

    def named_units(self) -> list[tuple[str, Unit]]:
        """`(slim path, unit)` per conv unit, e.g. `("Mixed_3b/Branch_1/Conv2d_0b_3x3", u)`.

        Paths are relative to the `InceptionV1/` scope; the logits unit is
        `Logits/Conv2d_0c_1x1` (present for `final_endpoint` Logits or Predictions).
        """
        named = trunk_named_units(self.trunk_endpoints, self.trunk)
        if self.logits is not None:
            named.append(("Logits/Conv2d_0c_1x1", self.logits))
        return named

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "input_channels": self.input_channels,
            "dropout_rate": self.dropout_rate,
            "final_endpoint": self.final_endpoint,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }
