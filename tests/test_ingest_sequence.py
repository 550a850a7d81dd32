"""kinetics_i3d.ingest.sequence: MediaSequence SequenceExample write/parse round trip."""
import numpy as np
import pytest

from kinetics_i3d import mediasequence as ms
from kinetics_i3d.ingest import sequence


def _smooth_rgb(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(t):
        phase = rng.uniform(0, 6.28, size=3)
        img = np.stack([127 + 100 * np.sin(xx / 7 + yy / 11 + phase[c] + i) for c in range(3)], -1)
        frames.append(img)
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _smooth_flow(t: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = 25 * np.sin(xx / 9) * np.cos(yy / 13)  # exceeds the bound of 20 in places
    v = 8 * np.cos(xx / 5 + yy / 7)
    return np.stack([np.stack([u + i, v - i], -1) for i in range(t)]).astype(np.float32)


def test_round_trip_keys_timestamps_and_values():
    rgb = _smooth_rgb(5, 24, 40)
    flow = _smooth_flow(4, 24, 40)
    ex = sequence.make_sequence_example(
        rgb, flow, fps=25.0, label_index=7, label_string="abseiling", media_id="vid_01",
        start_us=2_000_000, end_us=2_200_000, flow_format="png")
    ctx = ex.context.feature
    assert ctx[ms.IMAGE_FORMAT].bytes_list.value[0] == b"JPEG"
    assert ctx[ms.FLOW_FORMAT].bytes_list.value[0] == b"PNG"
    assert ctx[ms.IMAGE_HEIGHT].int64_list.value[0] == 24
    assert ctx[ms.IMAGE_WIDTH].int64_list.value[0] == 40
    assert len(ex.feature_lists.feature_list[ms.IMAGE_ENCODED].feature) == 5
    assert len(ex.feature_lists.feature_list[ms.FLOW_ENCODED].feature) == 4

    out = sequence.parse_sequence_example(ex.SerializeToString())
    assert out["media_id"] == "vid_01"
    assert out["label_index"] == 7 and out["label_string"] == "abseiling"
    assert out["start_us"] == 2_000_000 and out["end_us"] == 2_200_000
    assert out["fps"] == pytest.approx(25.0)
    np.testing.assert_array_equal(out["rgb_timestamps"], 2_000_000 + 40_000 * np.arange(5))
    np.testing.assert_array_equal(out["flow_timestamps"], out["rgb_timestamps"][:-1])
    assert out["rgb"].shape == (5, 24, 40, 3) and out["rgb"].dtype == np.uint8
    # JPEG at the default quality on smooth content: small mean error.
    assert np.abs(out["rgb"].astype(np.float32) - rgb).mean() < 2.0
    # PNG flow: only the uint8 quantisation (step 40/255 px, rounded -> <= 0.0785 px) and the
    # truncation to [-20, 20].
    assert out["flow"].shape == (4, 24, 40, 2) and out["flow"].dtype == np.float32
    expected = np.clip(flow, -20, 20)
    assert np.abs(out["flow"] - expected).max() <= 20.0 / 255.0 + 1e-5
    assert out["flow"].max() == pytest.approx(20.0) and out["flow"].min() >= -20.0


def test_jpeg_flow_and_rgb_only_and_unlabelled():
    flow = _smooth_flow(3, 32, 32) * 0.3
    ex = sequence.make_sequence_example(None, flow, fps=25.0, label_index=None, label_string=None,
                                        media_id="x", flow_format="jpeg")
    out = sequence.parse_sequence_example(ex.SerializeToString())
    assert out["rgb"] is None and out["label_index"] is None and out["label_string"] is None
    assert out["flow_format"] == "jpeg"
    err = np.abs(out["flow"] - flow)
    assert err.mean() < 0.3  # lossy, but close on smooth flow
    assert out["end_us"] == 4 * 40_000  # T = flow frames + 1
    # Flow JPEGs are 4:4:4 (all three components 1x1 in the SOF0 header): x and y live in R and
    # G, and 4:2:0 would halve their resolution.
    data = ex.feature_lists.feature_list[ms.FLOW_ENCODED].feature[0].bytes_list.value[0]
    sof = data.index(b"\xff\xc0")
    assert data[sof + 9] == 3 and [data[sof + 11 + 3 * c] for c in range(3)] == [0x11] * 3

    rgb = _smooth_rgb(2, 16, 16)
    out = sequence.parse_sequence_example(sequence.make_sequence_example(
        rgb, None, fps=30.0, label_index=0, label_string=None, media_id="y").SerializeToString())
    assert out["flow"] is None and out["rgb"].shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(out["rgb_timestamps"], [0, 33_333])


def test_jpeg_quality_changes_size_and_error():
    rgb = _smooth_rgb(2, 64, 64) // 2 + np.random.default_rng(0).integers(0, 100, (2, 64, 64, 3),
                                                                          dtype=np.uint8)
    sizes, errors = [], []
    for q in (50, 95):
        ex = sequence.make_sequence_example(rgb, None, fps=25.0, label_index=0, label_string="a",
                                            media_id="z", jpeg_quality=q)
        sizes.append(len(ex.SerializeToString()))
        errors.append(np.abs(sequence.parse_sequence_example(ex.SerializeToString())["rgb"]
                             .astype(float) - rgb).mean())
    assert sizes[1] > sizes[0] and errors[1] < errors[0]


def test_bad_inputs_name_the_problem():
    rgb = _smooth_rgb(3, 8, 8)
    with pytest.raises(ValueError, match="flow shape"):
        sequence.make_sequence_example(rgb, np.zeros((3, 8, 8, 2), np.float32), fps=25.0,
                                       label_index=0, label_string="a", media_id="m")
    with pytest.raises(ValueError, match="flow_format"):
        sequence.make_sequence_example(rgb, None, fps=25.0, label_index=0, label_string="a",
                                       media_id="m", flow_format="webp")
    with pytest.raises(ValueError, match="rgb must be uint8"):
        sequence.make_sequence_example(rgb.astype(np.float32), None, fps=25.0, label_index=0,
                                       label_string="a", media_id="m")
