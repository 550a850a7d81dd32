"""restore_released: every layout of DeepMind's release, strict checks, and parity with tf.nn."""
import numpy as np
import pytest
import tensorflow as tf

from conftest import random_release_values
from kinetics_i3d.checkpoints import (
    detect_layout,
    export_released,
    read_num_classes,
    restore_released,
    write_checkpoint,
)
from kinetics_i3d.models import InceptionI3d


@pytest.fixture(scope="module")
def rgb_checkpoint(tmp_path_factory):
    values = random_release_values("rgb_imagenet", seed=1)
    prefix = str(tmp_path_factory.mktemp("rgb") / "model.ckpt")
    write_checkpoint(values, prefix)
    return prefix, values


@pytest.fixture(scope="module")
def flow_checkpoint(tmp_path_factory):
    values = random_release_values("flow_imagenet", seed=2)
    prefix = str(tmp_path_factory.mktemp("flow") / "model.ckpt")
    write_checkpoint(values, prefix)
    return prefix, values


@pytest.mark.parametrize("which", ["rgb_checkpoint", "flow_checkpoint"])
def test_restore_reproduces_every_value(which, request):
    prefix, values = request.getfixturevalue(which)
    layout = detect_layout(prefix)
    model = InceptionI3d(num_classes=400, modality=layout.modality)
    restore_released(model, prefix)
    restored = export_released(model)
    assert set(restored) == set(values)
    for name, value in values.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)


def test_truncated_model_reads_only_the_layers_it_has(rgb_checkpoint):
    prefix, values = rgb_checkpoint
    model = InceptionI3d(final_endpoint="Mixed_4c")
    restore_released(model, prefix)
    restored = export_released(model)
    assert restored and not any("Mixed_4d" in n or "Logits" in n for n in restored)
    for name, value in restored.items():
        np.testing.assert_array_equal(value, values[name], err_msg=name)


# ---- An independent forward pass in plain tf.nn ops, reading the checkpoint by name. ----

def _unit(x, v, path, stride=(1, 1, 1), bn=True):
    w = v[f"{path}/conv_3d/w"]
    x = tf.nn.conv3d(x, w, strides=(1, *stride, 1), padding="SAME")
    if not bn:
        return x + v[f"{path}/conv_3d/b"]
    mean, var = v[f"{path}/batch_norm/moving_mean"], v[f"{path}/batch_norm/moving_variance"]
    x = (x - mean) / tf.sqrt(var + 1e-3) + v[f"{path}/batch_norm/beta"]  # no scale, eps 1e-3
    return tf.nn.relu(x)


def _max_pool(x, k, s):
    return tf.nn.max_pool3d(x, ksize=(1, *k, 1), strides=(1, *s, 1), padding="SAME")


def _mixed(x, v, name):
    b2b = "Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"  # the release's naming
    b0 = _unit(x, v, f"{name}/Branch_0/Conv3d_0a_1x1")
    b1 = _unit(_unit(x, v, f"{name}/Branch_1/Conv3d_0a_1x1"), v, f"{name}/Branch_1/Conv3d_0b_3x3")
    b2 = _unit(_unit(x, v, f"{name}/Branch_2/Conv3d_0a_1x1"), v, f"{name}/Branch_2/{b2b}")
    b3 = _unit(_max_pool(x, (3, 3, 3), (1, 1, 1)), v, f"{name}/Branch_3/Conv3d_0b_1x1")
    return tf.concat([b0, b1, b2, b3], axis=4)


