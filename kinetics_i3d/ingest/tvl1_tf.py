"""Batched TV-L1 optical flow in TensorFlow ops (runs on CPU, GPU and TPU, eager or XLA).

The method is the duality-based TV-L1 of Zach, Pock and Bischof ("A duality based approach for
realtime TV-L1 optical flow", DAGM 2007) in the form of Sanchez, Meinhardt-Llopis and Facciolo
("TV-L1 Optical Flow Estimation", IPOL 2013), with the iteration schedule, stopping rule and
defaults of OpenCV's `cv2.optflow.DualTVL1OpticalFlow` (opencv-contrib 4.11), so that a video
ingested with `--flow_backend=tf` matches one ingested with the OpenCV backend.

For each pyramid level, coarsest first, and each of `num_warps` warps:

1. warp the second frame and its gradient by the current flow `u` (bicubic interpolation);
2. linearise the brightness constancy: `rho(u) = I1w + grad(I1w) . (u - u0) - I0`;
3. up to `outer_iterations` times: median-filter `u`, then up to `inner_iterations` times
   (a) thresholding step `v = TH(u)` (the pointwise L1 data-term proximal map),
   (b) `u = v + theta * div(p)`,
   (c) dual step `p = (p + tau/theta * grad(u)) / (1 + tau/theta * |grad(u)|)` (the projection
       onto the unit ball, as a semi-implicit step, per flow component);
   stopping a pair's iterations once `sum((u - u_prev)^2) <= epsilon^2 * H * W` (OpenCV's rule,
   checked per pair, so a pair's flow does not depend on the rest of its batch).

Discretisation, and where it differs from OpenCV's (all measured effects are in BUILD_NOTES.md,
section "TV-L1 in TensorFlow"):

- Image gradient: central differences, one-sided half differences at the border (equivalent to
  replicate padding). Same as OpenCV's `centeredGradient`.
- Flow gradient / divergence: forward differences with zero at the last row/column, and the
  matching backward-difference divergence with `p = 0` outside the image. Same as OpenCV.
- Pyramid: each level is the previous one resized by `scale_step` with plain bilinear
  interpolation (half-pixel centres, clamped border, no anti-alias pre-smoothing), output size
  `round(size * scale_step)`, and the pyramid stops before a level narrower than 16 pixels. Same as
  OpenCV's `resize(..., INTER_LINEAR)`, columns then rows like it; implemented as gathers and a
  weighted sum per axis, not as interpolation matrices, so that it is batch-invariant (see
  `_resize`). The IPOL paper instead pre-smooths each level with a Gaussian; OpenCV does not, and
  neither do we.
- Flow upsampling between levels: bilinear to the finer level's size, multiplied by
  `1 / scale_step` (not by the exact size ratio). Same as OpenCV.
- Warping: bicubic (Keys kernel, a = -0.75), out-of-image samples read as 0, sample positions
  rounded to 1/32 pixel, like OpenCV's `remap(..., INTER_CUBIC)` with its default constant border
  and its 5-bit fixed-point coordinate tables. (The IPOL code clamps at the border instead.)
- Median filter: 5x5 (or `median_filtering` x `median_filtering`) median with replicate border,
  like `cv2.medianBlur` on float32 (bit-identical), with min/max only (forgetful selection).
- Arithmetic: float32 everywhere. The stopping sum is accumulated in a different order from
  OpenCV's serial float sum, so a pair can very rarely stop one iteration earlier or later, and
  TF/XLA kernels round differently from OpenCV's C++ (multiply-add contraction, reduction
  order). Mostly this is ~1e-2 px; where a warp samples outside the image (I1w = 0 there, so the
  data term is ill-conditioned) single border pixels can differ by several pixels.
- OpenCV's `gamma` (illumination term, default 0) and `useInitialFlow` are not implemented.

Everything is batched over the leading `N` axis; the Python code loops only over pyramid levels,
and the warps and iterations are `tf.while_loop`s, so the graph size does not grow with the
iteration counts.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

# OpenCV's pyramid stops before a level with fewer than 16 rows or columns
# (opencv_contrib modules/optflow/src/tvl1flow.cpp, OpticalFlowDual_TVL1::calc).
_MIN_LEVEL_SIZE = 16
# cv::remap works on fixed-point coordinates with INTER_BITS = 5 fractional bits.
_REMAP_SUBPIXELS = 32
# Keys' cubic convolution parameter used by OpenCV's INTER_CUBIC.
_CUBIC_A = -0.75
# OpenCV's thresholding step treats |grad I1|^2 <= FLT_EPSILON as a zero gradient.
_FLT_EPSILON = float(np.finfo(np.float32).eps)


def pyramid_sizes(height: int, width: int, num_scales: int,
                  scale_step: float) -> list[tuple[int, int]]:
    """The (height, width) of each pyramid level, finest first, as OpenCV computes them."""
    sizes = [(height, width)]
    for _ in range(1, num_scales):
        h, w = sizes[-1]
        # cv::resize with fx = fy = scale_step: dsize = cvRound(size * scale_step).
        nh, nw = int(round(h * scale_step)), int(round(w * scale_step))
        if nh < _MIN_LEVEL_SIZE or nw < _MIN_LEVEL_SIZE:
            break
        sizes.append((nh, nw))
    return sizes


def _linear_resize_taps(in_size: int, out_size: int, inverse_scale: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis (half-pixel centres, clamped border), as cv::resize computes.

    `inverse_scale` is out/in as OpenCV holds it: the requested factor when the output size was
    derived from a factor, otherwise the exact size ratio. Returns int32 [out_size] source indices
    (left, right) and float32 [out_size] weights (left, right); where the left tap is clamped to
    the border both indices are the border pixel and all the weight is on the left tap, as
    OpenCV does (`fx = 0`).
    """
    scale = 1.0 / inverse_scale
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    left = np.floor(src).astype(np.int64)
    frac = src - left
    clamped = (left < 0) | (left >= in_size - 1)
    left = np.clip(left, 0, in_size - 1)
    right = np.where(clamped, left, left + 1)
    frac = np.where(clamped, 0.0, frac)
    return (left.astype(np.int32), right.astype(np.int32),
            (1.0 - frac).astype(np.float32), frac.astype(np.float32))


