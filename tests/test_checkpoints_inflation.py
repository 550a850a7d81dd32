"""ImageNet Inception-v1 -> I3D inflation (paper sec. 2.4): boring-video fixed point and checkpoints.

The fixed point: a video made of one image repeated T times, fed to the inflated I3D, gives at
every Mixed_5c time step the 2D network's Mixed_5c on that image -- except near the temporal
border. I3D's convs pad with zeros in time (`SAME`), so an output step whose temporal receptive
field reaches past the first or last frame mixes in zeros instead of copies of the image
("repeat" inflation spreads each 2D kernel over all N time taps, so it sees the zeros).
Max-pools ignore their padding and do not add border steps. `boring_video_valid_steps` follows
the model's layers to count them: at T=112, Mixed_5c has 14 steps and only steps 6 and 7 are
free of border effects (6 affected steps at each end). "centre" inflation puts the 2D kernel on
the one tap aligned with the output step, which is always inside the video, so it keeps the
fixed point at every step, border included.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kinetics_i3d.checkpoints import (
    boring_video_valid_steps,
    export_slim,
    flow_input_kernel,
    inflate_inception_v1,
    inflate_kernel,
    inflate_weights,
    model_variable_names,
    restore_released,
    restore_slim_inception_v1,
    slim_variable_names,
    write_checkpoint,
)
from kinetics_i3d.models import InceptionI3d, InceptionV1

REPO = Path(__file__).resolve().parents[1]
SIZE = 64  # Mixed_5c is 2x2 at 64x64: spatial zero padding is the same in 2D and 3D
FRAMES = 112  # smallest T (multiple of 8) with 2 border-free Mixed_5c steps, see module doc
TOL = 1e-4


def _rel_err(a, b):
    """max |a - b| / max |b| over all elements."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _random_slim_values(seed=0) -> dict[str, np.ndarray]:
    """A seeded InceptionV1 (1001 classes) with non-trivial BN statistics, under slim names."""
    rng = np.random.default_rng(seed)
    import keras

    keras.utils.set_random_seed(seed)
    model = InceptionV1()
    for _, unit in model.named_units():
        if unit.bn is None:
            continue
        c = unit.filters
        unit.bn.beta.assign(rng.normal(0.0, 0.2, c).astype(np.float32))
        unit.bn.moving_mean.assign(rng.normal(0.0, 0.2, c).astype(np.float32))
        unit.bn.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype(np.float32))
    return export_slim(model)


def _load(model, values: dict[str, np.ndarray], prefix: str):
    """Assigns scoped release values to every variable `model` has (trunk-only models too)."""
    for name, var in model_variable_names(model).items():
        var.assign(values[prefix + name])
    return model


def _model2d(values: dict[str, np.ndarray], endpoint="Mixed_5c") -> InceptionV1:
    model = InceptionV1(final_endpoint=endpoint)
    for name, var in slim_variable_names(model).items():
        var.assign(values[name])
    return model


def _boring(image: np.ndarray, frames: int) -> np.ndarray:
    return np.repeat(image[:, None], frames, axis=1)


@pytest.fixture(scope="module")
def slim_values():
    return _random_slim_values()


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(1).uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def slim_checkpoint(tmp_path_factory, slim_values):
    """A checkpoint in the slim layout with random values, plus the non-weights slim writes."""
    values = dict(slim_values)
    values["global_step"] = np.array(1000, np.int64)
    name = "InceptionV1/Conv2d_1a_7x7/weights"
    values[f"{name}/ExponentialMovingAverage"] = values[name] + 1.0
    values[f"{name}/RMSProp"] = np.ones_like(values[name])
    return write_checkpoint(values, str(tmp_path_factory.mktemp("slim") / "inception_v1.ckpt"))


# --- the kernel rules ------------------------------------------------------------------------


def test_inflate_kernel_rules():
    k = np.random.default_rng(0).normal(size=(3, 3, 4, 5)).astype(np.float32)
    repeat = inflate_kernel(k, 3, "repeat")
    assert repeat.shape == (3, 3, 3, 4, 5)
    for t in range(3):
        np.testing.assert_allclose(repeat[t], k / 3, rtol=1e-6)
    centre = inflate_kernel(k, 7, "centre")
    np.testing.assert_array_equal(centre[3], k)
    assert not np.any(np.delete(centre, 3, axis=0))
    np.testing.assert_array_equal(inflate_kernel(k, 1, "repeat")[0], k)
    with pytest.raises(ValueError, match="'mean'"):
        inflate_kernel(k, 3, "mean")


def test_flow_input_kernel_is_the_rgb_mean_repeated():
    k = np.random.default_rng(0).normal(size=(7, 7, 3, 8)).astype(np.float32)
    flow = flow_input_kernel(k, 2)
    assert flow.shape == (7, 7, 2, 8)
    for c in range(2):
        np.testing.assert_allclose(flow[:, :, c], k.mean(axis=2), rtol=1e-6)


# --- boring-video fixed point ----------------------------------------------------------------


