"""Conv-BN-ReLU units and the Inception-v1 module, in 2D or 3D from one definition.

The 3D versions are the "inflated" ones of the paper (sec. 2.4, Fig. 3 right): the same module
with N x N kernels made N x N x N. `rank=2` gives the ImageNet Inception-v1 (with BN) module the
paper starts from; `rank=3` gives I3D's. Layer names follow Fig. 3 and DeepMind's release
(`Branch_1/Conv3d_0b_3x3`), so checkpoint maps are nearly the identity.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

# DeepMind release (i3d.py, Unit3D): BatchNorm with epsilon 1e-3, an offset (beta) and no scale
# (gamma); Sonnet's BatchNorm default decay rate is 0.999.
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.999


def _tuple(value: int | Sequence[int], rank: int, what: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"{what} must have {rank} entries for rank {rank}, got {value}")
    return value


class Unit(keras.layers.Layer):
    """Convolution (`SAME`, no bias) + BatchNorm (eps 1e-3, no scale) + ReLU, in 2D or 3D.

    Input `[B, (T,) H, W, C]`, output `[B, (T',) H', W', filters]`. With `use_batch_norm=False`
    the convolution has a bias instead (the release's logits layer), and `activation=None` drops
    the ReLU.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int] = 1,
        strides: int | Sequence[int] = 1,
        rank: int = 3,
        use_batch_norm: bool = True,
        activation: str | None = "relu",
        sync_batch_norm: bool = False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rank not in (2, 3):
            raise ValueError(f"rank must be 2 or 3, got {rank}")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.rank = rank
        self.use_batch_norm = use_batch_norm
        self.activation = activation
        self.sync_batch_norm = sync_batch_norm
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        conv_cls = keras.layers.Conv3D if rank == 3 else keras.layers.Conv2D
        self.conv = conv_cls(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding="same",  # release: snt.Conv3D(padding=snt.SAME)
            use_bias=not use_batch_norm,
            kernel_initializer=self.kernel_initializer,
            name="conv",
        )
        self.bn = (
            keras.layers.BatchNormalization(
                epsilon=BN_EPSILON,
                momentum=BN_MOMENTUM,
                center=True,
                scale=False,
                synchronized=sync_batch_norm,
                name="bn",
            )
            if use_batch_norm
            else None
        )

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.bn is not None:
            self.bn.build(tuple(input_shape[:-1]) + (self.filters,))
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.bn is not None:
            x = self.bn(x, training=training)
        if self.activation == "relu":
            x = tf.nn.relu(x)
        elif self.activation is not None:
            x = keras.activations.get(self.activation)(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            rank=self.rank,
            use_batch_norm=self.use_batch_norm,
            activation=self.activation,
            sync_batch_norm=self.sync_batch_norm,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


def pool_layer(
    kind: str,
    pool_size: int | Sequence[int],
    strides: int | Sequence[int],
    rank: int,
    padding: str = "same",
    name: str | None = None,
) -> keras.layers.Layer:
    """A max or average pool of the given rank (TF `SAME` padding unless told otherwise)."""
    layers = {
        ("max", 2): keras.layers.MaxPooling2D,
        ("max", 3): keras.layers.MaxPooling3D,
        ("avg", 2): keras.layers.AveragePooling2D,
        ("avg", 3): keras.layers.AveragePooling3D,
    }
    if (kind, rank) not in layers:
        raise ValueError(f"pool kind must be 'max' or 'avg' and rank 2 or 3, got {kind!r}, {rank}")
    return layers[(kind, rank)](
        pool_size=_tuple(pool_size, rank, "pool_size"),
        strides=_tuple(strides, rank, "strides"),
        padding=padding,
        name=name,
    )


# Inception-v1 (GoogLeNet, Szegedy et al. 2015, Table 1) module widths, as in DeepMind's
# i3d.py and TF-slim's inception_v1.py: (Branch_0 1x1, Branch_1 1x1 reduce, Branch_1 3x3,
# Branch_2 1x1 reduce, Branch_2 3x3, Branch_3 pool-proj 1x1).
INCEPTION_V1_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionModule(keras.layers.Layer):
    """The Inception-v1 module (Fig. 3 right), 2D or inflated 3D.

    Four branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max-pool (stride 1,
    `SAME`) -> 1x1. In 3D every 3x3 becomes 3x3x3. Input `[B, (T,) H, W, C]`, output the same
    spatial/temporal size with `sum(widths of the four branch outputs)` channels.

    `unit_names` overrides the default unit paths (e.g. TF-slim's `Mixed_5b` names its Branch_2
    3x3 conv `Conv2d_0a_3x3`); keys are the default paths. Keras forbids `/` in layer names, so
    each unit's Keras name is its path with `/` replaced by `_`; `named_units()` gives the paths.
    """

    def __init__(
        self,
        widths: Sequence[int],
        rank: int = 3,
        sync_batch_norm: bool = False,
        unit_names: dict[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(widths) != 6:
            raise ValueError(f"an Inception module needs 6 widths, got {widths}")
        self.widths = tuple(int(w) for w in widths)
        self.rank = rank
        self.sync_batch_norm = sync_batch_norm
        self.unit_names = dict(unit_names or {})
        d = f"Conv{rank}d"
        pool_name = "MaxPool3d_0a_3x3" if rank == 3 else "MaxPool_0a_3x3"
        b0, b1a, b1b, b2a, b2b, b3b = self.widths

        self._unit_paths: list[str] = []

        def unit(filters, k, default_path):
            path = self.unit_names.get(default_path, default_path)
            self._unit_paths.append(path)
            return Unit(
                filters,
                k,
                rank=rank,
                sync_batch_norm=sync_batch_norm,
                name=path.replace("/", "_"),
            )

        # Paths inside the module ("Branch_1/Conv3d_0b_3x3") are what checkpoints name.
        self.branches = [
            [unit(b0, 1, f"Branch_0/{d}_0a_1x1")],
            [unit(b1a, 1, f"Branch_1/{d}_0a_1x1"), unit(b1b, 3, f"Branch_1/{d}_0b_3x3")],
            [unit(b2a, 1, f"Branch_2/{d}_0a_1x1"), unit(b2b, 3, f"Branch_2/{d}_0b_3x3")],
            [
                pool_layer("max", 3, 1, rank, name=f"Branch_3_{pool_name}"),
                unit(b3b, 1, f"Branch_3/{d}_0b_1x1"),
            ],
        ]

    def named_units(self) -> list[tuple[str, Unit]]:
        """`(path, unit)` for the module's conv units in branch order, e.g. `Branch_1/Conv3d_0b_3x3`."""
        units = [layer for branch in self.branches for layer in branch if isinstance(layer, Unit)]
        return list(zip(self._unit_paths, units))

    @property
    def output_channels(self) -> int:
        b0, _, b1b, _, b2b, b3b = self.widths
        return b0 + b1b + b2b + b3b

    def build(self, input_shape):
        for branch in self.branches:
            shape = tuple(input_shape)
            for layer in branch:
                if isinstance(layer, Unit):
                    layer.build(shape)
                    shape = shape[:-1] + (layer.filters,)
        self.built = True

    def call(self, inputs, training=None):
        outputs = []
        for branch in self.branches:
            x = inputs
            for layer in branch:
                x = layer(x, training=training) if isinstance(layer, Unit) else layer(x)
            outputs.append(x)
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            widths=self.widths,
            rank=self.rank,
            sync_batch_norm=self.sync_batch_norm,
            unit_names=self.unit_names,
        )
        return config


def inception_v1_backbone(
    rank: int,
    sync_batch_norm: bool = False,
    unit_names: dict[str, dict[str, str]] | None = None,
) -> list[tuple[str, keras.layers.Layer]]:
    """The Inception-v1 trunk up to `Mixed_5c` as an ordered list of `(endpoint, layer)`.

    `rank=2`: TF-slim InceptionV1 (names `Conv2d_1a_7x7`, `MaxPool_2a_3x3`, ...), all pools 3x3
    stride 2 except `MaxPool_5a_2x2`. `rank=3`: I3D as Fig. 3 and DeepMind's i3d.py (names
    `Conv3d_1a_7x7`, `MaxPool3d_2a_3x3`, ...): cubic kernels, and no temporal pooling in the first
    two max-pools (1x3x3, stride 1 in time; sec. 2.4 "Pacing receptive field growth").
    `unit_names` maps an endpoint (`Mixed_5b`) to unit path overrides for its module.
    """
    if rank not in (2, 3):
        raise ValueError(f"rank must be 2 or 3, got {rank}")
    d = f"Conv{rank}d"
    # TF-slim's inception_v1.py names Mixed_5b's Branch_2 3x3 conv "Conv2d_0a_3x3" (not "0b"), and
    # DeepMind's released I3D checkpoints keep that name ("Mixed_5b/Branch_2/Conv3d_0a_3x3").
    quirks = {"Mixed_5b": {f"Branch_2/{d}_0b_3x3": f"Branch_2/{d}_0a_3x3"}}
    unit_names = {**quirks, **(unit_names or {})}
    mp = "MaxPool3d" if rank == 3 else "MaxPool"

    def spatial(k_time: int, k_space: int) -> tuple[int, ...]:
        return (k_time, k_space, k_space) if rank == 3 else (k_space, k_space)

    def unit(name, filters, k, s=1):
        return name, Unit(
            filters, spatial(k, k), spatial(s, s), rank=rank, sync_batch_norm=sync_batch_norm,
            name=name,
        )

    def pool(name, k_time, k_space, s_time, s_space):
        return name, pool_layer("max", spatial(k_time, k_space), spatial(s_time, s_space), rank,
                                name=name)

    def mixed(name):
        return name, InceptionModule(
            INCEPTION_V1_MIXED[name], rank=rank, sync_batch_norm=sync_batch_norm,
            unit_names=unit_names.get(name), name=name,
        )

    return [
        unit(f"{d}_1a_7x7", 64, 7, 2),
        pool(f"{mp}_2a_3x3", 1, 3, 1, 2),  # Fig. 3: 1x3x3, stride 1,2,2
        unit(f"{d}_2b_1x1", 64, 1),
        unit(f"{d}_2c_3x3", 192, 3),
        pool(f"{mp}_3a_3x3", 1, 3, 1, 2),  # Fig. 3: 1x3x3, stride 1,2,2
        mixed("Mixed_3b"),
        mixed("Mixed_3c"),
        pool(f"{mp}_4a_3x3", 3, 3, 2, 2),  # Fig. 3: 3x3x3, stride 2
        mixed("Mixed_4b"),
        mixed("Mixed_4c"),
        mixed("Mixed_4d"),
        mixed("Mixed_4e"),
        mixed("Mixed_4f"),
        pool(f"{mp}_5a_2x2", 2, 2, 2, 2),  # Fig. 3: 2x2x2, stride 2
        mixed("Mixed_5b"),
        mixed("Mixed_5c"),
    ]


def build_trunk(layers: list[keras.layers.Layer], channels: int, rank: int) -> int:
    """Creates the weights of a trunk from its input channel count alone; returns its output's.

    Spatial and temporal sizes stay unknown, so a model has its variables (and parameter count)
    right after construction, without a forward pass.
    """
    for layer in layers:
        shape = (None,) * (rank + 1) + (channels,)
        if isinstance(layer, Unit):
            layer.build(shape)
            channels = layer.filters
        elif isinstance(layer, InceptionModule):
            layer.build(shape)
            channels = layer.output_channels
    return channels


def apply_trunk(layers: list[keras.layers.Layer], x, training=None):
    """Runs a trunk; conv units and modules get `training` (their BatchNorm), pools do not."""
    for layer in layers:
        x = layer(x, training=training) if isinstance(layer, (Unit, InceptionModule)) else layer(x)
    return x


def trunk_named_units(endpoints: list[str], layers: list[keras.layers.Layer]) -> list[tuple[str, Unit]]:
    """`(checkpoint path, unit)` for every conv unit of a trunk, e.g. `Mixed_4b/Branch_1/Conv3d_0b_3x3`."""
    named = []
    for endpoint, layer in zip(endpoints, layers):
        if isinstance(layer, Unit):
            named.append((endpoint, layer))
        elif isinstance(layer, InceptionModule):
            named.extend((f"{endpoint}/{path}", unit) for path, unit in layer.named_units())
    return named
