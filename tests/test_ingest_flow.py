"""kinetics_i3d.ingest.flow: TV-L1 flow is correct (known shifts, warping a real clip)."""
import sys
import types

import cv2
import numpy as np
import pytest

from conftest import VIDEOS
from kinetics_i3d.ingest import flow as flow_lib
from kinetics_i3d.ingest import sequence, video


def _gray_frames(name: str, count: int, short_side: int, first: int = 0) -> np.ndarray:
    """uint8 `[count, H, W]` grayscale source frames first.. of `name`, short side resized."""
    frames = []
    for frame in video.decode_frames(VIDEOS / name, short_side):
        if frame.index >= first:
            frames.append(cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY))
        if len(frames) == count:
            return np.stack(frames)
    raise AssertionError(f"{name} has fewer than {first + count} frames")


@pytest.mark.parametrize("dx,dy", [(3, -2), (-5, 1)])
def test_translated_real_frame_gives_the_shift(dx, dy):
    big = _gray_frames("cup.mp4", 1, 120, first=30)[0]
    h, w = 64, 80
    y0, x0 = 20, 40
    # Content moves by (+dx, +dy) from frame 0 to frame 1: frame1(x + dx, y + dy) = frame0(x, y).
    f0 = big[y0:y0 + h, x0:x0 + w]
    f1 = big[y0 - dy:y0 - dy + h, x0 - dx:x0 - dx + w]
    flow = flow_lib.compute_flow(np.stack([f0, f1]))
    assert flow.shape == (1, h, w, 2) and flow.dtype == np.float32
    inner = flow[0, 10:-10, 10:-10]
    assert np.median(inner[..., 0]) == pytest.approx(dx, abs=0.25)
    assert np.median(inner[..., 1]) == pytest.approx(dy, abs=0.25)
    # After the storage round trip (PNG, uint8 quantisation) the shift is still there.
    rgb = np.repeat(np.stack([f0, f1])[..., None], 3, axis=-1)
    ex = sequence.make_sequence_example(rgb, flow, fps=25.0, label_index=None, label_string=None,
                                        media_id="shift")
    decoded = sequence.parse_sequence_example(ex.SerializeToString())["flow"][0, 10:-10, 10:-10]
    assert np.median(decoded[..., 0]) == pytest.approx(dx, abs=0.3)
    assert np.median(decoded[..., 1]) == pytest.approx(dy, abs=0.3)


def test_flow_is_truncated_to_the_bound():
    big = _gray_frames("box.mp4", 1, 96, first=100)[0]
    f0 = big[:, 0:64]
    f1 = big[:, 6:70]  # a 6 px shift left; bound 2 must clip it
    flow = flow_lib.compute_flow(np.stack([f0, f1]), bound=2.0)
    assert flow.min() >= -2.0 and flow.max() <= 2.0
    assert np.median(flow[0, 10:-10, 10:-10, 0]) == pytest.approx(-2.0, abs=1e-6)


def test_warping_next_frame_by_flow_reproduces_current_frame():
    frames = _gray_frames("cup.mp4", 4, 72, first=60)
    flow = flow_lib.compute_flow(frames)
    assert flow.shape == (3,) + frames.shape[1:] + (2,)
    h, w = frames.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    no_warp, warped_err = [], []
    for t in range(3):
        warped = cv2.remap(frames[t + 1].astype(np.float32), xx + flow[t, ..., 0],
                           yy + flow[t, ..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        c = slice(4, -4)
        warped_err.append(np.abs(warped[c, c] - frames[t][c, c]).mean())
        no_warp.append(np.abs(frames[t + 1][c, c].astype(np.float32) - frames[t][c, c]).mean())
    assert np.mean(no_warp) > 1.0, "the chosen frames must actually move"
    assert np.mean(warped_err) < 0.7 * np.mean(no_warp)


def test_single_frame_gives_empty_flow_and_bad_input_is_named():
    assert flow_lib.compute_flow(np.zeros((1, 8, 8), np.uint8)).shape == (0, 8, 8, 2)
    with pytest.raises(ValueError, match="gray_frames must be uint8"):
        flow_lib.compute_flow(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="backend"):
        flow_lib.compute_flow(np.zeros((2, 8, 8), np.uint8), backend="cuda")


def test_tf_backend_dispatches_in_chunks(monkeypatch):
    calls = []

    def fake_tvl1_flow(prev, nxt, jit_compile=False):
        calls.append((prev.shape[0], jit_compile))
        assert prev.dtype == np.float32 and nxt.dtype == np.float32
        # Encode "next minus prev" so the test sees the pairs were aligned.
        return np.stack([nxt - prev, np.full_like(prev, 30.0)], axis=-1)

    fake = types.ModuleType("kinetics_i3d.ingest.tvl1_tf")
    fake.tvl1_flow = fake_tvl1_flow
    monkeypatch.setitem(sys.modules, "kinetics_i3d.ingest.tvl1_tf", fake)
    frames = (np.arange(11, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 5), np.uint8))
    out = flow_lib.compute_flow(frames, backend="tf", batch=4)
    # The short last chunk is padded to the batch size (one compiled shape), and XLA is asked for.
    assert calls == [(4, True), (4, True), (4, True)]
    assert out.shape == (10, 4, 5, 2)
    np.testing.assert_allclose(out[..., 0], 1.0)
    np.testing.assert_allclose(out[..., 1], 20.0)  # truncated to the bound


def test_missing_tf_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "kinetics_i3d.ingest.tvl1_tf", None)  # import -> error
    with pytest.raises(ImportError, match="tvl1_tf.py"):
        flow_lib.check_backend("tf")
    flow_lib.check_backend("opencv")


def test_rgb_to_gray_matches_opencv():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    gray = flow_lib.rgb_to_gray(rgb)
    assert gray.shape == (2, 5, 6)
    np.testing.assert_array_equal(gray[1], cv2.cvtColor(rgb[1], cv2.COLOR_RGB2GRAY))


@pytest.mark.slow
def test_tf_backend_agrees_with_opencv_through_compute_flow():
    frames = _gray_frames("cup.mp4", 3, 48, first=60)
    reference = flow_lib.compute_flow(frames)
    chunked = flow_lib.compute_flow(frames, backend="tf", batch=3)  # one padded call
    assert chunked.shape == reference.shape and chunked.dtype == np.float32
    assert np.sqrt(((chunked - reference) ** 2).sum(-1)).mean() < 0.25  # issue 9's EPE target
