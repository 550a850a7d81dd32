"""The release's test-time preprocessing as TensorFlow ops (usable inside a SavedModel graph).

Composed from the rules in `kinetics_i3d.preprocessing` (their one home). DeepMind
kinetics-i3d README / paper sec. 2.5: RGB frames are resized with bilinear interpolation so that
the smaller side is 256 px (aspect ratio kept), a 224x224 centre crop is taken at test time, and
pixel values are rescaled to [-1, 1]. Flow is TV-L1 computed on those 256-px frames, truncated to
[-20, 20] and divided by 20.

Differences from `kinetics_i3d.ingest.video` + the data pipeline, both documented in
BUILD_NOTES.md: the resize here is TF's half-pixel bilinear on float values (the ingest uses
OpenCV `INTER_LINEAR` and rounds to uint8, then stores JPEG), so values differ by at most a
couple of uint8 levels; the output size uses the same rounding rule (`round(side * 256 / short)`).
"""
from __future__ import annotations

import tensorflow as tf

from kinetics_i3d import preprocessing
from kinetics_i3d.preprocessing import CROP_SIZE, FLOW_BOUND, SHORT_SIDE  # noqa: F401  (public)

# The TF rules, under the names this module has always had.
resize_short_side = preprocessing.resize_short_side_tf
center_crop = preprocessing.center_crop_tf


def preprocess_rgb(frames: tf.Tensor, short_side: int = SHORT_SIDE,
                   crop_size: int = CROP_SIZE) -> tf.Tensor:
    """Raw RGB frames -> the network's test input.

    Args:
      frames: uint8 `[..., T, H, W, 3]` (any H, W; any leading batch axes), values 0..255.
      short_side, crop_size: release values `SHORT_SIDE` and `CROP_SIZE`.

    Returns:
      float32 `[..., T, crop_size, crop_size, 3]` in [-1, 1].
    """
    frames = tf.convert_to_tensor(frames)
    if frames.dtype != tf.uint8:
        raise TypeError(f"preprocess_rgb expects uint8 frames (0..255), got {frames.dtype}")
    x = center_crop(resize_short_side(frames, short_side), crop_size)
    return tf.clip_by_value(preprocessing.rgb_to_unit_tf(x), -1.0, 1.0)


def preprocess_flow(flow: tf.Tensor, short_side: int = SHORT_SIDE, crop_size: int = CROP_SIZE,
                    bound: float = FLOW_BOUND) -> tf.Tensor:
    """TV-L1 flow in pixels -> the flow network's test input.

    Args:
      flow: float `[..., T, H, W, 2]` displacements (x, y) in pixels of the frames they were
        computed on. If those frames were not 256 px on the short side, the field is resized and
        its values scaled with it (x by new_w / w, y by new_h / h: pixels of the resized frames).
      short_side, crop_size, bound: release values `SHORT_SIDE`, `CROP_SIZE`, `FLOW_BOUND`.

    Returns:
      float32 `[..., T, crop_size, crop_size, 2]` in [-1, 1].
    """
    x = center_crop(resize_short_side(flow, short_side, is_flow=True), crop_size)
    return preprocessing.flow_to_unit_tf(x, bound)
