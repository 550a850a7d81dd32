"""Two-stream fusion: the one place that combines the RGB and Flow streams' predictions.

DeepMind's release (evaluate_sample.py, `eval_type=joint`) adds the two I3D streams' logits
before the softmax; the paper (sec. 2.4) "averaged their predictions at test time". We follow the
release: `fuse_logits` sums the streams' logits. Used by `TwoStreamI3D`, evaluation, the sample
evaluation and the SavedModel, on numpy arrays and TF tensors alike.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

# Streams are added in this order (float addition of two operands is order-free; fixed anyway).
STREAM_ORDER = ("rgb", "flow")
# Two streams fused must cover the same clip: T RGB frames give T - 1 TV-L1 flow frames (one per
# pair); T or T + 1 are accepted too. A larger difference is two different clips.
MAX_FRAME_DIFFERENCE = 1


def check_stream_lengths(num_frames: Mapping[str, int], what: str = "two-stream input") -> None:
    """Raises `UserError` naming both lengths when the rgb and flow frame counts of one video
    differ by more than `MAX_FRAME_DIFFERENCE` (no-op for one stream)."""
    from kinetics_i3d.errors import UserError

    if {"rgb", "flow"} <= set(num_frames):
        rgb, flow = int(num_frames["rgb"]), int(num_frames["flow"])
        if abs(rgb - flow) > MAX_FRAME_DIFFERENCE:
            raise UserError(f"{what} of different lengths: rgb has {rgb} frames and flow {flow} "
                            f"frames; give both streams of the same clip (flow T-1 frames for "
                            f"T RGB frames, the TV-L1 pairs)")


def fuse_logits(stream_logits: Mapping[str, T]) -> T:
    """The sum of the streams' logits `{modality: [..., K]}` (numpy or TF, one shape).

    Raises ValueError for no streams, an unknown stream name or (numpy) differing shapes.
    """
    if not stream_logits:
        raise ValueError("fuse_logits needs at least one stream")
    unknown = sorted(set(stream_logits) - set(STREAM_ORDER))
    if unknown:
        raise ValueError(f"unknown stream(s) {unknown}; expected some of {list(STREAM_ORDER)}")
    values = [stream_logits[s] for s in STREAM_ORDER if s in stream_logits]
    shapes = {tuple(getattr(v, "shape", ())) for v in values}
    if len(shapes) != 1 and all(None not in s for s in shapes):
        raise ValueError(f"streams' logits must have the same shape, got {sorted(shapes)}")
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total