def test_boring_video_fixed_point_repeat(slim_values, image):
    """Seeded random 2D network: interior Mixed_5c steps equal 2D Mixed_5c to <= 1e-4."""
    reference = _model2d(slim_values)(image, training=False).numpy()[0]
    assert 0.1 < np.mean(reference > 0) < 0.9  # BN/ReLU left a non-trivial activation pattern
    i3d = _load(InceptionI3d(final_endpoint="Mixed_5c"),
                inflate_weights(slim_values, method="repeat"), "RGB/inception_i3d/")
    out = i3d(_boring(image, FRAMES), training=False).numpy()[0]
    steps, valid = boring_video_valid_steps(i3d, FRAMES)
    assert out.shape[0] == steps == 14
    assert list(valid) == [6, 7]  # 6 border-affected steps at each end
    errors = [_rel_err(out[t], reference) for t in range(steps)]
    assert max(errors[t] for t in valid) <= TOL, errors
    # Border steps really differ: zero temporal padding enters the first and last steps.
    assert errors[0] > 1e-3 and errors[-1] > 1e-3, errors


def test_border_step_count_is_exact_at_an_early_endpoint(slim_values, image):
    """At Conv3d_2c_3x3 the border effect is large: steps outside the range differ, inside match."""
    reference = _model2d(slim_values, "Conv2d_2c_3x3")(image, training=False).numpy()[0]
    i3d = _load(InceptionI3d(final_endpoint="Conv3d_2c_3x3"),
                inflate_weights(slim_values, method="repeat"), "RGB/inception_i3d/")
    frames = 16
    out = i3d(_boring(image, frames), training=False).numpy()[0]
    steps, valid = boring_video_valid_steps(i3d, frames)
    assert out.shape[0] == steps == 8 and list(valid) == [2, 3, 4]
    for t in range(steps):
        err = _rel_err(out[t], reference)
        if t in valid:
            assert err <= TOL, (t, err)
        else:
            assert err > 1e-3, (t, err)


def test_centre_inflation_keeps_the_fixed_point_at_every_step(slim_values, image):
    """"centre" matches the 2D network at every step, border included ("repeat" does not)."""
    reference = _model2d(slim_values)(image, training=False).numpy()[0]
    i3d = _load(InceptionI3d(final_endpoint="Mixed_5c"),
                inflate_weights(slim_values, method="centre"), "RGB/inception_i3d/")
    for frames in (FRAMES, 41):  # even and odd T (the stride-2 conv pads differently)
        out = i3d(_boring(image, frames), training=False).numpy()[0]
        errors = [_rel_err(out[t], reference) for t in range(out.shape[0])]
        assert max(errors) <= TOL, (frames, errors)


# --- checkpoints -----------------------------------------------------------------------------


def test_slim_checkpoint_to_i3d_round_trip_and_fixed_point(tmp_path, slim_checkpoint, image):
    """slim layout checkpoint -> restore 2D; inflate -> write -> restore_released -> fixed point."""
    model2d = InceptionV1(final_endpoint="Mixed_5c")  # no logits: the checkpoint's are ignored
    restore_slim_inception_v1(model2d, slim_checkpoint)
    import tensorflow as tf

    reader = tf.train.load_checkpoint(slim_checkpoint)
    first = reader.get_tensor("InceptionV1/Conv2d_1a_7x7/weights")  # not the EMA shadow
    np.testing.assert_array_equal(dict(model2d.named_units())["Conv2d_1a_7x7"].conv.kernel, first)

    values = inflate_inception_v1(slim_checkpoint, modality="rgb", num_classes=400, seed=3)
    prefix = write_checkpoint(values, str(tmp_path / "rgb_inflated"))
    i3d = InceptionI3d(num_classes=400, modality="rgb")
    layout = restore_released(i3d, prefix)  # raises on any missing / extra variable
    assert layout.prefix == "RGB/inception_i3d/" and layout.num_classes == 400
    assert set(values) == {"RGB/inception_i3d/" + n for n in model_variable_names(i3d)}
    units = dict(i3d.named_units())
    np.testing.assert_allclose(units["Conv3d_1a_7x7"].conv.kernel.numpy(),
                               np.repeat(first[None], 7, axis=0) / 7, rtol=1e-6)
    mixed = units["Mixed_4c/Branch_2/Conv3d_0b_3x3"]
    np.testing.assert_array_equal(
        mixed.bn.moving_variance.numpy(),
        reader.get_tensor("InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3/BatchNorm/moving_variance"))
    assert tuple(units["Mixed_4c/Branch_1/Conv3d_0a_1x1"].conv.kernel.shape)[0] == 1
    logits = units["Logits/Conv3d_0c_1x1"].conv
    assert tuple(logits.kernel.shape) == (1, 1, 1, 1024, 400)
    assert not np.any(logits.bias.numpy())
    assert np.std(logits.kernel.numpy()) == pytest.approx(0.88 / 32, rel=0.05)  # trunc. at 2 std
    assert np.max(np.abs(logits.kernel.numpy())) <= 2 / 32 + 1e-6

    reference = model2d(image, training=False).numpy()[0]
    trunk = _load(InceptionI3d(final_endpoint="Mixed_5c"), values, "RGB/inception_i3d/")
    out = trunk(_boring(image, FRAMES), training=False).numpy()[0]
    _, valid = boring_video_valid_steps(trunk, FRAMES)
    assert max(_rel_err(out[t], reference) for t in valid) <= TOL


