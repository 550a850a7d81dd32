"""The paper's four baselines (sec. 2.1-2.3, Fig. 2 a-d) and Two-Stream I3D (Fig. 2 e), in Keras.

All take channels-last float32 inputs in [-1, 1] (RGB frames; TV-L1 flow, x then y) and return
float32 logits `[B, num_classes]` from `model(inputs, training=...)`, like `InceptionI3d`.
Every model but C3D uses the 2D ImageNet Inception-v1 (`InceptionV1`, up to `Mixed_5c`) as its
per-frame tower; `imagenet_towers` lists them for `restore_slim_inception_v1`. Every model
names its class-scoring layers in `classifier_layers()` (Table 4 'Fixed' trains only them).

Where a model averages predictions (Two-Stream's streams, snapshots and C3D's clips) it returns
`log(mean_k softmax(logits_k))`: logits whose softmax is the averaged prediction, so the usual
`from_logits=True` cross-entropy trains "including the two-stream averaging process" (sec. 2.3)
and argmax/softmax at test time are those of the averaged prediction.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from kinetics_i3d.layers import Unit, pool_layer
from kinetics_i3d.layers.inception import BN_EPSILON, BN_MOMENTUM
from kinetics_i3d.models.bn_lstm import BNLSTMCell
from kinetics_i3d.models.i3d import InceptionI3d
from kinetics_i3d.models.inception_v1 import MIXED_5C_CHANNELS, InceptionV1
from kinetics_i3d.models.checks import check_dropout_rate, check_num_classes

# The paper gives no dropout for the baselines: 0.5 before each new classifier, as InceptionI3d's
# default.
DEFAULT_DROPOUT_RATE = 0.5
# Sec. 2.3: "a stack of 10 externally computed optical flow frames".
FLOW_STACK = 10
FLOW_CHANNELS = 2  # x, y per frame


def stack_flow(flow: tf.Tensor) -> tf.Tensor:
    """`[..., L, H, W, 2]` flow frames -> `[..., H, W, 2L]` channels `x_0, y_0, x_1, y_1, ...`.

    Simonyan & Zisserman's stacking (sec. 3.1 of [27]): channel `2k` is frame k's horizontal and
    `2k + 1` its vertical component.
    """
    flow = tf.convert_to_tensor(flow)
    rank = flow.shape.rank
    if rank is None or rank < 4 or flow.shape[-1] != FLOW_CHANNELS:
        raise ValueError(f"stack_flow expects [..., L, H, W, 2] flow, got shape {flow.shape}")
    perm = list(range(rank - 4)) + [rank - 3, rank - 2, rank - 4, rank - 1]
    x = tf.transpose(flow, perm)  # [..., H, W, L, 2]
    shape = tf.shape(x)
    static = flow.shape
    channels = None if static[-4] is None else static[-4] * FLOW_CHANNELS
    out = tf.reshape(x, tf.concat([shape[:-2], [-1]], axis=0))
    return tf.ensure_shape(out, static[:-4].concatenate([static[-3], static[-2], channels]))


def average_predictions(logits: tf.Tensor, axis: int | Sequence[int] = 1) -> tf.Tensor:
    """`log(mean(softmax(logits)))` over `axis`: the logits of the averaged class prediction."""
    logits = tf.cast(logits, tf.float32)
    axes = [axis] if isinstance(axis, int) else list(axis)
    count = 1
    for a in axes:
        count *= tf.shape(logits)[a]
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    return tf.reduce_logsumexp(log_probs, axis=axes) - tf.math.log(tf.cast(count, tf.float32))


def _check_rank(x: tf.Tensor, rank: int, layout: str, what: str) -> None:
    if x.shape.rank != rank:
        raise ValueError(f"{what} must be {layout}; got rank {x.shape.rank}, shape {x.shape}")


def _get(inputs: Mapping[str, tf.Tensor], key: str, model: str) -> tf.Tensor:
    if not isinstance(inputs, Mapping):
        raise ValueError(f"{model} takes a dict with keys 'rgb' and 'flow'; got {type(inputs)}")
    if key not in inputs:
        raise ValueError(f"{model} inputs need key {key!r}; got keys {sorted(inputs)}")
    return tf.convert_to_tensor(inputs[key])


def _frames_to_images(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`[B, T, H, W, C]` -> (`[B*T, H, W, C]`, the dynamic `[B, T]`)."""
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([[-1], shape[2:]], axis=0)), shape[:2]


