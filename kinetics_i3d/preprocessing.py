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

import cv2
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


def resize_short_side(frame: np.ndarray, short_side: int | None) -> np.ndarray:
    """Bilinear resize (OpenCV `INTER_LINEAR`) of `[H, W, C]` so that min(H, W) == short_side.

    None/0, or a frame already that size: returned unchanged. dtype is kept (uint8 rounds).
    """
    h, w = frame.shape[:2]
    new_h, new_w = resized_shape(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return frame
    return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
