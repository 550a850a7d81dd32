"""Two-stream fusion, the one home (kinetics_i3d.fusion): evaluation, the sample, the SavedModel
and TwoStreamI3D all fuse with it."""
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d import fusion
from kinetics_i3d.serve import metrics


def test_two_stream_fusion_sums_logits():
    rgb = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.0]])
    flow = np.array([[-3.0, 0.0, 0.5], [2.0, -5.0, 2.5]])
    fused = fusion.fuse_logits({"rgb": rgb, "flow": flow})
    np.testing.assert_allclose(fused, [[-1.0, 1.0, 0.5], [3.0, -2.0, 2.5]])
    labels = np.array([1, 0])
    assert metrics.compute_metrics(rgb, labels).top1 == 0.0
    assert metrics.compute_metrics(flow, labels).top1 == 0.0
    assert metrics.compute_metrics(fused, labels).top1 == 1.0
    with pytest.raises(ValueError, match="same shape"):
        fusion.fuse_logits({"rgb": rgb, "flow": flow[:1]})
    np.testing.assert_array_equal(fusion.fuse_logits({"flow": flow}), flow)  # one stream: itself


def test_fusion_of_tensors_and_bad_streams():
    rgb, flow = tf.constant([[1.0, -2.0]]), tf.constant([[0.5, 4.0]])
    np.testing.assert_allclose(fusion.fuse_logits({"rgb": rgb, "flow": flow}).numpy(),
                               [[1.5, 2.0]])
    with pytest.raises(ValueError, match="at least one stream"):
        fusion.fuse_logits({})
    with pytest.raises(ValueError, match=r"unknown stream\(s\) \['depth'\]"):
        fusion.fuse_logits({"rgb": rgb, "depth": flow})


def test_stream_lengths_of_one_clip():
    # T RGB frames and T - 1 TV-L1 flow frames (T or T + 1 accepted) are one clip; more is two.
    from kinetics_i3d.errors import UserError

    fusion.check_stream_lengths({"rgb": 10, "flow": 9})
    fusion.check_stream_lengths({"rgb": 10, "flow": 11})
    fusion.check_stream_lengths({"rgb": 10})
    with pytest.raises(UserError, match="x of different lengths: rgb has 12 frames and flow 40"):
        fusion.check_stream_lengths({"rgb": 12, "flow": 40}, "x")
