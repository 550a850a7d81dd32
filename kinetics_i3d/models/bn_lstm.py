"""LSTM with recurrent batch normalization (Cooijmans et al. 2016), as a Keras RNN cell.

The paper's ConvNet+LSTM (sec. 2.1) puts "an LSTM layer with batch normalization (as proposed by
Cooijmans et al. [4])" of 512 units on top of Inception-v1. Keras has no such cell; this is it.

Equations (Cooijmans et al., "Recurrent Batch Normalization", ICLR 2017, eqs. 6-8), with the gate
order of Keras' LSTM (input, forget, cell candidate, output):

    [i~, f~, g~, o~] = BN(W_x x_t; gamma_x) + BN(W_h h_{t-1}; gamma_h) + b
    c_t = sigmoid(f~) * c_{t-1} + sigmoid(i~) * tanh(g~)
    h_t = sigmoid(o~) * tanh(BN(c_t; gamma_c, beta_c))

BN(z; gamma, beta) = gamma * (z - mean) / sqrt(var + eps) + beta. The two gate BNs have no beta
(Cooijmans: "beta_h = beta_x = 0 to avoid unnecessary redundancy", the bias b takes its place).
Statistics are kept separately for every time step (Cooijmans sec. 3): in training each step is
normalized with its own batch statistics and updates its own moving averages; at inference the
moving averages of that step are used. Steps at or beyond `max_steps` share the statistics of
step `max_steps - 1` (Cooijmans: "for generalization to sequences longer than T_max, we use the
population statistics of time T_max for all time steps beyond it").
"""
from __future__ import annotations

import keras
import tensorflow as tf

# Cooijmans et al. sec. 4: "we initialize the batch normalization parameters gamma to 0.1",
# which keeps the sigmoid/tanh inputs out of saturation early in training.
GAMMA_INIT = 0.1
# Same BN settings as the rest of the project (kinetics_i3d.layers.inception: Sonnet's defaults).
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.999


