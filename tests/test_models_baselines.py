"""The baselines (ConvNet+LSTM, C3D, Two-Stream, 3D-Fused) and Two-Stream I3D: sizes, shapes,
a real gradient step, `.keras` round trips and the averaging semantics.

Small variants everywhere except the parameter counts (built, never run, at full size) and
Two-Stream I3D, whose head needs 193..224 px and 9+ frames.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d import models
from kinetics_i3d.models import InceptionI3d, InceptionV1
from kinetics_i3d.models.baselines import (
    C3D,
    ConvNetLSTM,
    Fused3DTwoStream,
    TwoStream2D,
    TwoStreamI3D,
    average_predictions,
    stack_flow,
)

CLASSES = 5
SMALL = 64  # InceptionV1's Mixed_5c is 2x2 at 64x64


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def _uniform(seed, *shape):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, size=shape).astype("float32"))


# ---------------------------------------------------------------------------------------------
# Parameter counts (Table 1), at 400 classes and the paper's sizes.

TABLE1 = {
    "convnet_lstm": 9e6,
    "c3d": 79e6,
    "two_stream": 12e6,
    "fused_two_stream": 39e6,
    "two_stream_i3d": 25e6,
}
# Trainable parameters, as documented in BUILD_NOTES.md ("Baselines").
DOCUMENTED = {
    "convnet_lstm": 8_950_720,
    "c3d": 79_634_576,
    "two_stream": 12_058_560,
    "fused_two_stream": 39_755_824,
    "two_stream_i3d": 25_358_016,
}


def test_parameter_counts_match_table1_and_their_arithmetic():
    rgb = _count(InceptionV1(final_endpoint="Mixed_5c").trainable_weights)
    flow = _count(InceptionV1(final_endpoint="Mixed_5c", input_channels=20).trainable_weights)
    assert flow - rgb == 7 * 7 * (20 - 3) * 64  # only Conv2d_1a_7x7 differs
    n = 400
    # W_x, W_h, b, gamma_x and gamma_h, gamma_c and beta_c
    lstm = 1024 * 2048 + 512 * 2048 + 2048 + 2 * 2048 + 2 * 512
    widths = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    c3d_convs = sum(27 * a * b + b for a, b in zip(widths[:-1], widths[1:]))  # kernel + BN beta
    c3d_fc = 8192 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * n + n  # fc6, fc7 (+beta), fc8
    i3d = _count(InceptionI3d(n, "rgb").trainable_weights) + _count(
        InceptionI3d(n, "flow").trainable_weights)
    expected = {
        "convnet_lstm": rgb + lstm + 512 * n + n,
        "c3d": c3d_convs + c3d_fc,
        "two_stream": rgb + flow + 2 * (1024 * n + n),
        "fused_two_stream": rgb + flow + 27 * 2048 * 512 + 512 + 512 * n + n,
        "two_stream_i3d": i3d,
    }
    for name, table in TABLE1.items():
        model = models.build(name, n)
        count = _count(model.trainable_weights)
        assert count == expected[name] == DOCUMENTED[name], name
        assert abs(count - table) / table < 0.10, (name, count, table)


# ---------------------------------------------------------------------------------------------
# Per-model behaviour on small variants: shapes, one SGD step, .keras round trip.

CASES = {
    "convnet_lstm": dict(
        make=lambda: ConvNetLSTM(CLASSES, lstm_units=32, max_steps=3, dropout_rate=0.0),
        # Training: all steps' logits; test: longer than max_steps, last step only.
        train=lambda: _uniform(1, 2, 4, SMALL, SMALL, 3),
        train_kwargs={"return_sequences": True},
        train_shape=(2, 4, CLASSES),
        test=lambda: _uniform(2, 2, 6, SMALL, SMALL, 3),
    ),
    "c3d": dict(
        make=lambda: C3D(CLASSES, image_size=32, filters=(8, 16, 16, 16, 32, 32, 32, 32),
                         fc_units=32, dropout_rate=0.0),
        train=lambda: _uniform(3, 2, 16, 32, 32, 3),
        test=lambda: _uniform(4, 2, 3, 16, 32, 32, 3),  # 3 clips averaged
    ),
    "two_stream": dict(
        make=lambda: TwoStream2D(CLASSES, dropout_rate=0.0),
        train=lambda: {"rgb": _uniform(5, 2, 1, SMALL, SMALL, 3),
                       "flow": _uniform(6, 2, 1, 10, SMALL, SMALL, 2)},
        test=lambda: {"rgb": _uniform(7, 2, 3, SMALL, SMALL, 3),  # 3 snapshots
                      "flow": _uniform(8, 2, 3, SMALL, SMALL, 20)},
    ),
    "fused_two_stream": dict(
        make=lambda: Fused3DTwoStream(CLASSES, fusion_channels=32, dropout_rate=0.0),
        train=lambda: {"rgb": _uniform(9, 2, 5, SMALL, SMALL, 3),
                       "flow": _uniform(10, 2, 5, 10, SMALL, SMALL, 2)},
        test=lambda: {"rgb": _uniform(11, 2, 7, SMALL, SMALL, 3),
                      "flow": _uniform(12, 2, 7, SMALL, SMALL, 20)},
    ),
    "two_stream_i3d": dict(
        make=lambda: TwoStreamI3D(CLASSES, dropout_rate=0.0),
        train=lambda: {"rgb": _uniform(13, 1, 9, 193, 193, 3),
                       "flow": _uniform(14, 1, 9, 193, 193, 2)},
        test=None,  # same interface as training (the whole video at test)
    ),
}
_MODELS: dict[str, keras.Model] = {}


def _model(name: str) -> keras.Model:
    if name not in _MODELS:
        keras.utils.set_random_seed(0)
        _MODELS[name] = CASES[name]["make"]()
    return _MODELS[name]


def _loss(model, case, x, labels):
    logits = model(x, training=True, **case.get("train_kwargs", {}))
    if logits.shape.rank == 3:  # ConvNet+LSTM: cross-entropy at every time step (sec. 2.1)
        labels = tf.repeat(labels[:, None], logits.shape[1], axis=1)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


@pytest.mark.parametrize("name", list(CASES))
def test_output_shapes_on_train_and_test_interfaces(name):
    case, model = CASES[name], _model(name)
    train_x = case["train"]()
    out = model(train_x, training=True, **case.get("train_kwargs", {}))
    batch = 2 if name != "two_stream_i3d" else 1
    assert tuple(out.shape) == case.get("train_shape", (batch, CLASSES))
    assert out.dtype == tf.float32
    assert np.isfinite(out.numpy()).all()
    if case["test"] is not None:
        out = model(case["test"](), training=False)
        assert tuple(out.shape) == (batch, CLASSES)
        assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("name", list(CASES))
def test_one_sgd_step_lowers_the_loss(name):
    case, model = CASES[name], _model(name)
    x = case["train"]()
    labels = tf.constant([1, 3][: 2 if name != "two_stream_i3d" else 1])
    with tf.GradientTape() as tape:
        before = _loss(model, case, x, labels)
    grads = tape.gradient(before, model.trainable_weights)
    missing = [v.path for v, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    keras.optimizers.SGD(learning_rate=0.01).apply_gradients(zip(grads, model.trainable_weights))
    after = _loss(model, case, x, labels)
    assert float(after) < float(before) - 1e-3, (float(before), float(after))


@pytest.mark.parametrize("name", list(CASES))
def test_keras_saving_round_trip(name, tmp_path):
    case, model = CASES[name], _model(name)
    x = case["test"]() if case["test"] is not None else case["train"]()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x, training=False).numpy(),
                               model(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Semantics of each model's interface.


def test_stack_flow_interleaves_x_and_y_per_frame():
    flow = np.zeros((1, 3, 2, 2, 2), "float32")  # [B, L, H, W, 2]
    for k in range(3):
        flow[0, k, ..., 0] = 10 * k  # x of frame k
        flow[0, k, ..., 1] = 10 * k + 1  # y of frame k
    stacked = stack_flow(flow).numpy()
    assert stacked.shape == (1, 2, 2, 6)
    np.testing.assert_array_equal(stacked[0, 0, 0], [0, 1, 10, 11, 20, 21])


def test_average_predictions_is_log_of_mean_softmax():
    logits = _uniform(20, 2, 4, 6) * 3
    got = tf.nn.softmax(average_predictions(logits, axis=1)).numpy()
    np.testing.assert_allclose(got, tf.nn.softmax(logits).numpy().mean(axis=1), atol=1e-6)


def test_convnet_lstm_test_output_is_the_last_step_and_causal():
    model = _model("convnet_lstm")
    x = _uniform(21, 2, 6, SMALL, SMALL, 3)
    steps = model(x, training=False, return_sequences=True).numpy()
    np.testing.assert_allclose(model(x, training=False).numpy(), steps[:, -1], atol=1e-6)
    # Changing the last frame changes only the last step's output.
    x2 = tf.concat([x[:, :-1], -x[:, -1:]], axis=1)
    steps2 = model(x2, training=False, return_sequences=True).numpy()
    # (Untrained, the outputs are near-uniform and move little: compare exactly instead.)
    np.testing.assert_array_equal(steps2[:, :-1], steps[:, :-1])
    assert np.abs(steps2[:, -1] - steps[:, -1]).max() > 1e-7


def test_two_stream_averages_streams_and_snapshots():
    model = _model("two_stream")
    x = CASES["two_stream"]["test"]()
    probs = []
    for s in range(3):
        one = model.stream_logits(
            {"rgb": x["rgb"][:, s : s + 1], "flow": x["flow"][:, s : s + 1]}, training=False)
        probs += [tf.nn.softmax(one["rgb"]), tf.nn.softmax(one["flow"])]
    joint = tf.nn.softmax(model(x, training=False)).numpy()
    np.testing.assert_allclose(joint, np.mean(probs, axis=0), atol=1e-5)


def test_flow_frames_and_stacked_flow_give_the_same_output():
    model = _model("fused_two_stream")
    x = CASES["fused_two_stream"]["train"]()
    stacked = {"rgb": x["rgb"], "flow": stack_flow(x["flow"])}
    np.testing.assert_allclose(model(x, training=False).numpy(),
                               model(stacked, training=False).numpy(), atol=1e-5)


def test_fused_new_layers_start_from_gaussian_noise():
    model = Fused3DTwoStream(CLASSES, fusion_channels=16, init_stddev=0.02)
    for kernel in (model.fusion.conv.kernel, model.classifier.kernel):
        values = kernel.numpy()
        assert abs(values.mean()) < 2e-3
        assert abs(values.std() - 0.02) < 0.02 * 0.1
    assert model.fusion.conv.kernel.shape == (3, 3, 3, 2048, 16)


def test_c3d_averages_clips_and_honours_dropout():
    model = _model("c3d")
    clips = CASES["c3d"]["test"]()  # [2, 3, 16, 32, 32, 3]
    per_clip = tf.stack([model(clips[:, s], training=False) for s in range(3)], axis=1)
    np.testing.assert_allclose(model(clips, training=False).numpy(),
                               average_predictions(per_clip).numpy(), atol=1e-5)
    # pool1 pools time by 2 (the paper's change): 16 frames -> pool5 1x1x1 at 32 px.
    assert model.pool5_shape == (1, 1, 1, 32)
    assert C3D(image_size=112, fc_units=8).pool5_shape == (1, 4, 4, 512)
    x = CASES["c3d"]["train"]()
    dropped = C3D(CLASSES, image_size=32, filters=(4,) * 8, fc_units=64, dropout_rate=0.5)
    assert not np.allclose(dropped(x, training=True).numpy(), dropped(x, training=True).numpy())
    kept = C3D(CLASSES, image_size=32, filters=(4,) * 8, fc_units=64, dropout_rate=0.0)
    np.testing.assert_allclose(kept(x, training=True).numpy(), kept(x, training=True).numpy())


def test_two_stream_i3d_sums_stream_logits():
    model = _model("two_stream_i3d")
    out = model.stream_logits(CASES["two_stream_i3d"]["train"](), training=False)
    np.testing.assert_allclose(out["joint"].numpy(), (out["rgb"] + out["flow"]).numpy(), atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="'flow'"):
        _model("two_stream")({"rgb": _uniform(0, 1, 1, SMALL, SMALL, 3)})
    with pytest.raises(ValueError, match="20 stacked channels"):
        _model("two_stream")({"rgb": _uniform(0, 1, 1, SMALL, SMALL, 3),
                              "flow": _uniform(0, 1, 1, SMALL, SMALL, 4)})
    with pytest.raises(ValueError, match="16, 32, 32, 3"):
        _model("c3d")(_uniform(0, 1, 8, 32, 32, 3))
    with pytest.raises(ValueError, match="static T"):
        _model("convnet_lstm")(_uniform(0, 1, 4, SMALL, SMALL, 1))
    with pytest.raises(ValueError, match="unknown model"):
        models.build("lstm", 400)
