"""Per-step processors: sampling, looping, crops, flips (flow sign), resizing, value ranges."""
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d import mediasequence as ms
from kinetics_i3d.data import processors
from kinetics_i3d.ingest import sequence, video


def test_random_start_stays_early_enough_and_covers_the_range():
    starts = [int(processors.random_start(100, 64, u)) for u in np.linspace(0.0, 0.9999, 200)]
    assert min(starts) == 0 and max(starts) == 36
    assert len(set(starts)) == 37
    # A video shorter than the footprint starts at 0 (and loops).
    assert int(processors.random_start(20, 64, 0.99)) == 0


def test_frame_indices_loop_short_videos():
    idx = processors.frame_indices(tf.constant([3]), range(0, 50, 5), 19).numpy()
    np.testing.assert_array_equal(idx[0], (3 + np.arange(0, 50, 5)) % 19)


def test_snapshot_starts_even_and_strided():
    np.testing.assert_array_equal(processors.snapshot_starts(100, 10, 5).numpy(),
                                  [0, 22, 45, 68, 90])
    np.testing.assert_array_equal(processors.snapshot_starts(100, 16, 3, stride=16).numpy(),
                                  [0, 16, 32])
    np.testing.assert_array_equal(processors.snapshot_starts(5, 10, 3).numpy(), [0, 0, 0])


def test_crop_offsets_centre_and_random_bounds():
    y, x = processors.crop_offsets(256, 340, 224)
    assert (int(y), int(x)) == (16, 58)
    for u in (0.0, 0.5, 0.99999):
        y, x = processors.crop_offsets(256, 340, 224, {"crop_y": u, "crop_x": u})
        assert 0 <= int(y) <= 32 and 0 <= int(x) <= 116
    y, x = processors.crop_offsets(256, 340, 224, {"crop_y": 0.99999, "crop_x": 0.99999})
    assert (int(y), int(x)) == (32, 116)


def test_flip_negates_flow_x_only_and_mirrors_every_frame():
    flow = np.zeros((3, 4, 6, 2), np.float32)
    flow[:, 1, 0] = [0.5, -0.25]  # left column of row 1
    out = processors.flip_left_right(tf.constant(flow), tf.constant(True), is_flow=True).numpy()
    np.testing.assert_allclose(out[:, 1, 5], [[-0.5, -0.25]] * 3)
    assert np.count_nonzero(out[:, :, :5]) == 0
    same = processors.flip_left_right(tf.constant(flow), tf.constant(False), is_flow=True)
    np.testing.assert_array_equal(same.numpy(), flow)
    rgb = np.arange(2 * 6 * 3, dtype=np.float32).reshape(1, 2, 6, 3)
    np.testing.assert_array_equal(
        processors.flip_left_right(tf.constant(rgb), tf.constant(True)).numpy(), rgb[:, :, ::-1])


def test_resized_size_follows_the_ingest_rule():
    heights, widths = (a.ravel() for a in np.meshgrid(np.arange(16, 1100, 7),
                                                       np.arange(16, 1100, 13)))
    for short_side in (256, 36):
        h, w = processors.resized_size(tf.constant(heights), tf.constant(widths), short_side)
        expected = [video.resized_shape(int(a), int(b), short_side)
                    for a, b in zip(heights, widths)]
        np.testing.assert_array_equal(np.stack([h.numpy(), w.numpy()], 1), expected)
    # A tie that float32 arithmetic rounds the other way (124.5 -> 125).
    assert tuple(int(v) for v in processors.resized_size(415, 120, 36)) == (124, 36)


def test_resize_scales_flow_displacements_with_the_image():
    flow = np.full((1, 8, 10, 2), [0.1, -0.2], np.float32)
    out = processors.resize_smallest(tf.constant(flow), 16, is_flow=True).numpy()
    assert out.shape == (1, 16, 20, 2)
    np.testing.assert_allclose(out[0, 4, 4], [0.2, -0.4], atol=1e-6)
    rgb = processors.resize_smallest(tf.constant(flow), 16, is_flow=False).numpy()
    np.testing.assert_allclose(rgb[0, 4, 4], [0.1, -0.2], atol=1e-6)
    # Large displacements stay within the network's [-1, 1] range.
    big = processors.resize_smallest(tf.constant(np.full((1, 8, 8, 2), 0.8, np.float32)), 32,
                                     is_flow=True).numpy()
    assert big.max() == pytest.approx(1.0)


