"""Chunked long-video inference equals the single pass (kinetics_i3d.serve.chunked)."""
import numpy as np
import pytest
import tensorflow as tf

from kinetics_i3d.errors import UserError
from kinetics_i3d.models import InceptionI3d
from kinetics_i3d.serve import chunked

# Observed bit-exact on CPU; allow float32 summation-order noise relative to the value scale.
RTOL = 1e-5


@pytest.fixture(scope="module")
def trunk_model():
    tf.keras.utils.set_random_seed(0)
    return InceptionI3d(num_classes=5, final_endpoint="Mixed_5c")


def _frames(num_frames, size, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (num_frames, size, size, 3)).astype(np.float32)


def _max_rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_receptive_field_is_99_frames(trunk_model):
    # Conv 7 s2 (7) + 3x3x3 conv (+4) + Mixed_3b/3c (+8) + pool 3 s2 (+4) + 5 modules at jump 4
    # (+40) + pool 2 s2 (+4) + Mixed_5b/5c at jump 8 (+32) = 99.
    assert chunked.receptive_field(trunk_model) == 99
    assert chunked.total_stride(chunked.temporal_layers(trunk_model)) == 8


@pytest.mark.parametrize("num_frames", range(200, 208))  # every residue of T mod 8
def test_chunked_equals_single_pass_for_every_residue(trunk_model, num_frames):
    """T mod 8 fixes where the strided layers sample and how the last Mixed_5c step is padded:
    for each residue, chunks (some cut at both ends) give the single pass's Mixed_5c steps."""
    x = _frames(num_frames, 32, seed=num_frames)
    full = trunk_model(x[None], training=False)[0].numpy()
    runner = chunked.ChunkedI3D(trunk_model, chunk_steps=4)
    plan = runner.plan(num_frames)
    assert any(0 < c.start and c.stop < num_frames for c in plan), plan
    got = np.concatenate(list(runner.mixed_5c(iter(x), num_frames)), axis=0)
    assert got.shape == full.shape == (-(-num_frames // 8), 1, 1, 1024)
    assert _max_rel_err(got, full) <= RTOL


@pytest.mark.parametrize("num_frames,size", [(229, 64), (302, 32), (1043, 32)])
def test_chunked_mixed_5c_equals_single_pass(trunk_model, num_frames, size):
    x = _frames(num_frames, size)
    full = trunk_model(x[None], training=False)[0].numpy()
    runner = chunked.ChunkedI3D(trunk_model, chunk_steps=8)
    plan = runner.plan(num_frames)
    assert len(plan) >= 3 and any(0 < c.start and c.stop < num_frames for c in plan), plan
    shapes = []
    trunk = runner._trunk
    runner._trunk = lambda block: shapes.append(tuple(block.shape)) or trunk(block)
    frames = (f for f in x)  # a generator, not an array
    got = np.concatenate(list(runner.mixed_5c(frames, num_frames)), axis=0)
    # One input shape for the whole video (oneDNN keeps buffers per shape: BUILD_NOTES.md).
    assert len(shapes) == len(plan) and len(set(shapes)) == 1, shapes
    assert got.shape == full.shape == (-(-num_frames // 8), size // 32, size // 32, 1024)
    assert _max_rel_err(got, full) <= RTOL


@pytest.mark.parametrize("chunk_steps", [1, 4, 32])
def test_plan_is_one_chunk_length_covering_every_step(trunk_model, chunk_steps):
    """Every chunk of a video has one length (one input shape for the trunk), bounded by the
    kept steps plus the receptive field, stride-aligned; the kept steps tile [0, ceil(T/8))."""
    layers = chunked.temporal_layers(trunk_model)
    bound = chunk_steps * 8 + chunked.receptive_field(trunk_model) + 7
    for num_frames in [*range(9, 17), *range(200, 216), 353, 1043, 1988, 15000]:
        plan = chunked.plan_chunks(layers, num_frames, chunk_steps)
        lengths = {c.stop - c.start for c in plan}
        assert len(lengths) == 1 and lengths.pop() <= bound, (num_frames, plan)
        assert plan[0].keep_start == 0 and plan[-1].keep_stop == -(-num_frames // 8)
        assert plan[-1].stop == num_frames and all(c.start % 8 == 0 for c in plan)
        for a, b in zip(plan, plan[1:]):
            assert a.keep_stop == b.keep_start and a.start <= b.start
        assert all(c.keep_stop > c.keep_start for c in plan)
        assert len(plan) <= -(-plan[-1].keep_stop // chunk_steps)  # no more than s-step groups


def test_misaligned_chunk_would_differ(trunk_model):
    # Negative control: a chunk starting at a multiple of 8 but with a length not congruent to
    # T mod 4 is sampled on a different grid, so its "interior" steps do not match.
    x = _frames(230, 32)
    full = trunk_model(x[None], training=False)[0].numpy()
    part = trunk_model(x[None, 64:64 + 161], training=False)[0].numpy()  # 161 % 4 != 230 % 4
    assert _max_rel_err(part[8:12], full[16:20]) > 1e-3
    aligned = trunk_model(x[None, 64:64 + 162], training=False)[0].numpy()
    assert _max_rel_err(aligned[8:12], full[16:20]) <= RTOL


def test_pooled_features(trunk_model):
    x = _frames(80, 64, seed=1)
    full = trunk_model(x[None], training=False)[0].numpy()
    runner = chunked.ChunkedI3D(trunk_model, chunk_steps=2)
    mean = runner.pooled_features(iter(x), len(x), pooling="mean")
    series = runner.pooled_features(iter(x), len(x), pooling="time")
    np.testing.assert_allclose(mean, full.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(series, full.mean(axis=(1, 2)), rtol=1e-4, atol=1e-7)
    assert mean.shape == (1024,) and series.shape == (10, 1024)


def test_frame_count_mismatch_is_an_error(trunk_model):
    runner = chunked.ChunkedI3D(trunk_model, chunk_steps=2)
    x = _frames(40, 32)
    with pytest.raises(ValueError, match="num_frames=50"):
        list(runner.mixed_5c(iter(x), 50))
    with pytest.raises(ValueError, match="more than num_frames=30"):
        list(runner.mixed_5c(iter(x), 30))
    with pytest.raises(ValueError, match="num_frames is required"):
        list(runner.mixed_5c(iter(x)))


@pytest.mark.slow
def test_chunked_logits_equal_single_pass_at_224():
    # 200 frames -> 25 Mixed_5c steps in 4 chunks, two cut at both ends; the head's 2-step pool
    # straddles chunk borders and its mean runs over all steps of the stitched sequence.
    tf.keras.utils.set_random_seed(1)
    model = InceptionI3d(num_classes=7, dropout_rate=0.0)
    x = _frames(200, 224, seed=2)
    full = model(x[None], training=False)[0].numpy()
    runner = chunked.ChunkedI3D(model, chunk_steps=4)
    plan = runner.plan(200)
    assert len(plan) == 4 and 0 < plan[1].start and plan[1].stop < 200
    got = runner.logits((f for f in x), 200)
    assert got.shape == (7,)
    assert _max_rel_err(got, full) <= RTOL
    with pytest.raises(ValueError, match="at least 9 frames"):
        runner.logits(iter(x[:8]), 8)


def test_frames_outside_unit_range_are_a_user_error(trunk_model):
    # Feature extraction from arrays: uint8-range frames would give confident nonsense.
    runner = chunked.ChunkedI3D(trunk_model, chunk_steps=2)
    x = (_frames(16, 32) + 1.0) * 127.5
    with pytest.raises(UserError, match=r"rgb frames 0\.\.15: values in \[.*\].*x / 127.5 - 1"):
        runner.pooled_features(iter(x), len(x))
