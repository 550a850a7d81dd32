"""InceptionI3d: parameter counts, variable names vs the release, endpoint shapes, bad inputs."""
import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import RELEASED_INDEX
from kinetics_i3d.checkpoints import released_variable_names
from kinetics_i3d.models import VALID_ENDPOINTS, InceptionI3d, build

INDEX = {m: RELEASED_INDEX / m / "model.ckpt" for m in ("rgb_imagenet", "flow_imagenet")}


def _index_variables(name):
    return dict(tf.train.list_variables(str(INDEX[name])))


def _trainable_in_index(variables):
    # BN moving statistics are not trainable; everything else (w, b, beta) is.
    return sum(int(np.prod(s)) for n, s in variables.items() if "moving_" not in n)


@pytest.mark.parametrize(
    "modality,index,expected",
    [("rgb", "rgb_imagenet", 12_689_984), ("flow", "flow_imagenet", 12_668_032)],
)
def test_trainable_parameters_equal_release(modality, index, expected):
    model = InceptionI3d(num_classes=400, modality=modality)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trainable == expected
    assert _trainable_in_index(_index_variables(index)) == expected


def test_two_stream_total_is_table_1():
    total = sum(
        sum(int(np.prod(v.shape)) for v in InceptionI3d(modality=m).trainable_variables)
        for m in ("rgb", "flow")
    )
    assert total == 12_689_984 + 12_668_032
    assert abs(total - 25e6) / 25e6 < 0.05  # Table 1: Two-Stream I3D, 25M


@pytest.mark.parametrize("modality,index", [("rgb", "rgb_imagenet"), ("flow", "flow_imagenet")])
def test_variables_map_one_to_one_onto_release_index(modality, index):
    model = InceptionI3d(num_classes=400, modality=modality)
    ours = {name: list(v.shape) for name, v in released_variable_names(model).items()}
    theirs = _index_variables(index)
    assert set(ours) == set(theirs)
    assert ours == theirs
    # One-to-one: every Keras weight is named exactly once.
    assert len(model.weights) == len(theirs)


def _expected_shapes(t, h, w):
    """Endpoint shapes from Fig. 3's strides, computed independently of the model code."""
    def s(n, stride):
        return math.ceil(n / stride)

    t1, h1, w1 = s(t, 2), s(h, 2), s(w, 2)  # Conv3d_1a_7x7, stride 2
    h2, w2 = s(h1, 2), s(w1, 2)  # MaxPool3d_2a_3x3: 1x3x3, stride 1,2,2
    h3, w3 = s(h2, 2), s(w2, 2)  # MaxPool3d_3a_3x3: 1x3x3, stride 1,2,2
    t4, h4, w4 = s(t1, 2), s(h3, 2), s(w3, 2)  # MaxPool3d_4a_3x3: stride 2
    t5, h5, w5 = s(t4, 2), s(h4, 2), s(w4, 2)  # MaxPool3d_5a_2x2: stride 2
    return {
        "Conv3d_1a_7x7": (t1, h1, w1, 64),
        "MaxPool3d_2a_3x3": (t1, h2, w2, 64),
        "Conv3d_2b_1x1": (t1, h2, w2, 64),
        "Conv3d_2c_3x3": (t1, h2, w2, 192),
        "MaxPool3d_3a_3x3": (t1, h3, w3, 192),
        "Mixed_3b": (t1, h3, w3, 256),
        "Mixed_3c": (t1, h3, w3, 480),
        "MaxPool3d_4a_3x3": (t4, h4, w4, 480),
        "Mixed_4b": (t4, h4, w4, 512),
        "Mixed_4c": (t4, h4, w4, 512),
        "Mixed_4d": (t4, h4, w4, 512),
        "Mixed_4e": (t4, h4, w4, 528),
        "Mixed_4f": (t4, h4, w4, 832),
        "MaxPool3d_5a_2x2": (t5, h5, w5, 832),
        "Mixed_5b": (t5, h5, w5, 832),
        "Mixed_5c": (t5, h5, w5, 1024),
    }


@pytest.mark.parametrize("frames", [16, 64, 79])
def test_every_trunk_endpoint_shape(frames):
    # Small spatial size keeps this fast; time is what the frame counts exercise.
    h, w = 40, 56
    x = tf.random.stateless_uniform([1, frames, h, w, 3], seed=(1, frames), minval=-1, maxval=1)
    expected = _expected_shapes(frames, h, w)
    model = InceptionI3d(final_endpoint="Mixed_5c")
    # Walk the trunk once, checking each endpoint on the way.
    y = x
    for endpoint, layer in zip(model.trunk_endpoints, model.trunk):
        y = layer(y, training=False)
        assert tuple(y.shape) == (1,) + expected[endpoint], endpoint
    assert tuple(model(x, training=False).shape) == (1,) + expected["Mixed_5c"]


def test_final_endpoint_selects_that_tensor():
    x = tf.random.stateless_uniform([2, 16, 32, 32, 2], seed=(3, 4), minval=-1, maxval=1)
    for endpoint in ("Conv3d_1a_7x7", "MaxPool3d_4a_3x3", "Mixed_4f"):
        model = InceptionI3d(modality="flow", final_endpoint=endpoint)
        assert tuple(model(x).shape) == (2,) + _expected_shapes(16, 32, 32)[endpoint]
        assert model.head is None


