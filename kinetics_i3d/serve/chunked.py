"""Whole-video I3D inference over a video of any length with bounded memory.

The paper tests "convolutionally over the whole video" (sec. 2.5, 3 "Implementation details"):
one pass of the trunk over all `T` frames gives `Mixed_5c` `[ceil(T/8), H/32, W/32, 1024]`, the
head averages 2x7x7 windows and the per-step logits are averaged over time. A 10-minute video
(15000 frames at 25 fps) does not fit that way, so this module runs the trunk over overlapping
temporal chunks and keeps, from each chunk, only the `Mixed_5c` steps it computes *exactly as the
single pass would*. Why that is possible, and what it takes:

* Receptive field. In time, the trunk is a chain of SAME-padded convs/pools; its `Mixed_5c` step
  `p` depends on an interval of input frames (99 frames wide for I3D, see
  `mixed_5c_receptive_fields`). A chunk that contains that whole interval reproduces step `p`
  bit-for-bit up to float summation order, because none of the zero (conv) or -inf (max-pool)
  padding at the chunk's cut edges can reach it.
* Alignment. TF's SAME padding puts `pad_before = pad_total // 2` frames in front, and
  `pad_total` depends on the *length* of the layer's input, so the sampling grid of the three
  temporally strided layers (Conv3d_1a_7x7 stride 2, MaxPool3d_4a_3x3 stride 2,
  MaxPool3d_5a_2x2 stride 2) depends on the video length: for I3D it depends on `T mod 4`.
  A chunk reproduces the whole-video grid iff it starts at a multiple of 8 frames (the total
  stride) and its length is congruent to `T` modulo 4. Hence the total frame count must be known
  before the first chunk runs (`num_frames`); for a file, count its frames in a first decoding
  pass (cheap next to I3D).
* Head. The head's 2-step average pool straddles chunk borders and its mean runs over all steps,
  so it is applied to the stitched `Mixed_5c` sequence: the last kept step of one chunk is
  carried into the next, and per-step logits are summed and divided once at the end.

Memory is bounded by one chunk of frames plus one chunk of activations, independent of `T`;
every chunk of a video has the same length, because oneDNN keeps buffers per input shape
(`plan_chunks`).
Tolerance: equal to the single pass within float32 rounding (tests use atol 1e-4 on Mixed_5c and
logits of randomly initialised models, whose values are O(1)).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from kinetics_i3d import preprocessing
from kinetics_i3d.layers import InceptionModule, Unit

# Default number of Mixed_5c steps kept per chunk: 32 steps = 256 frames (~10 s at 25 fps).
DEFAULT_CHUNK_STEPS = 32


@dataclasses.dataclass(frozen=True)
class TemporalLayer:
    """One temporally strided/padded op of the trunk: kernel and stride in time (SAME padding)."""

    name: str
    kernel: int
    stride: int

    def out_length(self, n: int) -> int:
        return -(-n // self.stride)

    def pad_before(self, n: int) -> int:
        """TF SAME padding in front for an input of length `n`."""
        total = max((self.out_length(n) - 1) * self.stride + self.kernel - n, 0)
        return total // 2


def _branch_extent(layers: Sequence[keras.layers.Layer]) -> int:
    extent = 1
    for layer in layers:
        k = layer.kernel_size[0] if isinstance(layer, Unit) else layer.pool_size[0]
        extent += k - 1
    return extent


def temporal_layers(model) -> list[TemporalLayer]:
    """The time axis of `model.trunk` (an `InceptionI3d`) as a list of SAME conv/pool ops.

    An Inception module is one stride-1 op whose kernel is its widest branch (3 for I3D).
    """
    out = []
    for endpoint, layer in zip(model.trunk_endpoints, model.trunk):
        if isinstance(layer, Unit):
            out.append(TemporalLayer(endpoint, layer.kernel_size[0], layer.strides[0]))
        elif isinstance(layer, InceptionModule):
            widest = max(_branch_extent(branch) for branch in layer.branches)
            out.append(TemporalLayer(endpoint, widest, 1))
        else:  # keras pooling layer
            if str(getattr(layer, "padding", "same")).lower() != "same":
                raise ValueError(f"{endpoint}: chunked inference assumes SAME padding in time")
            out.append(TemporalLayer(endpoint, layer.pool_size[0], layer.strides[0]))
    return out


def total_stride(layers: Sequence[TemporalLayer]) -> int:
    return math.prod(layer.stride for layer in layers)


def _pads(layers: Sequence[TemporalLayer], n: int) -> tuple[list[int], list[tuple[int, int]]]:
    """(input length of each layer, (pad_before, pad_after) of each layer) for `n` input frames."""
    lengths, pads = [], []
    for layer in layers:
        lengths.append(n)
        before = layer.pad_before(n)
        total = max((layer.out_length(n) - 1) * layer.stride + layer.kernel - n, 0)
        pads.append((before, total - before))
        n = layer.out_length(n)
    return lengths, pads


def mixed_5c_receptive_fields(layers: Sequence[TemporalLayer], num_frames: int,
                              clip: bool = True) -> np.ndarray:
    """Input-frame interval `[lo, hi]` (inclusive) of every output step of a single pass.

    Returns int64 `[ceil(T / stride), 2]` for a `num_frames`-frame input. `clip=True` clips to the
    frames that exist at each layer (what the step really reads); `clip=False` gives the nominal
    window, which reaches below 0 or past `T - 1` exactly when SAME padding is involved.
    """
    lengths, pads = _pads(layers, num_frames)
    n_out = layers[-1].out_length(lengths[-1]) if layers else num_frames
    lo = np.arange(n_out, dtype=np.int64)
    hi = lo.copy()
    for layer, n, (pad, _) in zip(reversed(layers), reversed(lengths), reversed(pads)):
        lo = lo * layer.stride - pad
        hi = hi * layer.stride - pad + layer.kernel - 1
        if clip:
            lo, hi = np.clip(lo, 0, n - 1), np.clip(hi, 0, n - 1)
    return np.stack([lo, hi], axis=1)


def receptive_field(model) -> int:
    """Width in frames of one Mixed_5c step's temporal receptive field, away from the edges (99)."""
    layers = temporal_layers(model)
    rf = mixed_5c_receptive_fields(layers, 64 * total_stride(layers))
    widths = rf[:, 1] - rf[:, 0] + 1
    return int(widths.max())


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Run the trunk on frames `[start, stop)`; keep its Mixed_5c steps `[keep_start, keep_stop)`.

    Step indices are global (whole-video) indices; inside the chunk step `p` is `p - start // S`.
    """

    start: int
    stop: int
    keep_start: int
    keep_stop: int


def plan_chunks(layers: Sequence[TemporalLayer], num_frames: int,
                chunk_steps: int = DEFAULT_CHUNK_STEPS) -> list[Chunk]:
    """Splits a `num_frames` video into equal-length chunks whose kept Mixed_5c steps are exact.

    Every chunk has the same length `L` (one chunk of `num_frames` frames when `num_frames <= L`):
    one input shape per video, because TF's oneDNN kernels keep buffers for every input shape they
    have run (chunks of three lengths, first/middle/last, held ~1 GiB more at 224 px than chunks
    of one: BUILD_NOTES.md, "Long videos"). For `s` steps per chunk, `L` is the receptive field of
    `s` consecutive Mixed_5c steps, widest over the video and aligned to the total stride `S`,
    lengthened to `L = num_frames (mod S)`: then every layer pads a chunk as it pads the whole
    video (the same SAME-padding grid), and a chunk starting at a multiple of `S` can end at `T`.
    A chunk starts at its first step's receptive field, aligned down to `S`, or at `T - L` if it
    would run past the end, and keeps every step whose receptive field lies inside it; the next
    chunk starts at the first step not kept. `s` is the smallest number of steps (<=
    `chunk_steps`) that needs no more chunks than `chunk_steps` does, so a video just over one
    chunk is not computed as two full ones. Checked here: every kept step's receptive field lies
    inside its chunk and every layer pads the chunk as it pads the single pass.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be >= 1, got {chunk_steps}")
    stride = total_stride(layers)
    rf = mixed_5c_receptive_fields(layers, num_frames)
    nominal = mixed_5c_receptive_fields(layers, num_frames, clip=False)
    n_out = len(rf)
    aligned = rf[:, 0] // stride * stride

    def plan(steps: int) -> list[Chunk]:
        length = int((rf[np.minimum(np.arange(n_out) + steps, n_out) - 1, 1] + 1 - aligned).max())
        # Congruent to T modulo the total stride: the same pads in every layer (they depend on
        # the input length modulo the product of the strides up to that layer).
        length += (num_frames - length) % stride
        if length >= num_frames:
            return [Chunk(0, num_frames, 0, n_out)]
        chunks, keep_start = [], 0
        while keep_start < n_out:
            start = min(int(aligned[keep_start]), num_frames - length)
            stop = start + length
            keep_stop = n_out if stop == num_frames else \
                int(np.searchsorted(nominal[:, 1], stop - 1, side="right"))
            if keep_stop <= keep_start:  # cannot happen: `length` spans >= 1 step everywhere
                raise AssertionError(f"chunk [{start}, {stop}) keeps no Mixed_5c step")
            chunks.append(Chunk(start, stop, keep_start, keep_stop))
            keep_start = keep_stop
        return chunks

    chunks = plan(chunk_steps)
    lo, hi = 1, chunk_steps  # fewer steps never need fewer chunks: bisect for the fewest steps
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if len(plan(mid)) <= len(chunks) else (mid + 1, hi)
    chunks = plan(lo)
    _, full_pads = _pads(layers, num_frames)
    for c in chunks:
        _check_chunk(layers, num_frames, full_pads, nominal, c.start, c.stop, c.keep_start,
                     c.keep_stop)
    return chunks


