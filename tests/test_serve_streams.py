"""serve.streams: inference streams from release-layout checkpoints."""
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d.checkpoints import export_released, write_checkpoint
from kinetics_i3d.models import InceptionI3d
from kinetics_i3d.serve import streams


@pytest.fixture(scope="module")
def flow_checkpoint(tmp_path_factory):
    model = InceptionI3d(num_classes=7, modality="flow")
    prefix = str(tmp_path_factory.mktemp("flow") / "model.ckpt")
    write_checkpoint(export_released(model), prefix)
    return prefix, model


def test_feature_endpoint_loads_from_a_full_checkpoint(flow_checkpoint):
    prefix, source = flow_checkpoint
    features = streams.load_stream("flow", prefix, num_classes=7, final_endpoint="Mixed_5c")
    assert features.head is None and features.dropout_rate == 0.0
    x = tf.random.stateless_uniform([1, 9, 32, 32, 2], seed=(3, 1), minval=-1, maxval=1)
    y = x
    for layer in source.trunk:
        y = layer(y, training=False)
    np.testing.assert_allclose(features(x, training=False).numpy(), y.numpy(), atol=1e-6)


def test_wrong_modality_and_class_count_are_named(flow_checkpoint):
    prefix, _ = flow_checkpoint
    with pytest.raises(ValueError, match="rgb stream: checkpoint .* is a flow checkpoint"):
        streams.load_stream("rgb", prefix)
    with pytest.raises(streams.ClassCountError, match="has 7 classes .* expected 400"):
        streams.load_stream("flow", prefix, num_classes=400)


def test_load_streams_holds_every_stream_to_the_first_class_count(flow_checkpoint):
    prefix, _ = flow_checkpoint
    models = streams.load_streams({"flow": prefix, "rgb": None})
    assert list(models) == ["flow", "rgb"]
    assert models["flow"].num_classes == models["rgb"].num_classes == 7
    assert models["rgb"].modality.name == "rgb"
    with pytest.raises(streams.ClassCountError, match="has 7 classes .* expected 400"):
        streams.load_streams({"rgb": None, "flow": prefix}, num_classes=400)
