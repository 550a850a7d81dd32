"""kinetics_i3d.preprocessing: the release's numbers and rules; numpy and TF twins agree."""
import numpy as np
import pytest

from conftest import VIDEOS
from kinetics_i3d import preprocessing as pp
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.video import read_video


def test_release_constants():
    # DeepMind kinetics-i3d README / paper sec. 2.5.
    assert (pp.FRAME_RATE, pp.SHORT_SIDE, pp.CROP_SIZE, pp.FLOW_BOUND) == (25.0, 256, 224, 20.0)
    assert pp.rgb_to_unit(np.array([0, 255], np.uint8)).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("height, width", [(480, 640), (640, 480), (272, 640), (144, 176),
                                           (120, 415), (415, 120), (256, 256), (1080, 1920)])
def test_resized_shape_twins_agree(height, width):
    # (120, 415): 415 * 256 / 120 = 885.33; the TF twin computes in float64 as Python does.
    expected = pp.resized_shape(height, width, pp.SHORT_SIDE)
    got = tuple(int(v) for v in pp.resized_shape_tf(height, width, pp.SHORT_SIDE))
    assert got == expected and min(expected) == pp.SHORT_SIDE
    assert pp.resized_shape(120, 415, 36) == (36, 124)  # 124.5 rounds half to even
    assert tuple(int(v) for v in pp.resized_shape_tf(120, 415, 36)) == (36, 124)


def test_resize_twins_agree_on_a_real_clip():
    # numpy (OpenCV INTER_LINEAR on uint8, rounded) vs TF (half-pixel bilinear on float): same
    # size, values within rounding plus a few uint8 levels at edges (BUILD_NOTES.md).
    raw = read_video(VIDEOS / "carphone_pristine.mp4", short_side=None).rgb[:3]
    ours = np.stack([pp.resize_short_side(f, pp.SHORT_SIDE) for f in raw])
    tf_out = pp.resize_short_side_tf(raw, pp.SHORT_SIDE).numpy()
    assert ours.shape == tf_out.shape == (3, 256, 313, 3)
    diff = np.abs(tf_out - ours.astype(np.float32))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3.0


def test_flow_resize_scales_each_axis_and_twins_agree():
    # 240 x 320 -> 256 x 341: x displacements grow by 341 / 320, y by 256 / 240.
    flow = np.zeros((240, 320, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    ours = pp.resize_short_side(flow, pp.SHORT_SIDE, is_flow=True)
    tf_out = pp.resize_short_side_tf(flow[None], pp.SHORT_SIDE, is_flow=True).numpy()[0]
    assert ours.shape == tf_out.shape == (256, 341, 2)
    np.testing.assert_allclose(ours[..., 0], 3.0 * 341 / 320, rtol=1e-6)
    np.testing.assert_allclose(ours[..., 1], -2.0 * 256 / 240, rtol=1e-6)
    np.testing.assert_allclose(tf_out, ours, rtol=1e-6)


@pytest.mark.parametrize("height, width, crop_y, crop_x", [
    (256, 341, None, None), (341, 256, None, None), (37, 50, 0.0, 0.999), (37, 50, 0.5, 0.25),
    (32, 32, 0.7, 0.1)])
def test_crop_offsets_twins_agree(height, width, crop_y, crop_x):
    size = 32
    expected = pp.crop_offsets(height, width, size, crop_y, crop_x)
    got = pp.crop_offsets_tf(height, width, size, crop_y, crop_x)
    assert tuple(int(v) for v in got) == expected
    assert 0 <= expected[0] <= height - size and 0 <= expected[1] <= width - size
    if crop_y is None:
        assert expected == ((height - size) // 2, (width - size) // 2)


def test_center_crop_and_scaling_twins_agree():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 40, 52, 3)).astype(np.uint8)
    np.testing.assert_array_equal(pp.center_crop(frames, 32), frames[:, 4:36, 10:42])
    np.testing.assert_array_equal(pp.center_crop_tf(frames, 32).numpy(), pp.center_crop(frames, 32))
    np.testing.assert_allclose(pp.rgb_to_unit_tf(frames).numpy(), pp.rgb_to_unit(frames),
                               rtol=0, atol=1e-6)
    flow = rng.normal(0, 15, (2, 8, 8, 2)).astype(np.float32)
    unit = pp.flow_to_unit(flow)
    np.testing.assert_allclose(pp.flow_to_unit_tf(flow).numpy(), unit, rtol=0, atol=1e-7)
    assert unit.min() == -1.0 and unit.max() == 1.0  # |flow| > 20 px truncated
    inside = np.abs(flow) < 20
    np.testing.assert_allclose(unit[inside], flow[inside] / 20.0, rtol=1e-6)


def test_range_check_names_the_range_and_the_conversion():
    rgb = np.random.default_rng(1).integers(0, 256, (1, 2, 4, 4, 3)).astype(np.float32)
    with pytest.raises(UserError) as err:
        pp.check_unit_range(rgb, "rgb input 'clip.npy'", "rgb")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"rgb input 'clip.npy': values in [{rgb.min():.4g}, "
                              f"{rgb.max():.4g}], expected preprocessed rgb input in [-1, 1]")
    assert message.endswith("uint8 RGB in [0, 255] converts with x / 127.5 - 1")
    pp.check_unit_range(pp.rgb_to_unit(rgb), "converted", "rgb")  # the advice works
    pp.check_unit_range(np.float32([-1.005, 1.005]), "within tolerance", "rgb")
    with pytest.raises(UserError, match=r"clip\(x, -20, 20\) / 20"):
        pp.check_unit_range(np.float32([-3.5, 7.25]), "flow input", "flow")
    with pytest.raises(UserError, match="NaN"):
        pp.check_unit_range(np.float32([0.0, np.nan]), "x", "rgb")


def test_range_assert_in_graph():
    import tensorflow as tf

    ok = np.float32([[-1.0, 0.5, 1.0]])
    np.testing.assert_array_equal(pp.assert_unit_range_tf(ok, "x").numpy(), ok)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"x / 127.5 - 1"):
        pp.assert_unit_range_tf(np.float32([[0.0, 255.0]]), "x")