def _reference_logits(x, values, scope, per_step=False):
    v = {k[len(scope):]: tf.constant(a) for k, a in values.items()}
    x = _unit(x, v, "Conv3d_1a_7x7", stride=(2, 2, 2))
    x = _max_pool(x, (1, 3, 3), (1, 2, 2))
    x = _unit(x, v, "Conv3d_2b_1x1")
    x = _unit(x, v, "Conv3d_2c_3x3")
    x = _max_pool(x, (1, 3, 3), (1, 2, 2))
    x = _mixed(_mixed(x, v, "Mixed_3b"), v, "Mixed_3c")
    x = _max_pool(x, (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = _mixed(x, v, name)
    x = _max_pool(x, (2, 2, 2), (2, 2, 2))
    x = _mixed(_mixed(x, v, "Mixed_5b"), v, "Mixed_5c")
    x = tf.nn.avg_pool3d(x, ksize=(1, 2, 7, 7, 1), strides=(1, 1, 1, 1, 1), padding="VALID")
    x = _unit(x, v, "Logits/Conv3d_0c_1x1", bn=False)
    steps = tf.squeeze(x, [2, 3])  # [B, T', classes]
    return steps if per_step else tf.reduce_mean(steps, axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("which,channels,scope", [
    ("rgb_checkpoint", 3, "RGB/inception_i3d/"),
    ("flow_checkpoint", 2, "Flow/inception_i3d/"),
])
def test_forward_matches_plain_tf_nn_at_224(which, channels, scope, request):
    prefix, values = request.getfixturevalue(which)
    model = InceptionI3d(num_classes=400, modality="rgb" if channels == 3 else "flow")
    restore_released(model, prefix)
    # 32 frames: 4 Mixed_5c steps, 3 logits steps, so the mean over time is checked too (16
    # frames give one step, where mean, first, last and max are all the same).
    x = tf.random.stateless_uniform([1, 32, 224, 224, channels], seed=(11, channels),
                                    minval=-1, maxval=1)
    ours = model(x, training=False).numpy()
    steps = _reference_logits(x, values, scope, per_step=True).numpy()
    assert steps.shape == (1, 3, 400)
    reference = steps.mean(axis=1)
    assert np.abs(reference).max() > 0.5  # non-trivial logits, so the tolerance means something
    assert np.abs(steps - reference[:, None]).max() > 0.1  # the steps differ: the mean matters
    print(f"logits max |x| {np.abs(reference).max():.3f}, max abs diff {np.abs(ours - reference).max():.2e}")
    assert np.abs(ours - reference).max() <= 1e-4


# ---- The Kinetics-600 layout (rgb_scratch_kin600). ----

def _kin600_values(rgb_values, num_classes=600):
    """The unscoped layout: no RGB/inception_i3d scope, BN as [1,1,1,1,C], Momentum slots."""
    values = {}
    for name, value in rgb_values.items():
        short = name[len("RGB/inception_i3d/"):]
        if short.startswith("Logits/"):
            shape = value.shape[:-1] + (num_classes,)
            value = np.resize(value, shape).astype(np.float32)
        if "/batch_norm/" in short:
            value = value.reshape(1, 1, 1, 1, -1)
        values[short] = value
        if not short.endswith(("moving_mean", "moving_variance")):
            values[short + "/Momentum"] = np.zeros_like(value)
    values["global_step"] = np.array(1000, np.int64)
    return values


def test_kinetics_600_unscoped_layout_loads(rgb_checkpoint, tmp_path):
    _, rgb_values = rgb_checkpoint
    values = _kin600_values(rgb_values)
    prefix = write_checkpoint(values, str(tmp_path / "kin600" / "model.ckpt"))
    layout = detect_layout(prefix)
    assert (layout.prefix, layout.modality, layout.bn_shape_5d) == ("", "rgb", True)
    assert read_num_classes(prefix) == 600
    model = InceptionI3d(num_classes=read_num_classes(prefix), modality="rgb")
    restore_released(model, prefix)
    restored = export_released(model)
    for name, value in restored.items():
        short = name[len("RGB/inception_i3d/"):]
        np.testing.assert_array_equal(value, values[short].reshape(value.shape), err_msg=name)


def test_num_classes_read_from_the_scoped_checkpoint(rgb_checkpoint):
    assert read_num_classes(rgb_checkpoint[0]) == 400


# ---- Strictness: nothing loads half-way. ----

def _assert_untouched(model, before):
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_missing_variable_is_named_and_nothing_is_loaded(rgb_checkpoint, tmp_path):
    _, values = rgb_checkpoint
    values = dict(values)
    gone = "RGB/inception_i3d/Mixed_4c/Branch_1/Conv3d_0b_3x3/conv_3d/w"
    del values[gone]
    prefix = write_checkpoint(values, str(tmp_path / "m" / "model.ckpt"))
    model = InceptionI3d(num_classes=400)
    before = model.get_weights()
    with pytest.raises(ValueError, match="missing from the checkpoint: " + gone):
        restore_released(model, prefix)
    _assert_untouched(model, before)


def test_extra_variable_is_named(rgb_checkpoint, tmp_path):
    _, values = rgb_checkpoint
    values = dict(values, **{"RGB/inception_i3d/Mixed_6a/conv_3d/w": np.zeros([1], np.float32)})
    prefix = write_checkpoint(values, str(tmp_path / "e" / "model.ckpt"))
    with pytest.raises(ValueError, match="does not have: RGB/inception_i3d/Mixed_6a/conv_3d/w"):
        restore_released(InceptionI3d(num_classes=400), prefix)


def test_wrong_shape_names_variable_and_both_shapes(rgb_checkpoint):
    model = InceptionI3d(num_classes=600)  # the checkpoint has 400 classes
    before = model.get_weights()
    with pytest.raises(ValueError) as e:
        restore_released(model, rgb_checkpoint[0])
    message = str(e.value)
    assert "RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/b: checkpoint shape [400], model shape [600]" in message
    _assert_untouched(model, before)


def test_checkpoint_of_the_other_modality_is_an_error(rgb_checkpoint, flow_checkpoint):
    with pytest.raises(ValueError, match="is a rgb checkpoint .* but the model is flow"):
        restore_released(InceptionI3d(modality="flow"), rgb_checkpoint[0])
    with pytest.raises(ValueError, match="is a flow checkpoint .* but the model is rgb"):
        restore_released(InceptionI3d(modality="rgb"), flow_checkpoint[0])


def test_prefix_that_does_not_exist_is_an_error(tmp_path):
    prefix = str(tmp_path / "nowhere" / "model.ckpt")
    with pytest.raises(FileNotFoundError, match="nowhere/model.ckpt"):
        restore_released(InceptionI3d(), prefix)


def test_checkpoint_that_is_not_i3d_is_an_error(tmp_path):
    prefix = write_checkpoint({"resnet/conv1/w": np.zeros([3], np.float32)},
                              str(tmp_path / "r" / "model.ckpt"))
    with pytest.raises(ValueError, match="is not an I3D checkpoint"):
        restore_released(InceptionI3d(), prefix)


def test_load_released_builds_the_checkpoints_model(rgb_checkpoint, flow_checkpoint):
    from kinetics_i3d.checkpoints import load_released

    prefix, values = flow_checkpoint
    model = load_released(prefix)
    assert (model.modality.name, model.num_classes) == ("flow", 400)
    features = load_released(prefix, final_endpoint="Mixed_5c")
    assert features.head is None
    name = "Flow/inception_i3d/Mixed_5c/Branch_0/Conv3d_0a_1x1/conv_3d/w"
    np.testing.assert_array_equal(export_released(features)[name], values[name])
    # Its Mixed_5c equals the restored full model's trunk output.
    full = load_released(prefix)
    x = tf.random.stateless_uniform([1, 9, 32, 32, 2], seed=(1, 2), minval=-1, maxval=1)
    y = x
    for layer in full.trunk:
        y = layer(y, training=False)
    np.testing.assert_allclose(features(x, training=False).numpy(), y.numpy(), atol=1e-6)