def _tower(channels: int, name: str, sync_batch_norm: bool) -> InceptionV1:
    # The tower ends at Mixed_5c; heads pool it themselves (so small test images work too).
    return InceptionV1(
        input_channels=channels, final_endpoint="Mixed_5c", sync_batch_norm=sync_batch_norm,
        name=name,
    )


def _flow_stacked(flow: tf.Tensor, flow_frames: int, model: str) -> tf.Tensor:
    """Flow `[B, S, L, H, W, 2]` or already stacked `[B, S, H, W, 2L]` -> `[B, S, H, W, 2L]`."""
    if flow.shape.rank == 6:
        if flow.shape[2] is not None and flow.shape[2] != flow_frames:
            raise ValueError(
                f"{model} flow input [B, S, L, H, W, 2] needs L = {flow_frames} frames per stack; "
                f"got shape {flow.shape}"
            )
        flow = stack_flow(flow)
    _check_rank(flow, 5, f"[B, S, {flow_frames}, H, W, 2] or [B, S, H, W, "
                f"{FLOW_CHANNELS * flow_frames}]", f"{model} 'flow' input")
    if flow.shape[-1] != FLOW_CHANNELS * flow_frames:
        raise ValueError(
            f"{model} 'flow' input needs {FLOW_CHANNELS * flow_frames} stacked channels "
            f"({flow_frames} frames of x, y); got shape {flow.shape}"
        )
    return flow


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class ConvNetLSTM(keras.Model):
    """ConvNet+LSTM (sec. 2.1, Fig. 2a): Inception-v1 per frame -> BN-LSTM -> FC classifier.

    Input: RGB frames `[B, T, H, W, 3]` in [-1, 1] (paper: T = 25 in training, 50 at test, one
    frame in five of 25 fps; H = W = 224). T must be static (the LSTM is unrolled). Each frame's
    `Mixed_5c` is averaged over space (Inception-v1's last average pool at 224x224) to 1024
    features, fed to a `BNLSTMCell` of `lstm_units`, then dropout and a dense classifier.

    `model(x, training=..., return_sequences=False)`: logits of the last step `[B, num_classes]`
    (the test output, sec. 2.1: "we consider only the output on the last frame");
    `return_sequences=True`: logits of every step `[B, T, num_classes]`, for the training loss
    ("cross-entropy losses on the outputs at all time steps").
    """

    def __init__(
        self,
        num_classes: int = 400,
        lstm_units: int = 512,
        max_steps: int = 25,
        dropout_rate: float = DEFAULT_DROPOUT_RATE,
        sync_batch_norm: bool = False,
        name: str = "convnet_lstm",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        check_num_classes(num_classes)
        check_dropout_rate(dropout_rate)
        self.num_classes = int(num_classes)
        self.lstm_units = int(lstm_units)
        self.max_steps = int(max_steps)
        self.dropout_rate = float(dropout_rate)
        self.sync_batch_norm = sync_batch_norm
        self.tower = _tower(3, "InceptionV1", sync_batch_norm)
        # Sec. 2.1: "an LSTM layer with batch normalization (as proposed by Cooijmans et al.)
        # ... with 512 hidden units".
        self.lstm = keras.layers.RNN(
            BNLSTMCell(self.lstm_units, max_steps=self.max_steps, name="bn_lstm_cell"),
            return_sequences=True,
            unroll=True,  # see BNLSTMCell: the while-loop path would update step 0's stats twice
            name="bn_lstm",
        )
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
        self.classifier = keras.layers.Dense(self.num_classes, name="Logits")
        self.build((None, None, None, None, 3))

    @property
    def imagenet_towers(self) -> list[InceptionV1]:
        return [self.tower]

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layer: `[classifier]` (`num_classes` units)."""
        return [self.classifier]

    def build(self, input_shape):
        self.lstm.build((None, None, MIXED_5C_CHANNELS))
        self.classifier.build((None, None, self.lstm_units))
        self.built = True

    def call(self, inputs, training=None, return_sequences: bool = False):
        x = tf.convert_to_tensor(inputs)
        _check_rank(x, 5, "[B, T, H, W, 3] RGB frames", f"{self.name} input")
        if x.shape[-1] != 3 or x.shape[1] is None:
            raise ValueError(
                f"{self.name} expects [B, T, H, W, 3] with a static T (the BN-LSTM is unrolled); "
                f"got shape {x.shape}"
            )
        images, bt = _frames_to_images(x)
        features = tf.reduce_mean(self.tower(images, training=training), axis=[1, 2])
        features = tf.reshape(features, tf.concat([bt, [MIXED_5C_CHANNELS]], axis=0))
        features = tf.ensure_shape(features, [None, x.shape[1], MIXED_5C_CHANNELS])
        hidden = self.lstm(features, training=training)  # [B, T, units]
        logits = self.classifier(self.dropout(hidden, training=training))
        logits = tf.cast(logits, tf.float32)
        return logits if return_sequences else logits[:, -1]

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "lstm_units": self.lstm_units,
            "max_steps": self.max_steps,
            "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }


# C3D (Tran et al. 2015, Fig. 3): conv1a 64, conv2a 128, conv3a/b 256, conv4a/b 512, conv5a/b 512.
C3D_FILTERS = (64, 128, 256, 256, 512, 512, 512, 512)
C3D_CONV_NAMES = ("conv1a", "conv2a", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
C3D_POOL_AFTER = {"conv1a": "pool1", "conv2a": "pool2", "conv3b": "pool3", "conv4b": "pool4",
                  "conv5b": "pool5"}


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class C3D(keras.Model):
    """The C3D-like 3D ConvNet (sec. 2.2, Fig. 2b), trained from scratch.

    8 3x3x3 convs (stride 1, `SAME`), each with BN and ReLU (`Unit`); 5 2x2x2 max-pools with
    stride 2 (`SAME`), the first pooling in time too (the paper's change; C3D's pool1 is 1x2x2);
    fc6, fc7 (`fc_units`, BN, ReLU, dropout) and the classifier fc8 (with bias, no BN).
    At 16x112x112, pool5 is 1x4x4x512 = 8192 features, as in C3D.

    Input: `[B, frames, image_size, image_size, 3]` RGB in [-1, 1] (paper 16x112x112), or
    `[B, S, frames, image_size, image_size, 3]`: S clips whose predictions are averaged (the
    test interface, Table 1: 240 frames = 15 clips of 16). Output logits `[B, num_classes]`.
    """

    def __init__(
        self,
        num_classes: int = 400,
        frames: int = 16,
        image_size: int = 112,
        filters: Sequence[int] = C3D_FILTERS,
        fc_units: int = 4096,
        dropout_rate: float = DEFAULT_DROPOUT_RATE,
        sync_batch_norm: bool = False,
        name: str = "c3d",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        check_num_classes(num_classes)
        for arg, value in (("frames", frames), ("image_size", image_size), ("fc_units", fc_units)):
            if int(value) < 1:
                raise ValueError(f"C3D {arg} must be positive, got {value}")
        if len(filters) != len(C3D_CONV_NAMES):
            raise ValueError(f"C3D needs {len(C3D_CONV_NAMES)} conv widths, got filters={filters}")
        check_dropout_rate(dropout_rate)
        self.num_classes = int(num_classes)
        self.frames = int(frames)
        self.image_size = int(image_size)
        self.filters = tuple(int(f) for f in filters)
        self.fc_units = int(fc_units)
        self.dropout_rate = float(dropout_rate)
        self.sync_batch_norm = sync_batch_norm
        self.conv_layers = []
        for conv_name, width in zip(C3D_CONV_NAMES, self.filters):
            self.conv_layers.append(
                Unit(width, 3, rank=3, sync_batch_norm=sync_batch_norm, name=conv_name)
            )
            if conv_name in C3D_POOL_AFTER:
                # Sec. 2.2: "in the first pooling layer, we use a temporal stride of 2 instead
                # of 1"; every pool here is 2x2x2, stride 2.
                pool_name = C3D_POOL_AFTER[conv_name]
                self.conv_layers.append(pool_layer("max", 2, 2, rank=3, name=pool_name))
        self.fc_dense, self.fc_bn, self.fc_dropout = [], [], []
        for fc_name in ("fc6", "fc7"):
            self.fc_dense.append(keras.layers.Dense(self.fc_units, use_bias=False, name=fc_name))
            # Sec. 2.2: "batch normalization after all convolutional and fully connected layers".
            self.fc_bn.append(keras.layers.BatchNormalization(
                epsilon=BN_EPSILON, momentum=BN_MOMENTUM, scale=False,
                synchronized=sync_batch_norm, name=f"{fc_name}_bn",
            ))
            self.fc_dropout.append(
                keras.layers.Dropout(self.dropout_rate, name=f"{fc_name}_dropout"))
        self.classifier = keras.layers.Dense(self.num_classes, name="fc8")
        self.build((None, self.frames, self.image_size, self.image_size, 3))

    @property
    def pool5_shape(self) -> tuple[int, int, int, int]:
        """`(time, height, width, channels)` after pool5 (five stride-2 `SAME` pools: ceil)."""
        t, s = self.frames, self.image_size
        for _ in range(5):
            t, s = math.ceil(t / 2), math.ceil(s / 2)
        return t, s, s, self.filters[-1]

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layer: `[classifier]` (`num_classes` units)."""
        return [self.classifier]

    def build(self, input_shape):
        channels = 3
        for layer in self.conv_layers:
            if isinstance(layer, Unit):
                layer.build((None, None, None, None, channels))
                channels = layer.filters
        units = math.prod(self.pool5_shape)
        for dense, bn in zip(self.fc_dense, self.fc_bn):
            dense.build((None, units))
            bn.build((None, self.fc_units))
            units = self.fc_units
        self.classifier.build((None, units))
        self.built = True

    def _clip_logits(self, x, training):
        for layer in self.conv_layers:
            x = layer(x, training=training) if isinstance(layer, Unit) else layer(x)
        x = tf.reshape(x, [-1, math.prod(self.pool5_shape)])
        for dense, bn, dropout in zip(self.fc_dense, self.fc_bn, self.fc_dropout):
            x = dropout(tf.nn.relu(bn(dense(x), training=training)), training=training)
        return tf.cast(self.classifier(x), tf.float32)

    def call(self, inputs, training=None):
        x = tf.convert_to_tensor(inputs)
        expected = (self.frames, self.image_size, self.image_size, 3)
        if x.shape.rank not in (5, 6) or tuple(x.shape[-4:]) != expected:
            raise ValueError(
                f"{self.name} expects [B, {', '.join(map(str, expected))}] clips (or "
                f"[B, S, ...] for S clips averaged); got shape {x.shape}"
            )
        if self.compute_dtype != x.dtype:
            x = tf.cast(x, self.compute_dtype)
        if x.shape.rank == 5:
            return self._clip_logits(x, training)
        bs = tf.shape(x)[:2]
        logits = self._clip_logits(tf.reshape(x, (-1,) + expected), training)
        logits = tf.reshape(logits, tf.concat([bs, [self.num_classes]], axis=0))
        return average_predictions(logits, axis=1)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "frames": self.frames,
            "image_size": self.image_size,
            "filters": self.filters,
            "fc_units": self.fc_units,
            "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class TwoStream2D(keras.Model):
    """Two-Stream (sec. 2.3, Fig. 2c; Simonyan & Zisserman): RGB and flow Inception-v1 towers.

    Inputs, a dict:
    - `"rgb"`: `[B, S, H, W, 3]` in [-1, 1], one frame per snapshot;
    - `"flow"`: `[B, S, flow_frames, H, W, 2]` in [-1, 1], or already stacked
      `[B, S, H, W, 2 * flow_frames]` (`stack_flow`'s channel order).
    S = 1 in training (1 rgb + 10 flow frames), 25 at test (25 rgb + 250 flow; Table 1).
    Each stream: Inception-v1 to `Mixed_5c`, spatial average (its last average pool at 224),
    dropout, dense classifier. The flow tower's first conv has `2 * flow_frames` input channels.
    Output: logits `[B, num_classes]` of the prediction averaged over both streams and all
    snapshots (`average_predictions`); `stream_logits` gives each stream's too.
    """

    def __init__(
        self,
        num_classes: int = 400,
        flow_frames: int = FLOW_STACK,
        dropout_rate: float = DEFAULT_DROPOUT_RATE,
        sync_batch_norm: bool = False,
        name: str = "two_stream",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        check_num_classes(num_classes)
        if int(flow_frames) < 1:
            raise ValueError(f"flow_frames must be positive, got {flow_frames}")
        check_dropout_rate(dropout_rate)
        self.num_classes = int(num_classes)
        self.flow_frames = int(flow_frames)
        self.dropout_rate = float(dropout_rate)
        self.sync_batch_norm = sync_batch_norm
        self.rgb_tower = _tower(3, "rgb_InceptionV1", sync_batch_norm)
        self.flow_tower = _tower(FLOW_CHANNELS * self.flow_frames, "flow_InceptionV1",
                                 sync_batch_norm)
        self.rgb_dropout = keras.layers.Dropout(self.dropout_rate, name="rgb_dropout")
        self.flow_dropout = keras.layers.Dropout(self.dropout_rate, name="flow_dropout")
        self.rgb_classifier = keras.layers.Dense(self.num_classes, name="rgb_Logits")
        self.flow_classifier = keras.layers.Dense(self.num_classes, name="flow_Logits")
        self.build(None)

    @property
    def imagenet_towers(self) -> list[InceptionV1]:
        return [self.rgb_tower, self.flow_tower]

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layers, one per stream: `[rgb_classifier, flow_classifier]` (Table 4
        'Fixed' trains both)."""
        return [self.rgb_classifier, self.flow_classifier]

    def build(self, input_shape):
        self.rgb_classifier.build((None, MIXED_5C_CHANNELS))
        self.flow_classifier.build((None, MIXED_5C_CHANNELS))
        self.built = True

    def _stream(self, x, tower, dropout, classifier, training):
        images, bs = _frames_to_images(x)
        features = tf.reduce_mean(tower(images, training=training), axis=[1, 2])
        logits = tf.cast(classifier(dropout(features, training=training)), tf.float32)
        return tf.reshape(logits, tf.concat([bs, [self.num_classes]], axis=0))  # [B, S, C]

    def stream_logits(self, inputs, training=None) -> dict[str, tf.Tensor]:
        """`{"rgb", "flow", "joint"}` logits `[B, num_classes]`, each averaged over snapshots."""
        rgb = _get(inputs, "rgb", self.name)
        _check_rank(rgb, 5, "[B, S, H, W, 3]", f"{self.name} 'rgb' input")
        if rgb.shape[-1] != 3:
            raise ValueError(f"{self.name} 'rgb' input needs 3 channels; got shape {rgb.shape}")
        flow = _flow_stacked(_get(inputs, "flow", self.name), self.flow_frames, self.name)
        rgb = self._stream(rgb, self.rgb_tower, self.rgb_dropout, self.rgb_classifier, training)
        flow = self._stream(flow, self.flow_tower, self.flow_dropout, self.flow_classifier,
                            training)
        return {
            "rgb": average_predictions(rgb, axis=1),
            "flow": average_predictions(flow, axis=1),
            "joint": average_predictions(tf.concat([rgb, flow], axis=1), axis=1),
        }

    def call(self, inputs, training=None):
        return self.stream_logits(inputs, training=training)["joint"]

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "flow_frames": self.flow_frames,
            "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class Fused3DTwoStream(keras.Model):
    """3D-Fused Two-Stream (sec. 2.3, Fig. 2d; after Feichtenhofer et al. 2016).

    Inputs, a dict:
    - `"rgb"`: `[B, T, H, W, 3]` in [-1, 1], frames 10 apart (paper: T = 5 in training, 25 at
      test; 224x224);
    - `"flow"`: `[B, T, flow_frames, H, W, 2]` in [-1, 1], each RGB frame's flow snippet, or
      stacked `[B, T, H, W, 2 * flow_frames]`.
    Per frame, the RGB and flow Inception-v1 towers give `Mixed_5c` (`[B, T, 7, 7, 1024]` each at
    224); concatenated on channels (2048), then a 3x3x3 Conv3D with `fusion_channels` (512) + BN
    + ReLU, a 3x3x3 max-pool (stride 2, `SAME`), an average over the remaining time and space,
    dropout and a dense classifier (equivalently: the classifier applied at every position and
    averaged, like I3D's convolutional predictions). The new layers start from Gaussian noise
    (stddev `init_stddev`). Output logits `[B, num_classes]`.
    """

    def __init__(
        self,
        num_classes: int = 400,
        flow_frames: int = FLOW_STACK,
        fusion_channels: int = 512,
        init_stddev: float = 0.01,
        dropout_rate: float = DEFAULT_DROPOUT_RATE,
        sync_batch_norm: bool = False,
        name: str = "fused_two_stream",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        check_num_classes(num_classes)
        if int(flow_frames) < 1:
            raise ValueError(f"flow_frames must be positive, got {flow_frames}")
        check_dropout_rate(dropout_rate)
        if float(init_stddev) <= 0.0:
            raise ValueError(f"init_stddev must be positive, got {init_stddev}")
        self.num_classes = int(num_classes)
        self.flow_frames = int(flow_frames)
        self.fusion_channels = int(fusion_channels)
        self.init_stddev = float(init_stddev)
        self.dropout_rate = float(dropout_rate)
        self.sync_batch_norm = sync_batch_norm
        self.rgb_tower = _tower(3, "rgb_InceptionV1", sync_batch_norm)
        self.flow_tower = _tower(FLOW_CHANNELS * self.flow_frames, "flow_InceptionV1",
                                 sync_batch_norm)
        # Sec. 2.3: "The weights of these new layers are initialized with Gaussian noise."
        self.fusion = Unit(
            self.fusion_channels, 3, rank=3, sync_batch_norm=sync_batch_norm,
            kernel_initializer=keras.initializers.RandomNormal(stddev=self.init_stddev),
            name="Conv3d_fusion_3x3",
        )
        self.pool = pool_layer("max", 3, 2, rank=3, name="MaxPool3d_fusion_3x3")
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
        self.classifier = keras.layers.Dense(
            self.num_classes,
            kernel_initializer=keras.initializers.RandomNormal(stddev=self.init_stddev),
            name="Logits",
        )
        self.build(None)

    @property
    def imagenet_towers(self) -> list[InceptionV1]:
        return [self.rgb_tower, self.flow_tower]

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """The class-scoring layer: `[classifier]` (`num_classes` units)."""
        return [self.classifier]

    def build(self, input_shape):
        self.fusion.build((None, None, None, None, 2 * MIXED_5C_CHANNELS))
        self.classifier.build((None, self.fusion_channels))
        self.built = True

    def _features(self, x, tower, training):
        images, bt = _frames_to_images(x)
        features = tower(images, training=training)  # [B*T, h, w, 1024]
        return tf.reshape(features, tf.concat([bt, tf.shape(features)[1:]], axis=0))

    def call(self, inputs, training=None):
        rgb = _get(inputs, "rgb", self.name)
        _check_rank(rgb, 5, "[B, T, H, W, 3]", f"{self.name} 'rgb' input")
        if rgb.shape[-1] != 3:
            raise ValueError(f"{self.name} 'rgb' input needs 3 channels; got shape {rgb.shape}")
        flow = _flow_stacked(_get(inputs, "flow", self.name), self.flow_frames, self.name)
        grid = tf.concat(
            [self._features(rgb, self.rgb_tower, training),
             self._features(flow, self.flow_tower, training)],
            axis=-1,
        )  # [B, T, h, w, 2048]
        grid = tf.ensure_shape(grid, [None, None, None, None, 2 * MIXED_5C_CHANNELS])
        x = self.pool(self.fusion(grid, training=training))
        x = tf.reduce_mean(x, axis=[1, 2, 3])  # [B, fusion_channels]
        return tf.cast(self.classifier(self.dropout(x, training=training)), tf.float32)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "flow_frames": self.flow_frames,
            "fusion_channels": self.fusion_channels,
            "init_stddev": self.init_stddev,
            "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class TwoStreamI3D(keras.Model):
    """Two-Stream I3D (sec. 2.4, Fig. 2e): RGB and flow `InceptionI3d`, logits summed.

    The paper trains the two networks separately and averages their predictions at test time;
    DeepMind's release (evaluate_sample.py, `eval_type=joint`) adds the two streams' logits,
    which this does. Train `build("i3d", modality=...)` for each stream, then copy the weights
    into `.rgb_i3d` / `.flow_i3d` (`set_weights(get_weights())`) to evaluate jointly.

    Inputs, a dict: `"rgb"` `[B, T, 224, 224, 3]` and `"flow"` `[B, T', 224, 224, 2]` in [-1, 1]
    (T, T' >= 9; paper: 64 in training, the whole video at test). Output logits `[B, num_classes]`.
    """

    def __init__(
        self,
        num_classes: int = 400,
        dropout_rate: float = 0.5,
        sync_batch_norm: bool = False,
        name: str = "two_stream_i3d",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.dropout_rate = float(dropout_rate)
        self.sync_batch_norm = sync_batch_norm
        self.rgb_i3d = InceptionI3d(self.num_classes, "rgb", self.dropout_rate,
                                    sync_batch_norm=sync_batch_norm, name="RGB_inception_i3d")
        self.flow_i3d = InceptionI3d(self.num_classes, "flow", self.dropout_rate,
                                     sync_batch_norm=sync_batch_norm, name="Flow_inception_i3d")
        self.built = True

    def classifier_layers(self) -> list[keras.layers.Layer]:
        """Each stream's class-scoring layer: `[RGB Logits, Flow Logits]` (`head.logits`)."""
        return self.rgb_i3d.classifier_layers() + self.flow_i3d.classifier_layers()

    def stream_networks(self) -> dict[str, InceptionI3d]:
        """`{"rgb": InceptionI3d, "flow": InceptionI3d}`: the streams, each a whole-video network
        (what the chunked whole-video pass, evaluation and export run one at a time)."""
        return {"rgb": self.rgb_i3d, "flow": self.flow_i3d}

    def stream_logits(self, inputs, training=None) -> dict[str, tf.Tensor]:
        """`{"rgb", "flow", "joint"}` logits `[B, num_classes]`; joint is their fusion
        (`kinetics_i3d.fusion.fuse_logits`: rgb + flow)."""
        from kinetics_i3d.fusion import fuse_logits

        logits = {"rgb": self.rgb_i3d(_get(inputs, "rgb", self.name), training=training),
                  "flow": self.flow_i3d(_get(inputs, "flow", self.name), training=training)}
        return {**logits, "joint": fuse_logits(logits)}

    def call(self, inputs, training=None):
        return self.stream_logits(inputs, training=training)["joint"]

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "dropout_rate": self.dropout_rate,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }
