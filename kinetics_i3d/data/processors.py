"""Small pure TensorFlow functions that turn decoded frames into a model's clip.

Tensor first, then settings, then the random `state` (a plain dict drawn once per example by
`random_state`) so that the RGB and flow streams of one example get the same temporal start, the
same crop and the same flip. Crop positions are stored as proportions in [0, 1), so streams of
different sizes still crop the same region. Every function works in graph mode (inside
`tf.data.Dataset.map`).

Value conventions: stored RGB is uint8 in [0, 255]; stored flow is a uint8 3-channel image
(`kinetics_i3d.mediasequence.encode_flow_uint8`: R = x, G = y). The networks take both as
float32 in [-1, 1] (DeepMind release README: "pixel values ... rescaled between -1 and 1"; flow
"truncated to [-20, 20], then rescaled between -1 and 1").
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from kinetics_i3d import mediasequence as ms
from kinetics_i3d import preprocessing


def random_state(seed: tf.Tensor, photometric: bool = False) -> dict[str, tf.Tensor]:
    """Draws the random choices of one training example from a stateless `seed` (`[2]` int).

    Returns a dict: `start_u` (proportion for the temporal start), `crop_y`, `crop_x`
    (proportions in [0, 1)), `flip` (bool); with `photometric`, also `brightness` in
    [-0.2, 0.2] (added, in [-1, 1] units), `contrast` and `saturation` in [0.8, 1.2]
    (multipliers).
    """
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    u = tf.random.stateless_uniform([4], seed=seeds[0])
    state = {"start_u": u[0], "crop_y": u[1], "crop_x": u[2], "flip": u[3] < 0.5}
    if photometric:
        p = tf.random.stateless_uniform([3], seed=seeds[1])
        state["brightness"] = (p[0] * 2.0 - 1.0) * 0.2
        state["contrast"] = 0.8 + 0.4 * p[1]
        state["saturation"] = 0.8 + 0.4 * p[2]
    return state


def random_start(num_frames: tf.Tensor, footprint: int, start_u: tf.Tensor) -> tf.Tensor:
    """Start frame among those early enough to fit `footprint` frames (paper sec. 2.5).

    `start_u` is a proportion in [0, 1); videos shorter than the footprint start at 0 (and loop).
    Returns a scalar int32 in [0, max(num_frames - footprint, 0)].
    """
    last = tf.maximum(tf.cast(num_frames, tf.int32) - footprint, 0)
    start = tf.cast(tf.floor(start_u * tf.cast(last + 1, tf.float32)), tf.int32)
    return tf.minimum(start, last)


def snapshot_starts(num_frames: tf.Tensor, footprint: int, num_snapshots: int,
                    stride: int | None = None) -> tf.Tensor:
    """Test-time snapshot starts, `[num_snapshots]` int32.

    With `stride`, snapshot k starts at k * stride (looping past the end); otherwise the starts
    are evenly spaced from 0 to max(num_frames - footprint, 0), rounded.
    """
    if stride is not None:
        return tf.range(num_snapshots, dtype=tf.int32) * stride
    last = tf.cast(tf.maximum(tf.cast(num_frames, tf.int32) - footprint, 0), tf.float32)
    if num_snapshots == 1:
        return tf.zeros([1], tf.int32)
    return tf.cast(tf.round(tf.linspace(0.0, last, num_snapshots)), tf.int32)


def frame_indices(starts: tf.Tensor, offsets: Sequence[int], period: tf.Tensor) -> tf.Tensor:
    """Frame indices `[K, L]` int32 = (starts[k] + offsets[l]) mod period.

    The modulo loops short videos as many times as needed (paper sec. 2.5). `period` >= 1.
    """
    offsets = tf.constant(list(offsets), tf.int32)
    return tf.math.floormod(starts[:, None] + offsets[None, :], tf.cast(period, tf.int32))


def crop_offsets(height: tf.Tensor, width: tf.Tensor, crop_size: int,
                 state: dict[str, tf.Tensor] | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Top-left corner (y, x) of a `crop_size` square: random from `state`, else centred
    (`kinetics_i3d.preprocessing.crop_offsets_tf`)."""
    if state is None:
        return preprocessing.crop_offsets_tf(height, width, crop_size)
    return preprocessing.crop_offsets_tf(height, width, crop_size, state["crop_y"], state["crop_x"])