def _check_chunk(layers, num_frames, full_pads, nominal, start, stop, keep_start, keep_stop):
    """Raises unless the chunk's kept steps see exactly the frames (and padding) they do in full."""
    _, pads = _pads(layers, stop - start)
    same_grid = ([b for b, _ in pads] == [b for b, _ in full_pads]
                 and (stop < num_frames or pads == full_pads) and start % total_stride(layers) == 0)
    offset = start // total_stride(layers)
    local = mixed_5c_receptive_fields(layers, stop - start, clip=False)
    local = local[keep_start - offset:keep_stop - offset] + start
    ok = (same_grid and len(local) == keep_stop - keep_start
          and np.array_equal(local, nominal[keep_start:keep_stop])
          # Padding at a cut edge must be out of reach (at a video edge it is the same padding).
          and (start == 0 or local[:, 0].min() >= start)
          and (stop == num_frames or local[:, 1].max() <= stop - 1))
    if not ok:
        raise AssertionError(
            f"chunk [{start}, {stop}) of a {num_frames}-frame video does not reproduce Mixed_5c "
            f"steps [{keep_start}, {keep_stop}) of the single pass (pads {pads} vs {full_pads})")


def trunk_function(model) -> tf.types.experimental.GenericFunction:
    """A `tf.function` running `model.trunk` (up to its last trunk endpoint) in inference mode.

    Takes float32 `[B, T, H, W, C]` in [-1, 1]; returns the trunk output, e.g. Mixed_5c
    `[B, ceil(T/8), ceil(H/32), ceil(W/32), 1024]`. Traced once for any T, H, W.
    """
    channels = model.input_channels

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, channels], tf.float32)])
    def run(x):
        return run_trunk(model, x)

    return run