@keras.saving.register_keras_serializable(package="kinetics_i3d")
class BNLSTMCell(keras.layers.Layer):
    """One step of a batch-normalized LSTM; use inside `keras.layers.RNN`.

    Inputs per step `[B, input_dim]` float32; states `[h [B, units], c [B, units], step [B, 1]]`
    where `step` counts time steps from 0 (zeros as initial state, as `keras.layers.RNN` gives);
    output `h_t` `[B, units]`. `keras.layers.RNN(BNLSTMCell(512), return_sequences=True,
    unroll=True)` maps `[B, T, input_dim]` to `[B, T, 512]` (T static).

    Use `unroll=True`: Keras' while-loop path (TF backend) runs step 0 once more to infer the
    output dtype and discards the value, but in training that extra call would move step 0's
    moving statistics a second time.

    Trainable weights: `kernel` `[input_dim, 4*units]`, `recurrent_kernel` `[units, 4*units]`,
    `bias` `[4*units]` (forget-gate part initialised to `forget_bias`), `gamma_x`, `gamma_h`
    `[4*units]`, `gamma_c`, `beta_c` `[units]`. Non-trainable: per-step moving means and
    variances `moving_{mean,variance}_{x,h}` `[max_steps, 4*units]` and `..._c`
    `[max_steps, units]`.
    """

    def __init__(
        self,
        units: int,
        max_steps: int = 25,
        momentum: float = BN_MOMENTUM,
        epsilon: float = BN_EPSILON,
        gamma_initializer: float = GAMMA_INIT,
        forget_bias: float = 1.0,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"BNLSTMCell units must be positive, got {units}")
        if int(max_steps) < 1:
            raise ValueError(f"BNLSTMCell max_steps must be positive, got {max_steps}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"BNLSTMCell momentum must be in [0, 1), got {momentum}")
        self.units = int(units)
        self.max_steps = int(max_steps)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.gamma_initializer = float(gamma_initializer)
        self.forget_bias = float(forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        # h, c, and the step counter (a float so that keras.layers.RNN can cast states).
        self.state_size = [self.units, self.units, 1]
        self.output_size = self.units

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        u4 = 4 * self.units
        self.kernel = self.add_weight(
            name="kernel", shape=(input_dim, u4), initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, u4), initializer=self.recurrent_initializer
        )
        forget = self.forget_bias
        units = self.units

        def bias_init(shape, dtype=None):
            # Gate order i, f, g, o: the forget gate is the second quarter.
            b = tf.concat(
                [tf.zeros([units]), tf.fill([units], forget), tf.zeros([2 * units])], axis=0
            )
            return tf.cast(b, dtype or "float32")

        self.bias = self.add_weight(name="bias", shape=(u4,), initializer=bias_init)
        gamma = keras.initializers.Constant(self.gamma_initializer)
        self.gamma_x = self.add_weight(name="gamma_x", shape=(u4,), initializer=gamma)
        self.gamma_h = self.add_weight(name="gamma_h", shape=(u4,), initializer=gamma)
        self.gamma_c = self.add_weight(name="gamma_c", shape=(units,), initializer=gamma)
        self.beta_c = self.add_weight(name="beta_c", shape=(units,), initializer="zeros")
        self.moving = {}
        for term, width in (("x", u4), ("h", u4), ("c", units)):
            for stat, init in (("mean", "zeros"), ("variance", "ones")):
                self.moving[f"{stat}_{term}"] = self.add_weight(
                    name=f"moving_{stat}_{term}",
                    shape=(self.max_steps, width),
                    initializer=init,
                    trainable=False,
                    autocast=False,  # float32 under mixed precision, as Keras' BatchNormalization
                )
        self.built = True

    def _batch_norm(self, z, term: str, step, gamma, beta, training: bool):
        """Normalizes `z` `[B, width]` with step `step`'s statistics for `term` (x, h or c).

        Computed in float32 (moving statistics are float32 under a mixed-precision policy too).
        """
        moving_mean = self.moving[f"mean_{term}"]
        moving_var = self.moving[f"variance_{term}"]
        z32 = tf.cast(z, tf.float32)
        if training:
            mean, var = tf.nn.moments(z32, axes=[0])
            # Only slot `step` moves: new = old + (1 - momentum) * (batch - old) there.
            slot = tf.one_hot(step, self.max_steps, dtype=tf.float32)[:, None]  # [max_steps, 1]
            decay = (1.0 - self.momentum) * slot
            moving_mean.assign(moving_mean + decay * (mean[None] - moving_mean))
            moving_var.assign(moving_var + decay * (var[None] - moving_var))
        else:
            mean = tf.gather(tf.convert_to_tensor(moving_mean), step)
            var = tf.gather(tf.convert_to_tensor(moving_var), step)
        out = tf.cast(gamma, tf.float32) * (z32 - mean) * tf.math.rsqrt(var + self.epsilon)
        if beta is not None:
            out = out + tf.cast(beta, tf.float32)
        return tf.cast(out, z.dtype)

    def call(self, inputs, states, training=None):
        h, c, step = states[0], states[1], states[2]
        # A frozen cell (trainable=False, e.g. --finetune_mode=fixed) normalises with its moving
        # statistics and leaves them as they are, as Keras 3 does for a frozen BatchNormalization.
        training = bool(training) and self.trainable
        # Every row of the batch is at the same step; statistics beyond max_steps reuse the last.
        t = tf.minimum(tf.cast(step[0, 0], tf.int32), self.max_steps - 1)
        wx = tf.matmul(inputs, self.kernel)
        wh = tf.matmul(h, self.recurrent_kernel)
        z = (
            self._batch_norm(wx, "x", t, self.gamma_x, None, training)
            + self._batch_norm(wh, "h", t, self.gamma_h, None, training)
            + self.bias
        )
        i, f, g, o = tf.split(z, 4, axis=-1)
        c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        c_norm = self._batch_norm(c_new, "c", t, self.gamma_c, self.beta_c, training)
        h_new = tf.sigmoid(o) * tf.tanh(c_norm)
        return h_new, [h_new, c_new, step + 1.0]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            max_steps=self.max_steps,
            momentum=self.momentum,
            epsilon=self.epsilon,
            gamma_initializer=self.gamma_initializer,
            forget_bias=self.forget_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            recurrent_initializer=keras.initializers.serialize(self.recurrent_initializer),
        )
        return config


def moving_statistics_layers(model: keras.Layer) -> list[keras.Layer]:
    """Every layer of `model` that keeps BatchNorm moving statistics updated with a `momentum`:
    Keras `BatchNormalization` and the BN-LSTM's per-step statistics (`BNLSTMCell`). What
    `--bn_momentum` sets."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, (keras.layers.BatchNormalization, BNLSTMCell))]
