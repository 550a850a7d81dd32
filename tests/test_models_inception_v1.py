"""2D Inception-v1 (TF-slim layout): shapes per endpoint, slim unit paths, config round trip."""
import keras
import numpy as np
import pytest

from kinetics_i3d.models import InceptionV1, build
from kinetics_i3d.models.inception_v1 import ENDPOINTS, POOLED_ENDPOINT, TRUNK_ENDPOINTS


def _images(size, channels=3, batch=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, size, size, channels)).astype(np.float32)


def test_shapes_at_224():
    x = _images(224, batch=2)
    features = InceptionV1(final_endpoint="Mixed_5c")(x, training=False)
    assert tuple(features.shape) == (2, 7, 7, 1024)
    pooled = InceptionV1(final_endpoint=POOLED_ENDPOINT)(x, training=False)
    assert tuple(pooled.shape) == (2, 1, 1, 1024)
    logits = InceptionV1(num_classes=17)(x, training=False)
    assert tuple(logits.shape) == (2, 17)
    predictions = InceptionV1(num_classes=17, final_endpoint="Predictions")(x, training=False)
    np.testing.assert_allclose(np.sum(predictions.numpy(), axis=-1), 1.0, rtol=1e-5)


def test_pooled_endpoint_is_the_mean_of_mixed_5c():
    x = _images(224)
    model = InceptionV1(final_endpoint=POOLED_ENDPOINT)
    mixed_5c = InceptionV1(final_endpoint="Mixed_5c")
    mixed_5c.set_weights(model.get_weights())  # same trunk, no extra weights in the pool
    expected = np.mean(mixed_5c(x, training=False).numpy(), axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(model(x, training=False).numpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "endpoint, shape",
    [
        ("Conv2d_1a_7x7", (32, 32, 64)),
        ("MaxPool_2a_3x3", (16, 16, 64)),
        ("Conv2d_2c_3x3", (16, 16, 192)),
        ("Mixed_3c", (8, 8, 480)),
        ("Mixed_4f", (4, 4, 832)),
        ("MaxPool_5a_2x2", (2, 2, 832)),
        ("Mixed_5c", (2, 2, 1024)),
    ],
)
def test_trunk_endpoint_shapes(endpoint, shape):
    out = InceptionV1(final_endpoint=endpoint)(_images(64), training=False)
    assert tuple(out.shape) == (1,) + shape


def test_input_channels_changes_only_the_first_kernel():
    flow = InceptionV1(input_channels=20, final_endpoint="Mixed_3b")
    rgb = InceptionV1(final_endpoint="Mixed_3b")
    units_flow, units_rgb = dict(flow.named_units()), dict(rgb.named_units())
    assert tuple(units_flow["Conv2d_1a_7x7"].conv.kernel.shape) == (7, 7, 20, 64)
    assert tuple(units_rgb["Conv2d_1a_7x7"].conv.kernel.shape) == (7, 7, 3, 64)
    for path in units_rgb:
        if path != "Conv2d_1a_7x7":
            assert units_flow[path].conv.kernel.shape == units_rgb[path].conv.kernel.shape
    assert tuple(flow(_images(64, channels=20), training=False).shape) == (1, 8, 8, 256)
    with pytest.raises(ValueError, match="20 input channels; got 3"):
        flow(_images(64))


def test_slim_unit_paths_and_shapes():
    units = dict(InceptionV1().named_units())
    assert len(units) == 58  # 3 stem convs + 9 modules x 6 units + logits
    # slim inception_v1.py names Mixed_5b's Branch_2 3x3 conv "Conv2d_0a_3x3".
    assert "Mixed_5b/Branch_2/Conv2d_0a_3x3" in units
    assert "Mixed_5b/Branch_2/Conv2d_0b_3x3" not in units
    assert "Mixed_5c/Branch_2/Conv2d_0b_3x3" in units
    assert tuple(units["Mixed_3b/Branch_1/Conv2d_0b_3x3"].conv.kernel.shape) == (3, 3, 96, 128)
    assert tuple(units["Mixed_4f/Branch_3/Conv2d_0b_1x1"].conv.kernel.shape) == (1, 1, 528, 128)
    logits = units["Logits/Conv2d_0c_1x1"]
    assert tuple(logits.conv.kernel.shape) == (1, 1, 1024, 1001)
    assert tuple(logits.conv.bias.shape) == (1001,) and logits.bn is None
    # slim's BatchNorm in inception_v1: center (beta) only, no scale (gamma).
    bn = units["Conv2d_1a_7x7"].bn
    assert bn.gamma is None and tuple(bn.beta.shape) == (64,)
    assert bn.epsilon == pytest.approx(1e-3)


def test_head_rejects_small_inputs_and_bad_endpoints():
    with pytest.raises(ValueError, match="exactly 7x7"):
        InceptionV1()(_images(64))
    with pytest.raises(ValueError, match="at least 7x7"):
        InceptionV1(final_endpoint=POOLED_ENDPOINT)(_images(64))
    with pytest.raises(ValueError, match="final_endpoint must be one of"):
        InceptionV1(final_endpoint="Mixed_6a")
    assert ENDPOINTS[: len(TRUNK_ENDPOINTS)] == TRUNK_ENDPOINTS


def test_config_round_trip_and_registry():
    model = InceptionV1(num_classes=5, input_channels=20, dropout_rate=0.3,
                        final_endpoint=POOLED_ENDPOINT)
    clone = InceptionV1.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert keras.saving.get_registered_object("kinetics_i3d>InceptionV1") is InceptionV1
    built = build("inception_v1", num_classes=7, final_endpoint="Mixed_3b")
    assert isinstance(built, InceptionV1) and built.num_classes == 7

