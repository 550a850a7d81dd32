"""The release's preprocessing, in one place: numbers, rules, numpy and TensorFlow twins.

DeepMind kinetics-i3d README and paper sec. 2.5:
  - frames sampled at 25 fps (`FRAME_RATE`);
  - RGB resized with bilinear interpolation so that the smaller side is 256 px, aspect ratio
    kept (`SHORT_SIDE`, `resized_shape`, `resize_short_side`);
  - 224 x 224 crops: random in training, centred at test time (`CROP_SIZE`, `crop_offsets`);
  - RGB pixel values rescaled to [-1, 1] (`x / 127.5 - 1`, `rgb_to_unit`);
  - TV-L1 flow (pixels of the 256-px frames) truncated to [-20, 20] and divided by 20
    (`FLOW_BOUND`, `flow_to_unit`).

Each rule has a numpy function (used on decoded frames: ingest, feature extraction, tools) and
a TensorFlow function (`*_tf`, graph-safe: the data pipeline, the SavedModel); they share the
constants above and are tested to agree (tests/test_preprocessing.py). Sizes round as Python
does (`round`, half to even) in float64 in both.
"""
from __future__ import annotations

import numpy as np

FRAME_RATE = 25.0  # release README: "sampled at 25 frames per second"
SHORT_SIDE = 256  # release README: "smallest dimension is 256 pixels"
CROP_SIZE = 224  # paper sec. 2.5: 224 x 224 crops (random in training, centre at test)
FLOW_BOUND = 20.0  # release README: flow "truncated to [-20, 20]"
RGB_SCALE = 127.5  # release README: pixel values "rescaled between -1 and 1": x / 127.5 - 1


