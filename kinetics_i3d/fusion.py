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