def _resize_axis(images: tf.Tensor, axis: int, out_size: int, inverse_scale: float) -> tf.Tensor:
    """Bilinear resize of [N, H, W] along `axis` (1 or 2): two gathers and a weighted sum."""
    left, right, w_left, w_right = _linear_resize_taps(images.shape[axis], out_size,
                                                       inverse_scale)
    shape = [1, 1, 1]
    shape[axis] = out_size
    return (tf.gather(images, left, axis=axis) * w_left.reshape(shape)
            + tf.gather(images, right, axis=axis) * w_right.reshape(shape))


def _resize(images: tf.Tensor, out_hw: tuple[int, int],
            inverse_scale: tuple[float, float]) -> tf.Tensor:
    """Bilinear resize of [N, H, W] float32, columns then rows (cv::resize's order).

    Returns [N, out_h, out_w]. Gathers and elementwise arithmetic only, so each output pixel is
    computed by the same float operations whatever the batch size: a dense-matrix form
    (`einsum` with interpolation matrices) runs as a GEMM whose kernel and accumulation order
    oneDNN picks from the batch size and the CPU's ISA, and on AVX2 CPUs that made a pair's flow
    differ by up to 0.07 px between a batch of 1 and a batch of 8 (BUILD_NOTES.md, "TV-L1 in
    TensorFlow").
    """
    columns = _resize_axis(images, 2, out_hw[1], inverse_scale[1])
    return _resize_axis(columns, 1, out_hw[0], inverse_scale[0])


