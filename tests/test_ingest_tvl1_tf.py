"""Tests for kinetics_i3d.ingest.tvl1_tf: the TensorFlow TV-L1 solver against OpenCV's.

All frames are real footage (../shared/fixtures/videos) scaled to a 96x72 grid so the whole file
runs in well under the 2.5-minute budget on 2 cores; OpenCV's reference flow is computed here from
the same uint8 frames with `cv2.optflow.DualTVL1OpticalFlow_create()` (its defaults).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, VIDEOS
from kinetics_i3d.ingest import tvl1_tf, video

SIZE = (96, 72)  # (width, height) of the test frames: the clips' 4:3 at short side 72.
# (clip, index of the first frame of a pair): pairs with visible motion (mean |flow| 0.3-1.5 px).
REAL_PAIRS = (("cup.mp4", 50), ("cup.mp4", 110), ("cup.mp4", 130), ("cup.mp4", 140),
              ("cup.mp4", 160), ("box.mp4", 150), ("box.mp4", 280))
SHIFT = (3, -2)  # (dx, dy) pixels of the synthetic translation.


def _gray_frames(path, indices: set[int]) -> dict[int, np.ndarray]:
    """uint8 [72, 96] grayscale frames of `path` at `indices` (sequential decode, no seeking)."""
    frames = {}
    for frame in video.decode_frames(path):
        if frame.index in indices:
            gray = cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY)
            frames[frame.index] = cv2.resize(gray, SIZE, interpolation=cv2.INTER_AREA)
        if len(frames) == len(indices):
            return frames
    raise AssertionError(f"{path}: frames {sorted(set(indices) - set(frames))} not decoded")


def _translated_pair(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A frame and the same frame moved by SHIFT, i.e. prev(x, y) = nxt(x + dx, y + dy)."""
    big = cv2.resize(frame, (SIZE[0] + 16, SIZE[1] + 16), interpolation=cv2.INTER_LINEAR)
    moved = np.roll(big, shift=(SHIFT[1], SHIFT[0]), axis=(0, 1))
    crop = (slice(8, 8 + SIZE[1]), slice(8, 8 + SIZE[0]))
    return big[crop], moved[crop]


@pytest.fixture(scope="module")
def batch():
    """8 pairs ([8, 72, 96] uint8 prev and next): 7 real pairs, then one translated real frame."""
    prev, nxt = [], []
    for clip in sorted({clip for clip, _ in REAL_PAIRS}):
        starts = [start for name, start in REAL_PAIRS if name == clip]
        frames = _gray_frames(VIDEOS / clip, {i for s in starts for i in (s, s + 1)})
        for start in starts:
            prev.append(frames[start])
            nxt.append(frames[start + 1])
    moved_prev, moved_next = _translated_pair(prev[1])
    prev.append(moved_prev)
    nxt.append(moved_next)
    return np.stack(prev), np.stack(nxt)


@pytest.fixture(scope="module")
def tf_flow(batch) -> np.ndarray:
    prev, nxt = batch
    return tvl1_tf.tvl1_flow(prev.astype(np.float32), nxt.astype(np.float32)).numpy()


@pytest.fixture(scope="module")
def opencv_flow(batch) -> np.ndarray:
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    return np.stack([solver.calc(p, n, None) for p, n in zip(*batch)])


def test_defaults_are_opencv_defaults():
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    defaults = tvl1_tf.tvl1_flow.__kwdefaults__
    assert defaults["tau"] == solver.getTau()
    assert defaults["lambda_"] == solver.getLambda()
    assert defaults["theta"] == solver.getTheta()
    assert defaults["num_scales"] == solver.getScalesNumber()
    assert defaults["scale_step"] == solver.getScaleStep()
    assert defaults["num_warps"] == solver.getWarpingsNumber()
    assert defaults["epsilon"] == solver.getEpsilon()
    assert defaults["inner_iterations"] == solver.getInnerIterations()
    assert defaults["outer_iterations"] == solver.getOuterIterations()
    assert defaults["median_filtering"] == solver.getMedianFiltering()


def test_agrees_with_opencv_on_real_footage(tf_flow, opencv_flow):
    real = len(REAL_PAIRS)
    figures = tvl1_tf.flow_agreement(opencv_flow[:real], tf_flow[:real])
    # The pairs move: agreement on near-zero flow would be meaningless.
    assert figures["reference_magnitude"] > 0.3, figures
    # Issue 9's targets are EPE <= 0.25 px and correlation >= 0.97; measured on these pairs:
    # EPE 0.016 px, corr_x 0.9996, corr_y 0.9997 (BUILD_NOTES.md). Asserted with margin.
    assert figures["epe"] < 0.05, figures
    assert figures["corr_x"] > 0.99, figures
    assert figures["corr_y"] > 0.99, figures
    # Per pair too, so one bad pair cannot hide in the average.
    for i in range(real):
        pair = tvl1_tf.flow_agreement(opencv_flow[i], tf_flow[i])
        assert pair["epe"] < 0.1, (REAL_PAIRS[i], pair)