@pytest.mark.slow
def test_logits_and_predictions_at_full_size_for_the_sample_length():
    # The release's sample is 79 frames at 224x224: Mixed_5c has ceil(79/8) = 10 steps, the
    # 2x7x7 VALID pool leaves 9, and the logits are their mean.
    x = tf.random.stateless_uniform([1, 79, 224, 224, 3], seed=(5, 6), minval=-1, maxval=1)
    model = InceptionI3d(num_classes=400, final_endpoint="Predictions")
    probs = model(x, training=False)
    assert probs.shape == (1, 400)
    np.testing.assert_allclose(np.sum(probs.numpy()), 1.0, rtol=1e-5)
    # Logits averaged over time: the head on Mixed_5c equals the mean of per-step logits.
    trunk = InceptionI3d(num_classes=400, final_endpoint="Mixed_5c")
    trunk.set_weights(model.get_weights()[: len(trunk.get_weights())])
    feats = trunk(x, training=False)
    assert feats.shape == (1, 10, 7, 7, 1024)
    head = model.head
    per_step = tf.squeeze(head.logits(head.avg_pool(feats)), [2, 3])
    assert per_step.shape == (1, 9, 400)
    logits = InceptionI3d(num_classes=400)
    logits.set_weights(model.get_weights())
    np.testing.assert_allclose(
        logits(x, training=False).numpy(), tf.reduce_mean(per_step, 1).numpy(), atol=1e-5
    )


def test_too_few_frames_for_the_head_is_an_error():
    model = InceptionI3d(num_classes=5)
    with pytest.raises(ValueError, match="at least 9 input frames"):
        model(tf.zeros([1, 8, 224, 224, 3]), training=False)


def test_wrong_spatial_size_for_the_head_is_an_error():
    model = InceptionI3d(num_classes=5)
    with pytest.raises(ValueError, match="Mixed_5c spatial size 2x2"):
        model(tf.zeros([1, 9, 64, 64, 3]), training=False)


def test_too_few_frames_in_a_graph_with_unknown_time_is_an_error():
    model = InceptionI3d(num_classes=5)
    fn = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([1, None, 193, 193, 3], tf.float32)],
    )
    assert fn(tf.zeros([1, 9, 193, 193, 3])).shape == (1, 5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 9 input frames"):
        fn(tf.zeros([1, 8, 193, 193, 3]))


def test_wrong_channel_count_is_an_error():
    with pytest.raises(ValueError, match="rgb model and expects 3 input channels; got 2"):
        InceptionI3d(modality="rgb", final_endpoint="Conv3d_1a_7x7")(tf.zeros([1, 9, 32, 32, 2]))
    with pytest.raises(ValueError, match="flow model and expects 2 input channels; got 3"):
        InceptionI3d(modality="flow", final_endpoint="Conv3d_1a_7x7")(tf.zeros([1, 9, 32, 32, 3]))


def test_wrong_rank_is_an_error():
    with pytest.raises(ValueError, match="got rank 4"):
        InceptionI3d(final_endpoint="Conv3d_1a_7x7")(tf.zeros([9, 32, 32, 3]))


def test_bad_constructor_arguments_are_named():
    with pytest.raises(ValueError, match="final_endpoint must be one of"):
        InceptionI3d(final_endpoint="Mixed_6a")
    with pytest.raises(ValueError, match="modality must be one of"):
        InceptionI3d(modality="depth")
    with pytest.raises(ValueError, match="unknown model 'i4d'"):
        build("i4d", 400)


def test_dropout_is_active_only_in_training():
    x = tf.random.stateless_uniform([1, 9, 193, 193, 3], seed=(7, 8), minval=-1, maxval=1)
    model = InceptionI3d(num_classes=7, dropout_rate=0.5)
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Training mode also uses batch statistics, which are deterministic: with dropout off two
    # training calls agree, with dropout on they differ, so the difference is dropout's.
    no_dropout = InceptionI3d(num_classes=7, dropout_rate=0.0)
    np.testing.assert_allclose(no_dropout(x, training=True).numpy(),
                               no_dropout(x, training=True).numpy(), atol=1e-6)
    assert not np.allclose(model(x, training=True).numpy(), model(x, training=True).numpy())


def test_keras_saving_round_trip(tmp_path):
    model = InceptionI3d(num_classes=5, modality="flow", final_endpoint="Mixed_4b")
    x = tf.random.stateless_uniform([1, 9, 32, 32, 2], seed=(9, 9), minval=-1, maxval=1)
    path = tmp_path / "i3d.keras"
    model.save(path)
    import keras

    loaded = keras.models.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_endpoint_list_is_the_release_list():
    assert VALID_ENDPOINTS[0] == "Conv3d_1a_7x7" and VALID_ENDPOINTS[-2:] == ("Logits", "Predictions")
    assert len(VALID_ENDPOINTS) == 18