def _centered_gradient(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Central differences of [N, H, W] with replicate border; returns (d/dx, d/dy)."""
    padded_x = tf.concat([image[:, :, :1], image, image[:, :, -1:]], axis=2)
    padded_y = tf.concat([image[:, :1, :], image, image[:, -1:, :]], axis=1)
    dx = 0.5 * (padded_x[:, :, 2:] - padded_x[:, :, :-2])
    dy = 0.5 * (padded_y[:, 2:, :] - padded_y[:, :-2, :])
    return dx, dy


def _forward_gradient(u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward differences of [N, H, W], zero on the last column (x) / last row (y)."""
    dx = tf.pad(u[:, :, 1:] - u[:, :, :-1], [[0, 0], [0, 0], [0, 1]])
    dy = tf.pad(u[:, 1:, :] - u[:, :-1, :], [[0, 0], [0, 1], [0, 0]])
    return dx, dy


def _divergence(px: tf.Tensor, py: tf.Tensor) -> tf.Tensor:
    """Backward-difference divergence of the field (px, py), [N, H, W], p = 0 outside the image."""
    return (px - tf.pad(px[:, :, :-1], [[0, 0], [0, 0], [1, 0]])
            + py - tf.pad(py[:, :-1, :], [[0, 0], [1, 0], [0, 0]]))


def _drop_min_max(values: list[tf.Tensor]) -> list[tf.Tensor]:
    """Removes the elementwise minimum and maximum from a list of same-shaped tensors."""
    values = list(values)
    for i in range(len(values) - 1, 0, -1):  # bubble the minimum to the front
        values[i - 1], values[i] = (tf.minimum(values[i - 1], values[i]),
                                    tf.maximum(values[i - 1], values[i]))
    for i in range(1, len(values) - 1):  # and the maximum of the rest to the back
        values[i], values[i + 1] = (tf.minimum(values[i], values[i + 1]),
                                    tf.maximum(values[i], values[i + 1]))
    return values[1:-1]


def _median_filter(u: tf.Tensor, size: int) -> tf.Tensor:
    """size x size median of [N, H, W] with replicate border (cv2.medianBlur on float32).

    Exact, by forgetful selection with elementwise min/max only (no sort, so XLA fuses it): keep
    the first size*size // 2 + 2 window values, then repeatedly drop the smallest and largest and
    take in the next value; while candidates outnumber unseen values by more than one, neither
    extreme can be the median. The last value left is the median.
    """
    half = size // 2
    height, width = u.shape[1], u.shape[2]
    padded = tf.concat([tf.repeat(u[:, :, :1], half, axis=2), u,
                        tf.repeat(u[:, :, -1:], half, axis=2)], axis=2)
    padded = tf.concat([tf.repeat(padded[:, :1, :], half, axis=1), padded,
                        tf.repeat(padded[:, -1:, :], half, axis=1)], axis=1)
    window = [padded[:, dy:dy + height, dx:dx + width]
              for dy in range(size) for dx in range(size)]
    keep = len(window) // 2 + 2
    candidates = _drop_min_max(window[:keep])
    for value in window[keep:]:
        candidates = _drop_min_max(candidates + [value])
    return candidates[0]


def _cubic_weights(frac: tf.Tensor) -> list[tf.Tensor]:
    """Keys cubic weights for taps at offsets -1, 0, 1, 2 given the fractional position."""
    a = _CUBIC_A
    x0 = frac + 1.0
    w0 = ((a * x0 - 5.0 * a) * x0 + 8.0 * a) * x0 - 4.0 * a
    w1 = ((a + 2.0) * frac - (a + 3.0)) * frac * frac + 1.0
    one_minus = 1.0 - frac
    w2 = ((a + 2.0) * one_minus - (a + 3.0)) * one_minus * one_minus + 1.0
    return [w0, w1, w2, 1.0 - w0 - w1 - w2]


# Zero margin around the image for the bicubic taps; positions are clamped to 3 pixels outside,
# where all four taps of a row or column are already outside (so still read 0).
_PAD = 4


def _cubic_blocks(images: tf.Tensor) -> tf.Tensor:
    """Rows of 4 horizontally adjacent pixels of zero-padded images [N, H, W, C].

    Returns [N, (H + 8) * (W + 5), 4 * C]: entry (y, x) holds padded pixels (y, x .. x + 3), so a
    bicubic sample needs 4 gathers (one per tap row) instead of 16. Computed once per level.
    """
    n = images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    padded = tf.pad(images, [[0, 0], [_PAD, _PAD], [_PAD, _PAD], [0, 0]])
    blocks = tf.concat([padded[:, :, i:i + width + 5] for i in range(4)], axis=-1)
    return tf.reshape(blocks, [n, (height + 2 * _PAD) * (width + 5), 4 * channels])


def _warp_bicubic(blocks: tf.Tensor, u1: tf.Tensor, u2: tf.Tensor) -> tf.Tensor:
    """Bicubic samples at (x + u1, y + u2) of the images behind `blocks` (`_cubic_blocks`).

    u1, u2: [N, H, W]. Taps outside the image read 0. Returns [N, H, W, C].
    """
    n = u1.shape[0] if u1.shape[0] is not None else tf.shape(u1)[0]
    height, width = u1.shape[1], u1.shape[2]
    channels = blocks.shape[2] // 4
    xs = tf.range(width, dtype=tf.float32)[None, None, :] + u1
    ys = tf.range(height, dtype=tf.float32)[None, :, None] + u2
    # Fixed-point positions with 1/32 pixel resolution, as cv::remap does with float maps.
    xq = tf.round(xs * _REMAP_SUBPIXELS)
    yq = tf.round(ys * _REMAP_SUBPIXELS)
    x0 = tf.floor(xq / _REMAP_SUBPIXELS)
    y0 = tf.floor(yq / _REMAP_SUBPIXELS)
    wx = tf.stack(_cubic_weights(xq / _REMAP_SUBPIXELS - x0), axis=-1)
    wy = tf.stack(_cubic_weights(yq / _REMAP_SUBPIXELS - y0), axis=-1)
    x0 = tf.cast(tf.clip_by_value(x0, -3.0, width + 1.0), tf.int32)
    y0 = tf.cast(tf.clip_by_value(y0, -3.0, height + 1.0), tf.int32)
    # Block (row y0 - 1 + j, columns x0 - 1 .. x0 + 2) in padded coordinates.
    rows = y0[..., None] + (tf.range(4) + _PAD - 1)
    indices = rows * (width + 5) + (x0 + _PAD - 1)[..., None]
    taps = tf.gather(blocks, tf.reshape(indices, [n, height * width * 4]), batch_dims=1)
    taps = tf.reshape(taps, [n, height, width, 4, 4, channels])
    # One reduction, not a chain of adds: grappler would merge such a chain into AddN, which its
    # memory optimizer turns into AccumulateNV2 on large tensors, and that op fails inside nested
    # while loops ("AlreadyExistsError ... tmp_var").
    weights = wy[..., :, None] * wx[..., None, :]
    return tf.reduce_sum(taps * weights[..., None], axis=[3, 4])


def _solve_level(i0: tf.Tensor, i1: tf.Tensor, u1: tf.Tensor, u2: tf.Tensor, *, tau: float,
                 lambda_: float, theta: float, num_warps: int, epsilon: float,
                 inner_iterations: int, outer_iterations: int,
                 median_filtering: int) -> tuple[tf.Tensor, tf.Tensor]:
    """TV-L1 at one pyramid level: [N, h, w] frames and initial flow -> refined flow (u1, u2)."""
    height, width = i0.shape[1], i0.shape[2]
    # OpenCV stops when the squared flow change summed over the image is <= epsilon^2 * area.
    stop_sum = tf.constant(epsilon * epsilon * height * width, tf.float32)
    l_t = tf.constant(lambda_ * theta, tf.float32)
    taut = tf.constant(tau / theta, tf.float32)
    # -theta: `v - (-theta) * div` is bit-identical to `v + theta * div` but is a Sub, so grappler
    # does not merge it with the Add that made `v` (see _warp_bicubic for why that matters).
    minus_theta = tf.constant(-theta, tf.float32)
    i1x, i1y = _centered_gradient(i1)
    i1_blocks = _cubic_blocks(tf.stack([i1, i1x, i1y], axis=-1))
    zeros = tf.zeros_like(u1)

    def inner_step(u1, u2, p11, p12, p21, p22, active, i1wx, minus_i1wx, i1wy, grad, rho_c):
        # rho_c + (I1wx u1 + I1wy u2), written with Subs (exact) for the same grappler reason.
        rho = rho_c - (minus_i1wx * u1 - i1wy * u2)
        # Thresholding step TH (Zach et al. eq. 11): the proximal map of lambda*theta*|rho|.
        fi = tf.where(grad > _FLT_EPSILON, -rho / tf.where(grad > _FLT_EPSILON, grad, 1.0), 0.0)
        fi = tf.where(rho < -l_t * grad, l_t, tf.where(rho > l_t * grad, -l_t, fi))
        v1 = u1 + fi * i1wx
        v2 = u2 + fi * i1wy
        new_u1 = v1 - minus_theta * _divergence(p11, p12)
        new_u2 = v2 - minus_theta * _divergence(p21, p22)
        # Rows first, then the row sums: a one-step sum over [1, H, W] runs as Eigen's full
        # reduction, which splits large images across threads in an order that differs from the
        # per-pair sums of a batch (measured at 480x640 with 16 threads); both stages here are
        # per-row sums whatever N is, so the stopping rule does not depend on the batch.
        error = tf.reduce_sum(tf.reduce_sum(
            tf.square(new_u1 - u1) + tf.square(new_u2 - u2), axis=2), axis=1)
        u1x, u1y = _forward_gradient(new_u1)
        u2x, u2y = _forward_gradient(new_u2)
        ng1 = 1.0 + taut * tf.sqrt(u1x * u1x + u1y * u1y)
        ng2 = 1.0 + taut * tf.sqrt(u2x * u2x + u2y * u2y)
        mask = active[:, None, None]
        return (tf.where(mask, new_u1, u1), tf.where(mask, new_u2, u2),
                tf.where(mask, (p11 + taut * u1x) / ng1, p11),
                tf.where(mask, (p12 + taut * u1y) / ng1, p12),
                tf.where(mask, (p21 + taut * u2x) / ng2, p21),
                tf.where(mask, (p22 + taut * u2y) / ng2, p22),
                active & (error > stop_sum))

    def warp_body(k, u1, u2, p11, p12, p21, p22):
        warped = _warp_bicubic(i1_blocks, u1, u2)
        i1w, i1wx, i1wy = warped[..., 0], warped[..., 1], warped[..., 2]
        grad = i1wx * i1wx + i1wy * i1wy
        minus_i1wx = tf.negative(i1wx)
        rho_c = i1w - i1wx * u1 - i1wy * u2 - i0
        active = tf.ones_like(i0[:, 0, 0], tf.bool)

        def outer_body(m, u1, u2, p11, p12, p21, p22, active):
            if median_filtering > 1:
                mask = active[:, None, None]
                u1 = tf.where(mask, _median_filter(u1, median_filtering), u1)
                u2 = tf.where(mask, _median_filter(u2, median_filtering), u2)

            def inner_body(n, *state):
                return (n + 1,) + inner_step(*state, i1wx, minus_i1wx, i1wy, grad, rho_c)

            _, u1, u2, p11, p12, p21, p22, active = tf.while_loop(
                lambda n, *s: (n < inner_iterations) & tf.reduce_any(s[-1]), inner_body,
                (tf.constant(0), u1, u2, p11, p12, p21, p22, active), parallel_iterations=1)
            return m + 1, u1, u2, p11, p12, p21, p22, active

        _, u1, u2, p11, p12, p21, p22, _ = tf.while_loop(
            lambda m, *s: (m < outer_iterations) & tf.reduce_any(s[-1]), outer_body,
            (tf.constant(0), u1, u2, p11, p12, p21, p22, active), parallel_iterations=1)
        return k + 1, u1, u2, p11, p12, p21, p22

    # The dual variables start at zero at every level (OpenCV procOneScale).
    _, u1, u2, *_ = tf.while_loop(lambda k, *s: k < num_warps, warp_body,
                                  (tf.constant(0), u1, u2, zeros, zeros, zeros, zeros),
                                  parallel_iterations=1)
    return u1, u2


def _tvl1_flow_impl(prev: tf.Tensor, nxt: tf.Tensor, *, tau: float, lambda_: float,
                    theta: float, num_scales: int, scale_step: float, num_warps: int,
                    epsilon: float, inner_iterations: int, outer_iterations: int,
                    median_filtering: int) -> tf.Tensor:
    height, width = prev.shape[1], prev.shape[2]
    sizes = pyramid_sizes(height, width, num_scales, scale_step)
    i0s, i1s = [prev], [nxt]
    for size in sizes[1:]:
        i0s.append(_resize(i0s[-1], size, (scale_step, scale_step)))
        i1s.append(_resize(i1s[-1], size, (scale_step, scale_step)))
    u1 = tf.zeros_like(i0s[-1])
    u2 = tf.zeros_like(i0s[-1])
    for level in range(len(sizes) - 1, -1, -1):
        u1, u2 = _solve_level(i0s[level], i1s[level], u1, u2, tau=tau, lambda_=lambda_,
                              theta=theta, num_warps=num_warps, epsilon=epsilon,
                              inner_iterations=inner_iterations,
                              outer_iterations=outer_iterations,
                              median_filtering=median_filtering)
        if level > 0:
            (h, w), (fine_h, fine_w) = sizes[level], sizes[level - 1]
            ratio = (fine_h / h, fine_w / w)
            u1 = _resize(u1, sizes[level - 1], ratio) * (1.0 / scale_step)
            u2 = _resize(u2, sizes[level - 1], ratio) * (1.0 / scale_step)
    return tf.stack([u1, u2], axis=-1)


@functools.lru_cache(maxsize=None)
def _compiled(jit_compile: bool):
    return tf.function(_tvl1_flow_impl, jit_compile=jit_compile)


def tvl1_flow(prev, nxt, *, tau: float = 0.25, lambda_: float = 0.15, theta: float = 0.3,
              num_scales: int = 5, scale_step: float = 0.8, num_warps: int = 5,
              epsilon: float = 0.01, inner_iterations: int = 30, outer_iterations: int = 10,
              median_filtering: int = 5, jit_compile: bool = False) -> tf.Tensor:
    """Forward TV-L1 optical flow from `prev` to `nxt` for a batch of grayscale frame pairs.

    Args:
        prev: float32 [N, H, W] grayscale frames in [0, 255] (numpy array or tensor; H, W static,
            both >= 3).
        nxt: float32 [N, H, W], the frames following `prev`.
        tau, lambda_, theta, num_scales, scale_step, num_warps, epsilon, inner_iterations,
            outer_iterations, median_filtering: as `cv2.optflow.DualTVL1OpticalFlow` (Tau,
            Lambda, Theta, ScalesNumber, ScaleStep, WarpingsNumber, Epsilon, InnerIterations,
            OuterIterations, MedianFiltering); the defaults are OpenCV's. `median_filtering` <= 1
            disables the filter, otherwise it must be 3 or 5 (what cv2.medianBlur takes on
            float32).
        jit_compile: compile with XLA (`tf.function(jit_compile=True)`); otherwise a TF graph.
            XLA fuses each iteration into a few kernels: use it on GPU/TPU (graph mode launches
            every op of every iteration separately); on the dev box's CPU it is also ~1.3x
            faster than graph mode, after a ~15 s compile per input shape.

    Returns:
        float32 [N, H, W, 2] flow in pixels such that prev(x, y) ~ nxt(x + flow[..., 0],
        y + flow[..., 1]); channel 0 is horizontal (x), channel 1 vertical (y).

    Called eagerly it runs a cached `tf.function` (one trace per shape and setting); called inside
    a `tf.function` it is traced into the caller's graph. Under
    `tf.config.run_functions_eagerly(True)` it runs op by op.
    """
    prev = tf.convert_to_tensor(prev, tf.float32)
    nxt = tf.convert_to_tensor(nxt, tf.float32)
    if prev.shape.rank != 3 or nxt.shape.rank != 3:
        raise ValueError(f"prev and nxt must be [N, H, W]; got prev {prev.shape}, nxt {nxt.shape}")
    if not prev.shape.is_compatible_with(nxt.shape):
        raise ValueError(f"prev {prev.shape} and nxt {nxt.shape} must have the same shape")
    height, width = prev.shape[1], prev.shape[2]
    if height is None or width is None or height < 3 or width < 3:
        raise ValueError(f"prev/nxt need static H, W >= 3; got {prev.shape}")
    if median_filtering > 1 and median_filtering not in (3, 5):
        raise ValueError(f"median_filtering must be <= 1 (off), 3 or 5; got {median_filtering}")
    if not 0.0 < scale_step < 1.0:
        raise ValueError(f"scale_step must be in (0, 1); got {scale_step}")
    if num_scales < 1 or num_warps < 1 or inner_iterations < 1 or outer_iterations < 1:
        raise ValueError("num_scales, num_warps, inner_iterations, outer_iterations must be >= 1; "
                         f"got {num_scales}, {num_warps}, {inner_iterations}, {outer_iterations}")
    if theta <= 0.0:
        raise ValueError(f"theta must be > 0; got {theta}")
    return _compiled(bool(jit_compile))(
        prev, nxt, tau=float(tau), lambda_=float(lambda_), theta=float(theta),
        num_scales=int(num_scales), scale_step=float(scale_step), num_warps=int(num_warps),
        epsilon=float(epsilon), inner_iterations=int(inner_iterations),
        outer_iterations=int(outer_iterations), median_filtering=int(median_filtering))


def flow_agreement(reference: np.ndarray, flow: np.ndarray) -> dict[str, float]:
    """How closely `flow` matches `reference` (e.g. OpenCV's TV-L1), both [..., H, W, 2] pixels.

    Returns mean end-point error `epe` (mean over pixels of |flow - reference|, px), the Pearson
    correlation of each component over all pixels (`corr_x`, `corr_y`), and the reference's mean
    flow magnitude `reference_magnitude` (px) for scale.
    """
    reference = np.asarray(reference, np.float64)
    flow = np.asarray(flow, np.float64)
    if reference.shape != flow.shape or reference.shape[-1] != 2:
        raise ValueError(f"reference {reference.shape} and flow {flow.shape} must both be "
                         "[..., H, W, 2]")
    corr = [float(np.corrcoef(reference[..., c].ravel(), flow[..., c].ravel())[0, 1])
            for c in (0, 1)]
    return {
        "epe": float(np.linalg.norm(flow - reference, axis=-1).mean()),
        "corr_x": corr[0],
        "corr_y": corr[1],
        "reference_magnitude": float(np.linalg.norm(reference, axis=-1).mean()),
    }