# (height, width) int32 with the smaller side scaled to `short_side`: the release's rule, in
# float64 as Python computes it (`kinetics_i3d.preprocessing.resized_shape_tf`).
resized_size = preprocessing.resized_shape_tf


def resize_smallest(frames: tf.Tensor, short_side: int, is_flow: bool = False) -> tf.Tensor:
    """Bilinear resize of `[N, H, W, C]` so that min(H, W) == short_side; float32 out.

    With `is_flow`, `frames` are flow in [-1, 1] units (x, y channels) and the displacements are
    scaled with the image (x by the width ratio, y by the height ratio), then clipped to [-1, 1].
    """
    out = preprocessing.resize_short_side_tf(frames, short_side, is_flow)
    return tf.clip_by_value(out, -1.0, 1.0) if is_flow else out


def crop_frames(frames: tf.Tensor, y: tf.Tensor, x: tf.Tensor, crop_size: int) -> tf.Tensor:
    """The `[N, crop_size, crop_size, C]` window of `[N, H, W, C]` at top-left (y, x)."""
    out = frames[:, y:y + crop_size, x:x + crop_size, :]
    return tf.ensure_shape(out, [None, crop_size, crop_size, None])


def flip_left_right(frames: tf.Tensor, flip: tf.Tensor, is_flow: bool = False) -> tf.Tensor:
    """Mirrors `[..., H, W, C]` frames when `flip` (scalar bool), the same for every frame.

    With `is_flow` (flow in [-1, 1], channels x, y), the horizontal component changes sign and
    the vertical one does not: mirrored motion to the right is motion to the left.
    """
    def mirrored():
        out = tf.reverse(frames, axis=[-2])
        if is_flow:
            out = out * tf.constant([-1.0, 1.0], out.dtype)
        return out

    return tf.cond(flip, mirrored, lambda: tf.identity(frames))


def rgb_to_unit(frames: tf.Tensor) -> tf.Tensor:
    """RGB in [0, 255] (uint8 or float) -> float32 in [-1, 1] (`preprocessing.rgb_to_unit_tf`)."""
    return preprocessing.rgb_to_unit_tf(frames)


def flow_to_unit(frames: tf.Tensor) -> tf.Tensor:
    """Stored flow images `[..., 3]` in [0, 255] -> flow `[..., 2]` float32 in [-1, 1].

    Inverse of `kinetics_i3d.mediasequence.encode_flow_uint8` (same as `decode_flow_unit`).
    """
    return tf.cast(frames[..., :2], tf.float32) / ms.FLOW_UINT8_MID - 1.0


def photometric_jitter(frames: tf.Tensor, state: dict[str, tf.Tensor]) -> tf.Tensor:
    """Brightness, contrast and saturation jitter of RGB `[N, H, W, 3]` in [-1, 1], the same for
    every frame of the clip (parameters from `random_state(..., photometric=True)`); clipped to
    [-1, 1]. Off by default: the paper leaves photometric augmentation to future work (sec. 2.5).
    """
    frames = frames + state["brightness"]
    mean = tf.reduce_mean(frames, axis=[-3, -2, -1], keepdims=True)
    frames = (frames - mean) * state["contrast"] + mean
    gray = tf.reduce_mean(frames, axis=-1, keepdims=True)
    frames = (frames - gray) * state["saturation"] + gray
    return tf.clip_by_value(frames, -1.0, 1.0)


def decode_frames(encoded: tf.Tensor, channels: int = 3) -> tf.Tensor:
    """Decodes `[N]` JPEG/PNG strings to uint8 `[N, H, W, channels]` (all frames one size)."""
    return tf.map_fn(
        lambda e: tf.io.decode_image(e, channels=channels, expand_animations=False),
        encoded, fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8),
        parallel_iterations=8)


def decode_and_crop_jpeg_frames(encoded: tf.Tensor, y: tf.Tensor, x: tf.Tensor,
                                crop_size: int) -> tf.Tensor:
    """Decodes only the `crop_size` window at (y, x) of `[N]` JPEGs: uint8 `[N, c, c, 3]`.

    Same pixels as decoding then cropping, but libjpeg skips most of the work outside the window.
    """
    window = tf.stack([y, x, crop_size, crop_size])
    out = tf.map_fn(
        lambda e: tf.image.decode_and_crop_jpeg(e, window, channels=3),
        encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        parallel_iterations=8)
    return tf.ensure_shape(out, [None, crop_size, crop_size, 3])