def resized_shape(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) after scaling the smaller side to `short_side`, aspect kept (rounded).

    None or 0 keeps the size. Rule: the other side is `round(side * short_side / min(H, W))`.
    """
    if not short_side:
        return height, width
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, max(1, int(round(width * scale)))
    return max(1, int(round(height * scale))), short_side


def resize_short_side(frame: np.ndarray, short_side: int | None,
                      is_flow: bool = False) -> np.ndarray:
    """Bilinear resize (OpenCV `INTER_LINEAR`) of `[H, W, C]` so that min(H, W) == short_side.

    None/0, or a frame already that size: returned unchanged. dtype is kept (uint8 rounds).
    With `is_flow`, `frame` is flow (x, y displacements, any units) and the values are scaled
    with the image: x by new_w / w, y by new_h / h.
    """
    h, w = frame.shape[:2]
    new_h, new_w = resized_shape(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return frame
    import cv2  # noqa: PLC0415  (only the numpy resize needs OpenCV)

    out = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if is_flow:
        out = out * np.array([new_w / w, new_h / h], out.dtype)
    return out


def crop_offsets(height: int, width: int, crop_size: int = CROP_SIZE,
                 crop_y: float | None = None, crop_x: float | None = None) -> tuple[int, int]:
    """Top-left corner (y, x) of a `crop_size` square in an `height` x `width` frame.

    Centred (`(H - crop) // 2`) unless `crop_y`, `crop_x` (proportions in [0, 1), a random crop's
    draw) are given: then `floor(u * (room + 1))`, capped at the room.
    """
    room_y, room_x = height - crop_size, width - crop_size
    if room_y < 0 or room_x < 0:
        raise ValueError(f"cannot crop {crop_size} x {crop_size} from {height} x {width} frames")
    if crop_y is None or crop_x is None:
        return room_y // 2, room_x // 2
    return (min(int(np.floor(crop_y * (room_y + 1))), room_y),
            min(int(np.floor(crop_x * (room_x + 1))), room_x))


def center_crop(frames: np.ndarray, crop_size: int = CROP_SIZE) -> np.ndarray:
    """Centre `crop_size` square of `[..., H, W, C]` (test time, paper sec. 2.5)."""
    y, x = crop_offsets(frames.shape[-3], frames.shape[-2], crop_size)
    return frames[..., y:y + crop_size, x:x + crop_size, :]


def rgb_to_unit(frames: np.ndarray) -> np.ndarray:
    """RGB in [0, 255] (uint8 or float) -> float32 in [-1, 1]: `x / 127.5 - 1`."""
    return np.asarray(frames, np.float32) / np.float32(RGB_SCALE) - np.float32(1.0)


def flow_to_unit(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
    """Flow in pixels -> float32 in [-1, 1]: truncated to [-bound, bound], divided by bound."""
    bound = np.float32(bound)
    return np.clip(np.asarray(flow, np.float32), -bound, bound) / bound


# Preprocessed inputs may exceed [-1, 1] by this much (float error of resizes and JPEG round
# trips); anything more is input in another range, e.g. uint8 RGB in [0, 255] or [0, 1].
RANGE_TOLERANCE = 0.01
_CONVERSIONS = {
    "rgb": f"uint8 RGB in [0, 255] converts with x / {RGB_SCALE} - 1",
    "flow": f"flow in pixels converts with clip(x, -{FLOW_BOUND:g}, {FLOW_BOUND:g}) / "
            f"{FLOW_BOUND:g}",
}


def range_message(name: str, modality: str, low: float, high: float) -> str:
    """The one-line error for preprocessed `modality` input `name` found in [low, high]."""
    how = _CONVERSIONS.get(modality, _CONVERSIONS["rgb"])
    return (f"{name}: values in [{low:.4g}, {high:.4g}], expected preprocessed {modality} input "
            f"in [-1, 1]; {how}")


def check_unit_range(x: np.ndarray, name: str, modality: str = "rgb"
                     ) -> tuple[float, float] | None:
    """Raises `UserError` when preprocessed input `x` is outside [-1, 1] (+- `RANGE_TOLERANCE`);
    returns the (min, max) it found (None for an empty array), so callers need not read `x` again.

    For entry points that take preprocessed arrays (`.npy` inputs, feature extraction from
    arrays); the Keras model itself does not check (graph speed).
    """
    from kinetics_i3d.errors import UserError

    x = np.asarray(x)
    if x.size == 0:
        return None
    low, high = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise UserError(f"{name}: contains NaN or infinite values; expected preprocessed "
                        f"{modality} input in [-1, 1]")
    if low < -1.0 - RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
        raise UserError(range_message(name, modality, low, high))
    return low, high


# TensorFlow twins (graph-safe; same constants and rules as the numpy functions above).

def resized_shape_tf(height, width, short_side: int = SHORT_SIDE):
    """`resized_shape` on int tensors: (height, width) int32, computed in float64 as Python does
    (in float32 a tie such as 415 * 36 / 120 = 124.5 lands above .5 and rounds up)."""
    import tensorflow as tf

    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    scale = float(short_side) / tf.minimum(h, w)
    new_h = tf.where(h <= w, tf.constant(short_side, tf.float64), tf.math.round(h * scale))
    new_w = tf.where(h <= w, tf.math.round(w * scale), tf.constant(short_side, tf.float64))
    return tf.maximum(tf.cast(new_h, tf.int32), 1), tf.maximum(tf.cast(new_w, tf.int32), 1)


def resize_short_side_tf(frames, short_side: int = SHORT_SIDE, is_flow: bool = False):
    """Bilinear resize (TF half-pixel) of `[..., H, W, C]` to min(H, W) == short_side; float32.

    Unchanged (up to the cast) when the short side already is `short_side`. Differs from the
    numpy twin (OpenCV on uint8, rounded) by at most a few uint8 levels (BUILD_NOTES.md). With
    `is_flow`, values are (x, y) displacements scaled with the image (x by new_w / w, y by
    new_h / h), in whatever units they come (pixels, or [-1, 1]: then clip afterwards).
    """
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    h, w = shape[-3], shape[-2]
    new_h, new_w = resized_shape_tf(h, w, short_side)
    flat = tf.reshape(tf.cast(frames, tf.float32), tf.concat([[-1], shape[-3:]], 0))

    def resize():
        return tf.image.resize(flat, tf.stack([new_h, new_w]), method="bilinear")

    out = tf.cond(tf.logical_and(tf.equal(new_h, h), tf.equal(new_w, w)), lambda: flat, resize)
    if is_flow:
        out = out * tf.stack([tf.cast(new_w, tf.float32) / tf.cast(w, tf.float32),
                              tf.cast(new_h, tf.float32) / tf.cast(h, tf.float32)])
    out = tf.reshape(out, tf.concat([shape[:-3], [new_h, new_w, shape[-1]]], 0))
    out.set_shape(frames.shape[:-3].concatenate([None, None]).concatenate(frames.shape[-1:]))
    return out


def crop_offsets_tf(height, width, crop_size: int = CROP_SIZE, crop_y=None, crop_x=None):
    """`crop_offsets` on tensors: centred, or from proportions `crop_y`, `crop_x` in [0, 1)."""
    import tensorflow as tf

    room_y = tf.cast(height, tf.int32) - crop_size
    room_x = tf.cast(width, tf.int32) - crop_size
    if crop_y is None or crop_x is None:
        return room_y // 2, room_x // 2
    y = tf.cast(tf.floor(crop_y * tf.cast(room_y + 1, tf.float32)), tf.int32)
    x = tf.cast(tf.floor(crop_x * tf.cast(room_x + 1, tf.float32)), tf.int32)
    return tf.minimum(y, room_y), tf.minimum(x, room_x)


def center_crop_tf(frames, crop_size: int = CROP_SIZE):
    """Centre `crop_size` square of `[..., H, W, C]`; H, W >= crop_size (asserted)."""
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    h, w = shape[-3], shape[-2]
    tf.debugging.assert_greater_equal(
        tf.minimum(h, w), crop_size, message=f"center_crop: frames are smaller than {crop_size} px")
    top, left = crop_offsets_tf(h, w, crop_size)
    return frames[..., top:top + crop_size, left:left + crop_size, :]


def rgb_to_unit_tf(frames):
    """RGB in [0, 255] (uint8 or float) -> float32 in [-1, 1]: `x / 127.5 - 1`."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / RGB_SCALE - 1.0