def run_trunk(model, x: tf.Tensor) -> tf.Tensor:
    """`model.trunk` in inference mode: float32 `[B, T, H, W, C]` -> its last trunk endpoint.

    For a full I3D that is Mixed_5c `[B, ceil(T/8), ceil(H/32), ceil(W/32), 1024]`, float32.
    """
    x = tf.cast(x, model.compute_dtype)
    for layer in model.trunk:
        x = layer(x, training=False) if isinstance(layer, (Unit, InceptionModule)) else layer(x)
    return tf.cast(x, tf.float32)


def head_step_logits(model, features: tf.Tensor) -> tf.Tensor:
    """The head of `model` without its mean over time: `[B, T', 7, 7, 1024]` -> `[B, T'-1, K]`.

    The same layers as `I3DHead.call` (2x7x7 VALID average pool, 1x1x1 conv with bias); dropout is
    the identity at inference.
    """
    head = model.head
    if head is None:
        raise ValueError(f"{model.name} has no Logits head "
                         f"(final_endpoint={model.final_endpoint!r})")
    x = head.avg_pool(tf.cast(features, model.compute_dtype))
    x = head.logits(x)
    return tf.cast(tf.squeeze(x, axis=[2, 3]), tf.float32)


def _frame_blocks(frames: Iterable[np.ndarray], chunks: Sequence[Chunk],
                  num_frames: int) -> Iterator[tuple[Chunk, np.ndarray]]:
    """Yields `(chunk, frames[chunk.start:chunk.stop])`, holding at most one chunk of frames."""
    it = iter(frames)
    buf: list[np.ndarray] = []
    buf_start = 0
    for i, chunk in enumerate(chunks):
        while buf_start + len(buf) < chunk.stop:
            try:
                buf.append(np.asarray(next(it)))
            except StopIteration:
                raise ValueError(
                    f"frames ended after {buf_start + len(buf)} frames; num_frames={num_frames} "
                    "was given") from None
        yield chunk, np.stack(buf[chunk.start - buf_start:chunk.stop - buf_start])
        next_start = chunks[i + 1].start if i + 1 < len(chunks) else chunk.stop
        drop = max(0, next_start - buf_start)
        del buf[:drop]
        buf_start += drop
    if next(it, None) is not None:
        raise ValueError(f"frames yielded more than num_frames={num_frames} frames")