def test_flow_inflation_and_seeded_logits(tmp_path, slim_checkpoint):
    values = inflate_inception_v1(slim_checkpoint, modality="flow", num_classes=7, seed=1)
    i3d = InceptionI3d(num_classes=7, modality="flow")
    restore_released(i3d, write_checkpoint(values, str(tmp_path / "flow_inflated")))
    import tensorflow as tf

    rgb = tf.train.load_checkpoint(slim_checkpoint).get_tensor("InceptionV1/Conv2d_1a_7x7/weights")
    kernel = dict(i3d.named_units())["Conv3d_1a_7x7"].conv.kernel.numpy()
    assert kernel.shape == (7, 7, 7, 2, 64)
    np.testing.assert_allclose(kernel[3, :, :, 1], rgb.mean(axis=2) / 7, rtol=1e-5)
    again = inflate_inception_v1(slim_checkpoint, modality="flow", num_classes=7, seed=1)
    other = inflate_inception_v1(slim_checkpoint, modality="flow", num_classes=7, seed=2)
    w = "Flow/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w"
    np.testing.assert_array_equal(values[w], again[w])
    assert not np.allclose(values[w], other[w])


def test_restore_slim_logits_rules(slim_checkpoint, slim_values):
    full = InceptionV1()
    restore_slim_inception_v1(full, slim_checkpoint)
    np.testing.assert_array_equal(
        dict(full.named_units())["Logits/Conv2d_0c_1x1"].conv.bias.numpy(),
        slim_values["InceptionV1/Logits/Conv2d_0c_1x1/biases"])
    ten = InceptionV1(num_classes=10)
    with pytest.raises(ValueError, match=r"Logits/Conv2d_0c_1x1/weights: checkpoint shape "
                                         r"\[1, 1, 1024, 1001\], expected \[1, 1, 1024, 10\]"):
        restore_slim_inception_v1(ten, slim_checkpoint)
    restore_slim_inception_v1(ten, slim_checkpoint, skip_logits=True)
    np.testing.assert_array_equal(
        dict(ten.named_units())["Mixed_5c/Branch_0/Conv2d_0a_1x1"].conv.kernel.numpy(),
        slim_values["InceptionV1/Mixed_5c/Branch_0/Conv2d_0a_1x1/weights"])
    # A trunk-only model reads only its layers; 20 stacked flow channels get the RGB mean.
    stacked_flow = InceptionV1(input_channels=20, final_endpoint="Mixed_3b")
    restore_slim_inception_v1(stacked_flow, slim_checkpoint)
    np.testing.assert_allclose(
        dict(stacked_flow.named_units())["Conv2d_1a_7x7"].conv.kernel.numpy()[:, :, 13],
        slim_values["InceptionV1/Conv2d_1a_7x7/weights"].mean(axis=2), rtol=1e-5)


def test_not_an_inception_v1_checkpoint_is_rejected(tmp_path, slim_values):
    values = dict(slim_values)
    del values["InceptionV1/Mixed_4d/Branch_1/Conv2d_0b_3x3/weights"]
    values["InceptionV1/Mixed_3b/Branch_0/Conv2d_0a_1x1/BatchNorm/beta"] = np.zeros(65, np.float32)
    values["InceptionV2/Conv2d_1a_7x7/weights"] = np.zeros((7, 7, 3, 64), np.float32)
    bad = write_checkpoint(values, str(tmp_path / "bad"))
    model = InceptionV1()
    before = [v.numpy().copy() for v in model.weights]
    for call in (lambda: restore_slim_inception_v1(model, bad), lambda: inflate_inception_v1(bad)):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "missing from the checkpoint: InceptionV1/Mixed_4d/Branch_1/Conv2d_0b_3x3/weights" \
            in message
        assert "InceptionV1/Mixed_3b/Branch_0/Conv2d_0a_1x1/BatchNorm/beta: checkpoint shape " \
            "[65], expected [64]" in message
        assert "InceptionV2/Conv2d_1a_7x7/weights" in message
    for old, var in zip(before, model.weights):  # all or nothing
        np.testing.assert_array_equal(old, var.numpy())
    with pytest.raises(FileNotFoundError, match="nowhere"):
        inflate_inception_v1(str(tmp_path / "nowhere"))


def test_cli_writes_a_centre_inflated_release_checkpoint(tmp_path, slim_checkpoint):
    output = tmp_path / "out" / "flow_centre"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "inflate_inception_v1.py"),
         f"--imagenet_checkpoint={slim_checkpoint}", "--modality=flow", "--num_classes=5",
         f"--output_checkpoint={output}", "--inflation=centre"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    i3d = InceptionI3d(num_classes=5, modality="flow")
    restore_released(i3d, str(output))
    kernel = dict(i3d.named_units())["Mixed_3b/Branch_1/Conv3d_0b_3x3"].conv.kernel.numpy()
    assert np.any(kernel[1]) and not np.any(kernel[0]) and not np.any(kernel[2])  # centre only
