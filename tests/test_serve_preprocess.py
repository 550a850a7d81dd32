"""The release's test-time preprocessing in TF ops (kinetics_i3d.serve.preprocess)."""
import numpy as np
import pytest

from conftest import VIDEOS
from kinetics_i3d.ingest.video import read_video
from kinetics_i3d.serve import preprocess


def test_preprocess_is_the_release_recipe():
    # Landscape 240x320 -> 256x341 (round(320 * 256 / 240) = 341), centre crop 224, [-1, 1].
    frames = np.zeros((2, 240, 320, 3), np.uint8)
    frames[:, :, 160:] = 255  # right half white
    out = preprocess.preprocess_rgb(frames).numpy()
    assert out.shape == (2, 224, 224, 3) and out.min() == -1.0 and out.max() == 1.0
    # The edge at x = 170.5 of 341 lands at crop column 170.5 - 58 = 112.5.
    assert (out[:, :, :111] == -1).all() and (out[:, :, 114:] == 1).all()
    resized = preprocess.resize_short_side(np.zeros((1, 300, 200, 2), np.float32)).shape
    assert tuple(resized) == (1, 384, 256, 2)
    # Flow: resized with the frames, values scaled by the same factor, clipped to +-20, / 20.
    flow = np.full((1, 128, 160, 2), 3.0, np.float32)
    np.testing.assert_allclose(preprocess.preprocess_flow(flow).numpy(), 6.0 / 20.0, rtol=1e-6)
    flow = np.full((1, 256, 256, 2), 30.0, np.float32)
    np.testing.assert_allclose(preprocess.preprocess_flow(flow).numpy(), 1.0)
    with pytest.raises(TypeError, match="uint8"):
        preprocess.preprocess_rgb(frames.astype(np.float32))


def test_matches_ingest_resize_on_a_real_clip():
    # The in-graph resize (TF bilinear, float) vs the ingest's (OpenCV INTER_LINEAR, uint8): same
    # output size, values within a few uint8 levels.
    raw = read_video(VIDEOS / "carphone_pristine.mp4", short_side=None).rgb[:3]
    ingested = read_video(VIDEOS / "carphone_pristine.mp4", short_side=256).rgb[:3]
    ours = preprocess.resize_short_side(raw).numpy()
    assert ours.shape == ingested.shape == (3, 256, 313, 3)
    diff = np.abs(ours - ingested.astype(np.float32))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3.0


def test_load_video():
    out = preprocess.load_video(str(VIDEOS / "carphone_pristine.mp4"), ("rgb",), num_frames=12)
    assert out["rgb"].shape == (1, 12, 224, 224, 3) and out["rgb"].dtype == np.float32
    assert -1.0 <= out["rgb"].min() < out["rgb"].max() <= 1.0
    with pytest.raises(ValueError, match="modalities"):
        preprocess.load_video(str(VIDEOS / "carphone_pristine.mp4"), ("depth",))
