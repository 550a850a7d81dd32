"""BNLSTMCell against a plain numpy loop of Cooijmans et al.'s equations."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d.models.bn_lstm import BNLSTMCell

B, T, D, U = 4, 5, 6, 3
EPS = 1e-3


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _reference(x, w, training, moving=None, momentum=0.9, max_steps=T):
    """numpy BN-LSTM; `moving` is a dict of per-step stats (updated in training, read otherwise)."""
    kernel, recurrent, bias = w["kernel"], w["recurrent_kernel"], w["bias"]
    gx, gh, gc, bc = w["gamma_x"], w["gamma_h"], w["gamma_c"], w["beta_c"]
    h = np.zeros((x.shape[0], U))
    c = np.zeros((x.shape[0], U))
    outs = []

    def bn(z, term, t, gamma, beta):
        if training:
            mean, var = z.mean(0), z.var(0)
            m = moving[f"mean_{term}"]
            v = moving[f"variance_{term}"]
            m[t] = momentum * m[t] + (1 - momentum) * mean
            v[t] = momentum * v[t] + (1 - momentum) * var
        else:
            mean, var = moving[f"mean_{term}"][t], moving[f"variance_{term}"][t]
        return gamma * (z - mean) / np.sqrt(var + EPS) + beta

    for step in range(x.shape[1]):
        t = min(step, max_steps - 1)
        z = bn(x[:, step] @ kernel, "x", t, gx, 0.0) + bn(h @ recurrent, "h", t, gh, 0.0) + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(bn(c, "c", t, gc, bc))
        outs.append(h)
    return np.stack(outs, axis=1)


def _layer(max_steps=T, momentum=0.9):
    cell = BNLSTMCell(U, max_steps=max_steps, momentum=momentum)
    rnn = keras.layers.RNN(cell, return_sequences=True, unroll=True)
    rnn.build((None, None, D))
    rng = np.random.default_rng(0)
    # Random (non-initial) gammas and beta so that every term of the equations matters.
    for var in cell.trainable_weights:
        var.assign(rng.normal(size=var.shape).astype("float32") * 0.7)
    return rnn, cell


def _weights(cell):
    names = ["kernel", "recurrent_kernel", "bias", "gamma_x", "gamma_h", "gamma_c", "beta_c"]
    return {n: getattr(cell, n).numpy().astype("float64") for n in names}


def _moving(cell):
    return {k: v.numpy().astype("float64") for k, v in cell.moving.items()}


def test_training_uses_per_step_batch_stats_and_updates_per_step_moving_stats():
    rnn, cell = _layer()
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    moving = _moving(cell)
    expected = _reference(x.astype("float64"), _weights(cell), True, moving)
    got = rnn(x, training=True).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    for key, value in moving.items():
        np.testing.assert_allclose(cell.moving[key].numpy(), value, atol=1e-5, err_msg=key)
    # Each step has its own statistics: the step slots differ after one update.
    assert not np.allclose(moving["mean_x"][0], moving["mean_x"][1])


def test_a_frozen_cell_keeps_its_moving_stats_in_training_mode():
    # --finetune_mode=fixed freezes the trunk (trainable=False on the RNN layer): like a frozen
    # Keras BatchNormalization, the cell then normalises with its moving statistics and does not
    # update them, even under training=True (they moved before: the Table 4 'Fixed' trunk drifted).
    rnn, cell = _layer()
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    rnn.trainable = False
    assert not cell.trainable
    moving = _moving(cell)
    got = rnn(x, training=True).numpy()
    for key, value in moving.items():
        np.testing.assert_array_equal(cell.moving[key].numpy(), value, err_msg=key)
    np.testing.assert_allclose(got, _reference(x.astype("float64"), _weights(cell), False,
                                               moving), atol=1e-5)


def test_inference_uses_moving_stats_of_each_step():
    rnn, cell = _layer()
    rng = np.random.default_rng(2)
    for var in cell.non_trainable_weights:
        base = rng.normal(size=var.shape) * 0.5
        var.assign((np.abs(base) + 0.5 if "variance" in var.path else base).astype("float32"))
    x = rng.normal(size=(B, T, D)).astype("float32")
    expected = _reference(x.astype("float64"), _weights(cell), False, _moving(cell))
    np.testing.assert_allclose(rnn(x, training=False).numpy(), expected, atol=1e-5)
    # Inference is per example: the first example's output does not depend on the others.
    alone = rnn(x[:1], training=False).numpy()
    np.testing.assert_allclose(alone, expected[:1], atol=1e-5)


def test_steps_beyond_max_steps_reuse_last_statistics():
    max_steps = 2
    rnn, cell = _layer(max_steps=max_steps)
    rng = np.random.default_rng(3)
    for var in cell.non_trainable_weights:
        base = rng.normal(size=var.shape) * 0.5
        var.assign((np.abs(base) + 0.5 if "variance" in var.path else base).astype("float32"))
    x = rng.normal(size=(B, T, D)).astype("float32")
    expected = _reference(x.astype("float64"), _weights(cell), False, _moving(cell), max_steps=2)
    np.testing.assert_allclose(rnn(x, training=False).numpy(), expected, atol=1e-5)
    moving = _moving(cell)
    _reference(x.astype("float64"), _weights(cell), True, moving, max_steps=max_steps)
    rnn(x, training=True)
    for key, value in moving.items():
        np.testing.assert_allclose(cell.moving[key].numpy(), value, atol=1e-5, err_msg=key)


def test_graph_mode_matches_eager_and_updates_stats():
    rnn, cell = _layer()
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    moving = _moving(cell)
    expected = _reference(x.astype("float64"), _weights(cell), True, moving)
    got = tf.function(lambda v: rnn(v, training=True))(tf.constant(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(cell.moving["variance_c"].numpy(), moving["variance_c"], atol=1e-5)


def test_defaults_follow_cooijmans():
    cell = BNLSTMCell(U)
    cell.build((None, D))
    np.testing.assert_allclose(cell.gamma_x.numpy(), 0.1)
    np.testing.assert_allclose(cell.gamma_c.numpy(), 0.1)
    np.testing.assert_allclose(cell.bias.numpy()[U : 2 * U], 1.0)  # forget gate
    np.testing.assert_allclose(cell.bias.numpy()[:U], 0.0)
    assert cell.moving["mean_x"].shape == (25, 4 * U)
    params = D * 4 * U + U * 4 * U + 4 * U + 2 * 4 * U + 2 * U
    assert sum(int(np.prod(v.shape)) for v in cell.trainable_weights) == params


def test_config_round_trip_and_bad_arguments():
    cell = BNLSTMCell(7, max_steps=3, momentum=0.5, gamma_initializer=0.2)
    clone = BNLSTMCell.from_config(cell.get_config())
    got = (clone.units, clone.max_steps, clone.momentum, clone.gamma_initializer)
    assert got == (7, 3, 0.5, 0.2)
    with pytest.raises(ValueError, match="max_steps"):
        BNLSTMCell(4, max_steps=0)
    with pytest.raises(ValueError, match="units"):
        BNLSTMCell(0)