def test_resize_scales_x_by_the_width_ratio_and_y_by_the_height_ratio():
    # 3x5 -> short side 4: 4x7 (round(5 * 4 / 3) = 7), so x scales by 7/5 and y by 4/3.
    flow = np.zeros((2, 3, 5, 2), np.float32)
    flow[0] = [0.1, -0.2]
    flow[1] = [-0.5, 0.6]  # 0.6 * 4/3 = 0.8; -0.5 * 7/5 = -0.7
    out = processors.resize_smallest(tf.constant(flow), 4, is_flow=True).numpy()
    assert out.shape == (2, 4, 7, 2)
    np.testing.assert_allclose(out[0], np.broadcast_to([0.14, -0.2 * 4 / 3], (4, 7, 2)),
                               atol=1e-6)
    np.testing.assert_allclose(out[1], np.broadcast_to([-0.7, 0.8], (4, 7, 2)), atol=1e-6)
    # 32 -> 256 px: displacements x8, clipped to the network's [-1, 1].
    flow = np.zeros((1, 32, 32, 2), np.float32)
    flow[..., 0] = np.linspace(-0.2, 0.2, 32)[None, :]  # varies along x only: stays exact
    flow[..., 1] = 0.05
    out = processors.resize_smallest(tf.constant(flow), 256, is_flow=True).numpy()
    assert out.shape == (1, 256, 256, 2)
    np.testing.assert_allclose(out[..., 1], 0.4, atol=1e-6)
    x = out[0, 0, :, 0]
    assert x.min() == -1.0 and x.max() == 1.0  # +-0.2 * 8 = +-1.6, clipped
    inner = np.abs(x) < 0.99
    # Interior columns: 8 x the bilinear (half-pixel) interpolation of the stored ramp.
    centres = (np.arange(256) + 0.5) / 8 - 0.5
    ramp = np.interp(centres, np.arange(32), np.linspace(-0.2, 0.2, 32))
    np.testing.assert_allclose(x[inner], 8 * ramp[inner], atol=1e-5)


def test_value_ranges_match_the_release_encoding():
    assert processors.rgb_to_unit(tf.constant([0, 255], tf.uint8)).numpy().tolist() == [-1.0, 1.0]
    flow = np.random.default_rng(0).uniform(-25, 25, (2, 5, 5, 2)).astype(np.float32)
    stored = ms.encode_flow_uint8(flow)
    ours = processors.flow_to_unit(tf.constant(stored)).numpy()
    np.testing.assert_allclose(ours, ms.decode_flow_unit(stored), atol=1e-7)
    np.testing.assert_allclose(ours * ms.FLOW_BOUND, np.clip(flow, -20, 20), atol=0.08)


def test_photometric_jitter_changes_rgb_and_keeps_range():
    frames = tf.constant(np.random.default_rng(1).uniform(-0.9, 0.9, (2, 8, 8, 3)), tf.float32)
    state = processors.random_state(tf.constant([1, 2], tf.int64), photometric=True)
    out = processors.photometric_jitter(frames, state).numpy()
    assert np.abs(out - frames.numpy()).mean() > 0.01
    assert out.min() >= -1.0 and out.max() <= 1.0
    # Same parameters on every frame: a frame repeated stays identical after jitter.
    same = processors.photometric_jitter(tf.stack([frames[0], frames[0]]), state).numpy()
    np.testing.assert_array_equal(same[0], same[1])


def test_random_state_is_a_function_of_the_seed():
    a = processors.random_state(tf.constant([5, 6], tf.int64))
    b = processors.random_state(tf.constant([5, 6], tf.int64))
    c = processors.random_state(tf.constant([5, 7], tf.int64))
    assert all(float(a[k]) == float(b[k]) for k in ("start_u", "crop_y", "crop_x"))
    assert any(float(a[k]) != float(c[k]) for k in ("start_u", "crop_y", "crop_x"))


def test_decode_and_crop_matches_decode_then_crop():
    rng = np.random.default_rng(2)
    image = (rng.uniform(0, 255, (40, 56, 3))).astype(np.uint8)
    encoded = tf.constant([sequence.encode_jpeg(image, 90)] * 2)
    full = processors.decode_frames(encoded, 3)
    cropped = processors.decode_and_crop_jpeg_frames(encoded, tf.constant(3), tf.constant(9), 24)
    np.testing.assert_array_equal(cropped.numpy(),
                                  processors.crop_frames(full, 3, 9, 24).numpy())
