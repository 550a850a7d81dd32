"""The release's test-time preprocessing in TF ops (kinetics_i3d.preprocessing.network_input_*_tf,
the SavedModel's and feature extraction's), and the streamed video path (serve/features.file_items)."""
import numpy as np
import pytest

from conftest import VIDEOS, moving_texture_video
from kinetics_i3d.ingest.video import read_video
from kinetics_i3d import preprocessing


def test_preprocess_is_the_release_recipe():
    # Landscape 240x320 -> 256x341 (round(320 * 256 / 240) = 341), centre crop 224, [-1, 1].
    frames = np.zeros((2, 240, 320, 3), np.uint8)
    frames[:, :, 160:] = 255  # right half white
    out = preprocessing.network_input_rgb_tf(frames).numpy()
    assert out.shape == (2, 224, 224, 3) and out.min() == -1.0 and out.max() == 1.0
    # The edge at x = 170.5 of 341 lands at crop column 170.5 - 58 = 112.5.
    assert (out[:, :, :111] == -1).all() and (out[:, :, 114:] == 1).all()
    resized = preprocessing.resize_short_side_tf(np.zeros((1, 300, 200, 2), np.float32)).shape
    assert tuple(resized) == (1, 384, 256, 2)
    # Flow: resized with the frames, values scaled by the same factor, clipped to +-20, / 20.
    flow = np.full((1, 128, 160, 2), 3.0, np.float32)
    np.testing.assert_allclose(preprocessing.network_input_flow_tf(flow).numpy(), 6.0 / 20.0, rtol=1e-6)
    flow = np.full((1, 256, 256, 2), 30.0, np.float32)
    np.testing.assert_allclose(preprocessing.network_input_flow_tf(flow).numpy(), 1.0)
    with pytest.raises(TypeError, match="uint8"):
        preprocessing.network_input_rgb_tf(frames.astype(np.float32))


def test_matches_ingest_resize_on_a_real_clip():
    # The in-graph resize (TF bilinear, float) vs the ingest's (OpenCV INTER_LINEAR, uint8): same
    # output size, values within a few uint8 levels.
    raw = read_video(VIDEOS / "carphone_pristine.mp4", short_side=None).rgb[:3]
    ingested = read_video(VIDEOS / "carphone_pristine.mp4", short_side=256).rgb[:3]
    ours = preprocessing.resize_short_side_tf(raw).numpy()
    assert ours.shape == ingested.shape == (3, 256, 313, 3)
    diff = np.abs(ours - ingested.astype(np.float32))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3.0


def test_streamed_video_frames():
    # The streaming path (`features.file_items`, what --video and feature extraction read): one
    # network-ready frame at a time, [224, 224, 3] float32 in [-1, 1], with the frame count.
    from kinetics_i3d.serve import features

    (item,) = features.file_items([str(VIDEOS / "carphone_pristine.mp4")], None, ["rgb"],
                                  features.InputSize(), max_frames=12)
    frames, n = item.frames["rgb"]()
    out = np.stack(list(frames))
    assert n == 12 and out.shape == (12, 224, 224, 3) and out.dtype == np.float32
    assert -1.0 <= out.min() < out.max() <= 1.0
    with pytest.raises(ValueError, match="modalities"):
        next(features.file_items([str(VIDEOS / "carphone_pristine.mp4")], None, ["depth"],
                                 features.InputSize()))


def test_center_crop_offsets_are_exact():
    # Every row and column distinct (R = row, G = column mod 256, B = column // 256): the crop
    # of a 256x341 frame is rows 16..239 and columns 58..281 ((341 - 224) // 2 = 58), the crop
    # of a 301x256 one rows 38..261 and columns 16..239; no resize (the short side is 256).
    for (h, w), (top, left) in (((256, 341), (16, 58)), ((301, 256), (38, 16))):
        rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        frames = np.stack([rows % 256, cols % 256, cols // 256 * 100 + rows // 256 * 50],
                          -1).astype(np.uint8)[None]
        out = preprocessing.network_input_rgb_tf(frames).numpy()
        expected = frames[:, top:top + 224, left:left + 224].astype(np.float32) / 127.5 - 1.0
        np.testing.assert_allclose(out, expected, atol=1e-6, err_msg=str((h, w)))


def test_flow_signed_non_uniform_fields():
    # 128x160 px flow whose x component is a ramp along columns and y a falling ramp along rows:
    # resized to 256x320 (x2, displacements x2), centre crop at (16, 48), clipped to +-20 px,
    # / 20. Half-pixel bilinear interpolation keeps a linear ramp linear inside the image.
    rows, cols = np.meshgrid(np.arange(128), np.arange(160), indexing="ij")
    flow = np.stack([(cols - 80) / 4.0, -(rows - 64) / 5.0], -1).astype(np.float32)[None]
    out = preprocessing.network_input_flow_tf(flow).numpy()[0]
    assert out.shape == (224, 224, 2)
    src_col = (np.arange(224) + 48 + 0.5) / 2 - 0.5  # crop column -> input column
    src_row = (np.arange(224) + 16 + 0.5) / 2 - 0.5
    x = np.clip(2 * (src_col - 80) / 4.0, -20, 20) / 20
    y = np.clip(-2 * (src_row - 64) / 5.0, -20, 20) / 20
    np.testing.assert_allclose(out[..., 0], np.broadcast_to(x[None, :], (224, 224)), atol=1e-5)
    np.testing.assert_allclose(out[..., 1], np.broadcast_to(y[:, None], (224, 224)), atol=1e-5)
    assert out[..., 0].min() == -1.0 and out[..., 0].max() == 1.0  # clipped on both sides
    assert out[..., 1].min() == -1.0 and out[..., 1].max() == 1.0


def test_streamed_flow_follows_the_motion(tmp_path):
    # Content moving +1 px in x and -1 px in y per frame at 48 px is (+16/3, -16/3) px at 256 px
    # (+-0.267 of the 20 px bound): flow channel 0 is x, channel 1 is y, signs kept.
    from kinetics_i3d.serve import features

    path = moving_texture_video(tmp_path / "moving.avi")
    (item,) = features.file_items([path], None, ["rgb", "flow"], features.InputSize(),
                                  max_frames=3)
    rgb, flow = (np.stack(list(item.frames[m]()[0])) for m in ("rgb", "flow"))
    assert rgb.shape == (3, 224, 224, 3) and item.frames["flow"]()[1] == 2
    assert flow.shape == (2, 224, 224, 2) and flow.dtype == np.float32
    inner = flow[:, 32:-32, 32:-32]  # away from the border TV-L1 cannot see past
    median = np.median(inner, axis=(0, 1, 2))
    np.testing.assert_allclose(median, [16 / 3 / 20, -16 / 3 / 20], atol=0.03)
