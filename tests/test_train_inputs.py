"""The trainer's inputs: real MediaSequence shards (from the embedded clips) through
`kinetics_i3d.data`, shaped for each model, and one short training run on them."""
import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_ROOT

from kinetics_i3d.checkpoints import restore_released
from kinetics_i3d.ingest import manifests, shards
from kinetics_i3d.models import InceptionI3d
from kinetics_i3d.train import TrainConfig, Trainer
from kinetics_i3d.train.inputs import model_streams, shards_dataset_fns


@pytest.fixture(scope="module")
def shard_pattern(tmp_path_factory):
    """RGB-only shards of examples/videos (talking, cycling) at 10 fps, 64 px short side."""
    out = tmp_path_factory.mktemp("shards")
    entries = manifests.load_manifest("folder", str(REPO_ROOT / "examples" / "videos"))
    shards.build_dataset(entries, str(out), name="train", num_shards=2,
                         options=shards.IngestOptions(fps=10, short_side=64, flow=False))
    return str(out / "train-*.tfrecord")


def _config(pattern, tmp_path, **overrides):
    values = dict(model="i3d", modality="rgb", train_pattern=pattern, val_pattern=pattern,
                  num_classes=2, num_frames=9, crop_size=193, batch_size_per_replica=2,
                  model_dir=str(tmp_path / "model"), learning_rate=0.003, train_steps=2,
                  eval_every=2, eval_steps=0, checkpoint_every=2, log_every=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_i3d_train_and_val_batches(shard_pattern, tmp_path):
    train_fn, val_fn = shards_dataset_fns(_config(shard_pattern, tmp_path), global_batch=2)
    x, y = next(iter(train_fn(0)()))
    assert x.shape == (2, 9, 193, 193, 3) and x.dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    assert float(tf.math.reduce_std(x)) > 0.05  # real pixels, not padding
    assert set(y.numpy()) <= {0, 1}
    val = list(val_fn())
    assert [tuple(b[0].shape) for b in val] == [(2, 9, 193, 193, 3)]
    assert sorted(val[0][1].numpy().tolist()) == [0, 1]  # one clip of each video, one pass
    # Reseeding by the resume step changes the clips drawn (no replay after a restart).
    x_again, _ = next(iter(train_fn(0)()))
    x_resumed, _ = next(iter(train_fn(7)()))
    np.testing.assert_array_equal(x.numpy(), x_again.numpy())
    assert not np.array_equal(x.numpy(), x_resumed.numpy())


def test_baseline_streams_and_layouts(shard_pattern, tmp_path):
    config = _config(shard_pattern, tmp_path, model="c3d", num_frames=0, crop_size=0)
    assert model_streams(config) == ("rgb",)
    train_fn, _ = shards_dataset_fns(config, global_batch=2)
    x, _ = next(iter(train_fn(0)()))
    assert x.shape == (2, 16, 112, 112, 3)  # C3D's interface: 16 frames, 112 px crops
    assert model_streams(_config(shard_pattern, tmp_path, model="two_stream_i3d")) == (
        "rgb", "flow")


def test_short_run_on_shards_writes_summary_and_best_checkpoint(shard_pattern, tmp_path):
    config = _config(shard_pattern, tmp_path)
    trainer = Trainer(config)
    train_fn, val_fn = shards_dataset_fns(config, trainer.global_batch)
    summary = trainer.fit(train_fn, val_fn)
    assert summary["final_step"] == 2 and summary["eval"]["examples"] == 2
    written = json.loads((tmp_path / "model" / "train_summary.json").read_text())
    assert written["final_step"] == 2
    assert written["best_step"] == 2 and written["best_val_loss"] == pytest.approx(
        summary["eval"]["loss"])
    assert tf.train.latest_checkpoint(str(tmp_path / "model" / "best")).endswith("ckpt-2")
    events = list((tmp_path / "model" / "train").glob("events.out.tfevents.*"))
    tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(str(e))
            for v in ev.summary.value}
    assert {"loss", "top1", "top5", "lr", "steps_per_sec", "examples_per_sec"} <= tags
    # Rerunning a finished run restores it, trains nothing and keeps its summary.
    again = Trainer(config).fit(train_fn, val_fn)
    assert again["already_complete"] and again["final_step"] == 2
    assert json.loads((tmp_path / "model" / "train_summary.json").read_text()) == written
    # The final weights in the release's layout: what a fine-tuning run's --init_checkpoint takes.
    fresh = InceptionI3d(num_classes=2, modality="rgb")
    restore_released(fresh, written["released_checkpoint"])
    for a, b in zip(fresh.weights, trainer.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