def flow_to_unit_tf(flow, bound: float = FLOW_BOUND):
    """Flow in pixels -> float32 in [-1, 1]: truncated to [-bound, bound], divided by bound."""
    import tensorflow as tf

    return tf.clip_by_value(tf.cast(flow, tf.float32), -bound, bound) / bound


def network_input_rgb_tf(frames, short_side: int = SHORT_SIDE, crop_size: int = CROP_SIZE):
    """Raw RGB frames -> the network's test input (paper sec. 2.5): resize the short side to
    `short_side` (bilinear on float values; ingest uses OpenCV on uint8, within a couple of
    levels: BUILD_NOTES), centre crop, [-1, 1].

    frames: uint8 `[..., T, H, W, 3]` (any H, W; any leading axes), 0..255. Returns float32
    `[..., T, crop_size, crop_size, 3]` in [-1, 1]. Raises TypeError for other dtypes.
    """
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    if frames.dtype != tf.uint8:
        raise TypeError(f"network_input_rgb_tf expects uint8 frames (0..255), got {frames.dtype}")
    x = center_crop_tf(resize_short_side_tf(frames, short_side), crop_size)
    return tf.clip_by_value(rgb_to_unit_tf(x), -1.0, 1.0)


def network_input_flow_tf(flow, short_side: int = SHORT_SIDE, crop_size: int = CROP_SIZE,
                       bound: float = FLOW_BOUND):
    """TV-L1 flow in pixels -> the flow network's test input: float `[..., T, H, W, 2]`
    displacements (x, y) in pixels of the frames they were computed on (resized with their
    values scaled when those were not `short_side` px on the short side), centre crop,
    truncated to [-bound, bound] and divided by it. Returns float32 `[..., T, crop, crop, 2]`
    in [-1, 1]."""
    x = center_crop_tf(resize_short_side_tf(flow, short_side, is_flow=True), crop_size)
    return flow_to_unit_tf(x, bound)


def assert_unit_range_tf(x, name: str, modality: str = "rgb"):
    """Graph-mode `check_unit_range`: `x` unchanged, or InvalidArgumentError with the range
    found and how to convert (for SavedModel signatures that take preprocessed input)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    low, high = tf.reduce_min(x), tf.reduce_max(x)
    ok = tf.logical_and(low >= -1.0 - RANGE_TOLERANCE, high <= 1.0 + RANGE_TOLERANCE)
    ok = tf.logical_or(tf.equal(tf.size(x), 0), ok)
    how = _CONVERSIONS.get(modality, _CONVERSIONS["rgb"])
    check = tf.debugging.Assert(ok, [f"{name}: values outside [-1, 1], expected preprocessed "
                                     f"{modality} input; {how}; found min/max:", low, high],
                                summarize=2)
    with tf.control_dependencies([check]):
        return tf.identity(x)