def test_known_translation(tf_flow, opencv_flow):
    flow = tf_flow[-1]
    interior = flow[10:-10, 10:-10]
    # Sign and magnitude: x moves +3 px (right), y moves -2 px (up).
    np.testing.assert_allclose(np.median(interior[..., 0]), SHIFT[0], atol=0.05)
    np.testing.assert_allclose(np.median(interior[..., 1]), SHIFT[1], atol=0.05)
    error = np.linalg.norm(interior - np.array(SHIFT, np.float32), axis=-1)
    assert np.mean(error < 0.25) > 0.95, np.mean(error < 0.25)
    # And as OpenCV finds it.
    assert tvl1_tf.flow_agreement(opencv_flow[-1], flow)["epe"] < 0.1


def test_batch_invariance(batch, tf_flow):
    """A pair's flow does not depend on the rest of its batch.

    Measured bit-identical (BUILD_NOTES.md, "TV-L1 in TensorFlow"). The tolerance is for float
    rounding only: TV-L1's hundreds of iterations amplify a last-bit difference anywhere (such as
    a batch-shape-dependent GEMM) to >= 0.03 px on these pairs.
    """
    prev, nxt = batch
    for i in range(len(prev)):
        alone = tvl1_tf.tvl1_flow(prev[i:i + 1].astype(np.float32),
                                  nxt[i:i + 1].astype(np.float32)).numpy()
        np.testing.assert_allclose(alone[0], tf_flow[i], atol=1e-5, err_msg=f"pair {i}")


# Run in a fresh interpreter: oneDNN reads DNNL_MAX_CPU_ISA once, when it first runs a kernel.
_AVX2_CHECK = """
import json, sys
import kinetics_i3d  # noqa: F401  (TF env defaults before TensorFlow loads)
import numpy as np
import tensorflow as tf
from kinetics_i3d.ingest import tvl1_tf
data = np.load(sys.argv[1])
prev, nxt = data["prev"], data["next"]
images = np.random.default_rng(0).uniform(0, 255, (8, 72, 96)).astype(np.float32)
batched = tvl1_tf._resize(tf.constant(images), (58, 77), (0.8, 0.8)).numpy()
resize = max(float(np.abs(batched[i] - tvl1_tf._resize(
    tf.constant(images[i:i + 1]), (58, 77), (0.8, 0.8)).numpy()[0]).max()) for i in range(8))
flow = tvl1_tf.tvl1_flow(prev, nxt).numpy()
alone = np.concatenate([tvl1_tf.tvl1_flow(prev[i:i + 1], nxt[i:i + 1]).numpy()
                        for i in range(len(prev))])
print("RESULT " + json.dumps({"resize": resize, "flow": float(np.abs(flow - alone).max())}))
"""


def test_batch_invariance_with_avx2_kernels(batch, tmp_path):
    """As test_batch_invariance, with oneDNN limited to its AVX2 kernels (DNNL_MAX_CPU_ISA).

    On AVX-512 machines this is how the AVX2 machines' behaviour is checked: there a GEMM-based
    pyramid resize gave a pair alone vs in a batch of 8 flows 0.07 px apart, and the same shows
    here with DNNL_MAX_CPU_ISA=AVX2 (BUILD_NOTES.md); on that resize this check measured a
    3e-5 resize difference and 2.2e-3 px of flow. TF_ENABLE_ONEDNN_OPTS is inherited, so CI's
    oneDNN-off run checks that setting too (TF's Eigen matmul calls oneDNN's GEMM either way).
    """
    prev, nxt = batch
    np.savez(tmp_path / "pairs.npz", prev=prev[:4, :32, :48].astype(np.float32),
             next=nxt[:4, :32, :48].astype(np.float32))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), DNNL_MAX_CPU_ISA="AVX2")
    proc = subprocess.run([sys.executable, "-c", _AVX2_CHECK, str(tmp_path / "pairs.npz")],
                          env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["resize"] == 0.0, result  # gathers and elementwise ops: exact by construction
    assert result["flow"] <= 1e-5, result


def test_non_default_parameters_match_opencv(batch):
    """Every parameter is honoured: a non-default setting still tracks OpenCV with that setting."""
    params = dict(tau=0.2, lambda_=0.3, theta=0.5, num_scales=3, scale_step=0.5, num_warps=3,
                  epsilon=0.02, inner_iterations=10, outer_iterations=4, median_filtering=3)
    solver = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params["tau"], lambda_=params["lambda_"], theta=params["theta"],
        nscales=params["num_scales"], warps=params["num_warps"], epsilon=params["epsilon"],
        innnerIterations=params["inner_iterations"], outerIterations=params["outer_iterations"],
        scaleStep=params["scale_step"], medianFiltering=params["median_filtering"])
    prev, nxt = batch[0][1:3], batch[1][1:3]
    reference = np.stack([solver.calc(p, n, None) for p, n in zip(prev, nxt)])
    ours = tvl1_tf.tvl1_flow(prev.astype(np.float32), nxt.astype(np.float32), **params).numpy()
    custom = tvl1_tf.flow_agreement(reference, ours)
    assert custom["epe"] < 0.05, custom
    # The same frames with the defaults give visibly different flow, so the settings mattered.
    default = tvl1_tf.flow_agreement(reference, np.stack(
        [cv2.optflow.DualTVL1OpticalFlow_create().calc(p, n, None) for p, n in zip(prev, nxt)]))
    assert default["epe"] > 5 * custom["epe"], (default, custom)


