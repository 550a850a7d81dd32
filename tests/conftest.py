"""Shared test fixtures: where `../shared/fixtures` is, and quiet TensorFlow logs."""
import os
from pathlib import Path

import kinetics_i3d  # noqa: F401  (sets TF env defaults before TensorFlow loads)

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KINETICS_I3D_SHARED", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
VIDEOS = FIXTURES / "videos"
RELEASED_INDEX = FIXTURES / "released_checkpoints"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {FIXTURES}; set KINETICS_I3D_SHARED")
    return FIXTURES


@pytest.fixture(scope="session")
def videos_dir(fixtures_dir) -> Path:
    return fixtures_dir / "videos"


def random_release_values(index: str, seed: int, num_classes: int | None = None) -> dict:
    """Seeded values under the names and shapes of a released checkpoint's real index file
    (`index`: "rgb_imagenet" or "flow_imagenet"), scaled so activations stay O(1); the logits
    get `num_classes` outputs when given."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in tf.train.list_variables(str(RELEASED_INDEX / index / "model.ckpt")):
        if num_classes is not None and "/Logits/" in name:
            shape = shape[:-1] + [num_classes]
        if name.endswith("conv_3d/w"):
            v = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        elif name.endswith("moving_variance"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("moving_mean"):
            v = rng.normal(0.0, 0.2, shape)
        else:  # beta, conv_3d/b
            v = rng.normal(0.0, 0.1, shape)
        values[name] = v.astype(np.float32)
    return values


@pytest.fixture(scope="session")
def pretrained_rgb(tmp_path_factory) -> str:
    """Release-layout prefix of the real RGB Kinetics-400 I3D (`pretrained("rgb_kinetics400")`),
    converted once per session into a temporary cache (never the user's ~/.cache)."""
    from kinetics_i3d.checkpoints import pretrained

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KINETICS_I3D_CACHE", str(tmp_path_factory.mktemp("kinetics_i3d_cache")))
        return pretrained("rgb_kinetics400")


def moving_texture_video(path, num_frames=6, height=48, width=64):
    """An MJPEG .avi at 25 fps of a smooth random texture whose content moves +1 px in x
    (right) and -1 px in y (up) per frame (at most 20 frames)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (height + 40, width + 40)), (0, 0), 2.0)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
    for k in range(num_frames):
        gray = canvas[20 + k:20 + k + height, 20 - k:20 - k + width]
        writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    writer.release()
    return str(path)