def _resolve_num_frames(frames, num_frames: int | None) -> int:
    if num_frames is None:
        if not hasattr(frames, "__len__"):
            raise ValueError(
                "num_frames is required when frames is an iterator: the SAME-padding grid of the "
                "whole-video pass depends on the frame count modulo 4 (see kinetics_i3d.serve."
                "chunked); count the frames first (e.g. a first decoding pass)")
        num_frames = len(frames)
    return int(num_frames)


class ChunkedI3D:
    """Whole-video I3D over frame iterators, one chunk at a time.

    Args:
      model: an `InceptionI3d` (any `final_endpoint` from `Mixed_5c` on; `logits` needs the head).
      chunk_steps: Mixed_5c steps kept per chunk (8 frames each). Peak memory grows with this, not
        with the video; each chunk also recomputes about 100 frames of context.
    """

    def __init__(self, model, chunk_steps: int = DEFAULT_CHUNK_STEPS):
        if "Mixed_5c" not in model.trunk_endpoints:
            raise ValueError(f"{model.name}: chunked inference needs the trunk up to Mixed_5c; "
                             f"final_endpoint={model.final_endpoint!r}")
        self.model = model
        self.chunk_steps = int(chunk_steps)
        self.layers = temporal_layers(model)
        self.stride = total_stride(self.layers)
        self._trunk = trunk_function(model)

    def plan(self, num_frames: int) -> list[Chunk]:
        return plan_chunks(self.layers, num_frames, self.chunk_steps)

    def mixed_5c(self, frames: Iterable[np.ndarray],
                 num_frames: int | None = None) -> Iterator[np.ndarray]:
        """Yields consecutive blocks of the whole-video Mixed_5c, float32 `[n_i, H', W', 1024]`.

        `frames` yields `num_frames` float32 frames `[H, W, C]` in [-1, 1] (already preprocessed);
        the blocks concatenate to the single pass's `[ceil(T/8), H', W', 1024]`.

        Raises:
          UserError: frames outside [-1, 1] (e.g. uint8 RGB not yet scaled with x / 127.5 - 1).
        """
        num_frames = _resolve_num_frames(frames, num_frames)
        chunks = self.plan(num_frames)
        modality = self.model.modality.name
        for chunk, block in _frame_blocks(frames, chunks, num_frames):
            preprocessing.check_unit_range(
                block, f"{modality} frames {chunk.start}..{chunk.stop - 1}", modality)
            out = self._trunk(tf.convert_to_tensor(block[None], tf.float32))[0]
            offset = chunk.start // self.stride
            yield out[chunk.keep_start - offset:chunk.keep_stop - offset].numpy()

    def logits(self, frames: Iterable[np.ndarray], num_frames: int | None = None) -> np.ndarray:
        """Whole-video logits, float32 `[num_classes]`: the head over the stitched Mixed_5c.

        Needs `num_frames >= 9` and 193..224 px frames, as the single pass does.
        """
        num_frames = _resolve_num_frames(frames, num_frames)
        min_frames = (self.model.head.avg_pool.pool_size[0] - 1) * self.stride + 1 \
            if self.model.head is not None else 1
        if num_frames < min_frames:
            raise ValueError(f"I3D's Logits need at least {min_frames} frames; got {num_frames}")
        total = None
        count = 0
        carry = None
        for block in self.mixed_5c(frames, num_frames):
            seq = block if carry is None else np.concatenate([carry, block], axis=0)
            carry = block[-1:]
            if len(seq) < 2:
                continue
            step_logits = head_step_logits(self.model, seq[None])[0].numpy().astype(np.float64)
            total = step_logits.sum(0) if total is None else total + step_logits.sum(0)
            count += len(step_logits)
        return (total / count).astype(np.float32)

    def pooled_features(self, frames: Iterable[np.ndarray], num_frames: int | None = None,
                        pooling: str = "mean") -> np.ndarray:
        """Mixed_5c features of the whole video.

        pooling "mean": mean over T', H', W' -> float32 `[1024]`; "time": mean over H', W' ->
        `[T', 1024]`; "none": the full map `[T', H', W', 1024]` (grows with the video; for long
        videos iterate `mixed_5c` and write blocks out instead).
        """
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        blocks = self.mixed_5c(frames, num_frames)
        if pooling == "none":
            return np.concatenate(list(blocks), axis=0)
        if pooling == "time":
            return np.concatenate([b.mean(axis=(1, 2)) for b in blocks], axis=0)
        total, count = None, 0
        for block in blocks:
            s = block.mean(axis=(1, 2), dtype=np.float64).sum(0)
            total = s if total is None else total + s
            count += len(block)
        return (total / count).astype(np.float32)


POOLINGS = ("mean", "time", "none")