def test_eager_graph_and_xla_agree(batch):
    prev = batch[0][1:3, :24, :32].astype(np.float32)
    nxt = batch[1][1:3, :24, :32].astype(np.float32)
    params = dict(num_scales=2, num_warps=2, inner_iterations=5, outer_iterations=2)
    tf.config.run_functions_eagerly(True)
    try:
        eager = tvl1_tf.tvl1_flow(prev, nxt, **params).numpy()
    finally:
        tf.config.run_functions_eagerly(False)
    graph = tvl1_tf.tvl1_flow(prev, nxt, **params).numpy()
    xla = tvl1_tf.tvl1_flow(prev, nxt, jit_compile=True, **params).numpy()
    wrapped = tf.function(lambda a, b: tvl1_tf.tvl1_flow(a, b, **params))(prev, nxt).numpy()
    assert np.abs(eager).mean() > 0.03  # a non-trivial flow
    np.testing.assert_allclose(graph, eager, atol=1e-4)
    np.testing.assert_allclose(wrapped, eager, atol=1e-4)
    np.testing.assert_allclose(xla, eager, atol=5e-3)  # measured max 4e-6 to 1.1e-4


def test_pyramid_resize_matches_cv2():
    image = np.random.default_rng(0).uniform(0, 255, (1, 37, 53)).astype(np.float32)
    sizes = tvl1_tf.pyramid_sizes(37, 53, 5, 0.8)
    assert sizes == [(37, 53), (30, 42), (24, 34), (19, 27)]  # stops before a level < 16 px
    down = tvl1_tf._resize(tf.constant(image), sizes[1], (0.8, 0.8)).numpy()[0]
    np.testing.assert_allclose(
        down, cv2.resize(image[0], None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR),
        atol=1e-3)
    small = image[:, :20, :30]
    up = tvl1_tf._resize(tf.constant(small), (37, 53), (37 / 20, 53 / 30)).numpy()[0]
    np.testing.assert_allclose(up, cv2.resize(small[0], (53, 37), interpolation=cv2.INTER_LINEAR),
                               atol=1e-3)


def test_bicubic_warp_matches_cv2_remap():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (1, 29, 41)).astype(np.float32)
    u1, u2 = rng.normal(0, 3, (2, 1, 29, 41)).astype(np.float32)  # reaches past the border
    xs, ys = np.meshgrid(np.arange(41, dtype=np.float32), np.arange(29, dtype=np.float32))
    reference = cv2.remap(image[0], xs + u1[0], ys + u2[0], cv2.INTER_CUBIC)
    blocks = tvl1_tf._cubic_blocks(tf.constant(image[..., None]))
    ours = tvl1_tf._warp_bicubic(blocks, tf.constant(u1), tf.constant(u2))
    np.testing.assert_allclose(ours.numpy()[0, ..., 0], reference, atol=1e-2)


def test_median_filter_matches_cv2():
    image = np.random.default_rng(2).normal(0, 2, (1, 19, 23)).astype(np.float32)
    for size in (3, 5):
        np.testing.assert_array_equal(tvl1_tf._median_filter(tf.constant(image), size).numpy()[0],
                                      cv2.medianBlur(image[0], size))


def test_flow_agreement_figures():
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 1, (4, 5, 2))
    shifted = reference + np.array([0.3, 0.4])  # an end-point error of exactly 0.5 everywhere
    figures = tvl1_tf.flow_agreement(reference, shifted)
    assert figures["epe"] == pytest.approx(0.5)
    assert figures["corr_x"] == pytest.approx(1.0) and figures["corr_y"] == pytest.approx(1.0)


@pytest.mark.parametrize("prev_shape, next_shape, kwargs, match", [
    ((2, 8, 8, 1), (2, 8, 8, 1), {}, r"\[N, H, W\]"),
    ((2, 8, 8), (2, 8, 9), {}, "same shape"),
    ((2, 8, 8), (2, 8, 8), {"median_filtering": 4}, "median_filtering"),
    ((2, 8, 8), (2, 8, 8), {"scale_step": 1.5}, "scale_step"),
])
def test_rejects_bad_arguments(prev_shape, next_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tvl1_tf.tvl1_flow(np.zeros(prev_shape, np.float32), np.zeros(next_shape, np.float32),
                          **kwargs)
