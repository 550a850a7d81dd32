"""Forward TV-L1 optical flow between consecutive grayscale frames.

Backends:
  "opencv": `cv2.optflow.DualTVL1OpticalFlow_create()` with OpenCV's default parameters, the
            reference (DeepMind's kinetics-i3d README: "TV-L1 optical flow ... OpenCV").
  "tf":     `kinetics_i3d.ingest.tvl1_tf.tvl1_flow`, a batched TensorFlow solver (issue 9), imported
            lazily; pairs are sent in chunks of `batch`.

Output convention: flow[t] maps frame t to frame t + 1, in pixels, channel 0 = x (horizontal,
positive right), channel 1 = y (vertical, positive down), truncated to [-bound, bound] (release:
20). `frame_t(x, y) ~= frame_{t+1}(x + u, y + v)`.
"""
from __future__ import annotations

import importlib

import cv2
import numpy as np

from kinetics_i3d import mediasequence as ms

BACKENDS = ("opencv", "tf")

_OPENCV_SOLVER = None


def _opencv_solver():
    """One solver per process (creating it is cheap, but reuse keeps its buffers allocated)."""
    global _OPENCV_SOLVER
    if _OPENCV_SOLVER is None:
        _OPENCV_SOLVER = cv2.optflow.DualTVL1OpticalFlow_create()  # OpenCV defaults = release
    return _OPENCV_SOLVER


def opencv_tvl1_pair(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """OpenCV TV-L1 flow of one pair: `[H, W]` uint8 grayscale x2 -> `[H, W, 2]` float32 pixels."""
    return _opencv_solver().calc(prev, nxt, None)


def _load_tf_backend():
    try:
        return importlib.import_module("kinetics_i3d.ingest.tvl1_tf")
    except ModuleNotFoundError as err:
        if err.name != "kinetics_i3d.ingest.tvl1_tf":
            raise
        raise ImportError(
            "flow backend 'tf' needs kinetics_i3d/ingest/tvl1_tf.py, which could not be "
            "imported from this installation; use --flow_backend=opencv") from err


def check_backend(backend: str) -> None:
    """Raise now (ValueError / ImportError) if `backend` cannot run, rather than once per video."""
    if backend not in BACKENDS:
        raise ValueError(f"flow backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "tf":
        _load_tf_backend()


def compute_flow(
    gray_frames: np.ndarray,
    backend: str = "opencv",
    batch: int = 8,
    bound: float = ms.FLOW_BOUND,
) -> np.ndarray:
    """Forward TV-L1 flow of consecutive frames.

    Args:
      gray_frames: `[T, H, W]` uint8 grayscale frames, T >= 1.
      backend: "opencv" or "tf".
      batch: pairs per call for the "tf" backend (ignored by "opencv", which does one pair a call).
      bound: truncation bound in pixels; values are clipped to [-bound, bound].

    Returns:
      `[T - 1, H, W, 2]` float32 flow in pixels (x, y); one frame fewer than the input.
    """
    if backend not in BACKENDS:
        raise ValueError(f"flow backend must be one of {BACKENDS}, got {backend!r}")
    gray_frames = np.asarray(gray_frames)
    if gray_frames.ndim != 3 or gray_frames.dtype != np.uint8:
        raise ValueError(f"gray_frames must be uint8 [T, H, W], got {gray_frames.dtype} "
                         f"{gray_frames.shape}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    num_pairs = max(gray_frames.shape[0] - 1, 0)
    out = np.empty((num_pairs,) + gray_frames.shape[1:] + (2,), np.float32)
    if backend == "opencv":
        for t in range(num_pairs):
            out[t] = opencv_tvl1_pair(gray_frames[t], gray_frames[t + 1])
    else:
        tvl1_tf = _load_tf_backend()
        frames = gray_frames.astype(np.float32)
        for s in range(0, num_pairs, batch):
            e = min(s + batch, num_pairs)
            prev, nxt = frames[s:e], frames[s + 1:e + 1]
            if e - s < batch:
                # Pad the short last chunk with copies of its last pair: one compiled shape per
                # video size instead of a ~15 s retrace; a pair's flow does not depend on its batch.
                pad = batch - (e - s)
                prev = np.concatenate([prev, np.repeat(prev[-1:], pad, axis=0)])
                nxt = np.concatenate([nxt, np.repeat(nxt[-1:], pad, axis=0)])
            # XLA: needed on GPU/TPU, and ~1.3x faster than graph mode on CPU (BUILD_NOTES).
            flow = tvl1_tf.tvl1_flow(prev, nxt, jit_compile=True)
            out[s:e] = np.asarray(flow, dtype=np.float32)[: e - s]
    np.clip(out, -bound, bound, out=out)
    return out


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """`[..., H, W, 3]` uint8 RGB -> `[..., H, W]` uint8 luma (ITU-R BT.601, as cv2.COLOR_RGB2GRAY)."""
    rgb = np.asarray(rgb)
    flat = rgb.reshape((-1,) + rgb.shape[-3:])
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in flat]) if len(flat) else \
        np.zeros((0,) + rgb.shape[-3:-1], np.uint8)
    return gray.reshape(rgb.shape[:-1])
