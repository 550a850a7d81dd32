"""Whole-video evaluation over shards, reports, splits (kinetics_i3d.serve.evaluate)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kinetics_i3d import mediasequence as ms
from kinetics_i3d.checkpoints import export_released, write_checkpoint
from kinetics_i3d.checkpoints.run import load_trained_model
from kinetics_i3d.ingest.sequence import make_sequence_example
from kinetics_i3d.serve import evaluate, metrics
from kinetics_i3d.serve.chunked import ChunkedI3D
from kinetics_i3d.serve.streams import ClassCountError, load_stream

NAMES = ["a", "b", "c", "d"]


def _shard(path, videos):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for media_id, label, rgb, flow in videos:
            ex = make_sequence_example(rgb, flow, fps=25.0, label_index=label,
                                       label_string=NAMES[label], media_id=media_id)
            writer.write(ex.SerializeToString())
    return str(path)


@pytest.fixture(scope="module")
def two_stream(tmp_path_factory):
    tf.keras.utils.set_random_seed(7)
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    videos = []
    for i, (n, label) in enumerate([(10, 0), (12, 2), (6, 1)]):  # the last is shorter than 9
        rgb = rng.integers(0, 256, (n, 224, 240, 3)).astype(np.uint8)
        flow = rng.normal(0, 3, (n - 1, 224, 240, 2)).astype(np.float32)
        videos.append((f"video_{i}", label, rgb, flow))
    models = {"rgb": load_stream("rgb", None, 4), "flow": load_stream("flow", None, 4)}
    return {"root": root, "shard": _shard(root / "test.tfrecord", videos), "models": models}


def test_abstract_iterable_and_fusion(two_stream):
    # Any iterable of TestVideo works; fused logits are the sum of the streams' single passes.
    models = two_stream["models"]
    rng = np.random.default_rng(1)
    frames = {"rgb": rng.uniform(-1, 1, (9, 224, 224, 3)).astype(np.float32),
              "flow": rng.uniform(-1, 1, (8, 224, 224, 2)).astype(np.float32)}
    videos = [evaluate.TestVideo("x", 3, frames)]
    runners = {m: ChunkedI3D(model) for m, model in models.items()}
    result = evaluate.evaluate(evaluate.whole_video_predictions(videos, runners), NAMES)
    looped_flow = evaluate.loop_to(videos[0].frames["flow"], 9)
    assert looped_flow.shape[0] == 9 and np.array_equal(looped_flow[8], looped_flow[0])
    rgb = models["rgb"](videos[0].frames["rgb"][None], training=False).numpy()[0]
    flow = models["flow"](looped_flow[None], training=False).numpy()[0]
    tol = 1e-5 * max(1.0, float(np.abs(rgb).max() + np.abs(flow).max()))
    np.testing.assert_allclose(result.stream_logits["rgb"][0], rgb, atol=tol)
    np.testing.assert_allclose(result.logits[0], rgb + flow, atol=tol)
    # A stream streamed as (frames, T) gives the same logits as the array.
    streamed = [evaluate.TestVideo("x", 3, {"rgb": (iter(frames["rgb"]), 9)})]
    (prediction,) = evaluate.whole_video_predictions(streamed, {"rgb": runners["rgb"]})
    np.testing.assert_allclose(prediction.logits, result.stream_logits["rgb"][0], atol=tol)
    assert prediction.stream_logits.keys() == {"rgb"} and not prediction.looped


@pytest.mark.slow  # 224 px, two streams, a subprocess
def test_tool_on_shards_writes_reports(two_stream, tmp_path):
    models = two_stream["models"]
    ckpts = {}
    for m, model in models.items():
        ckpts[m] = write_checkpoint(export_released(model), str(tmp_path / m / "model.ckpt"))
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "evaluate.py"),
           f"--shards={two_stream['shard']}",
           f"--rgb_checkpoint={ckpts['rgb']}", f"--flow_checkpoint={ckpts['flow']}",
           f"--label_map={label_map}", f"--output_dir={out}"]
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in open(out / "predictions.jsonl")]
    assert [r["media_id"] for r in records] == ["video_0", "video_1", "video_2"]
    assert [r["label"] for r in records] == [0, 2, 1]
    assert records[2]["looped"] and not records[0]["looped"]
    assert records[1]["num_frames"] == {"rgb": 12, "flow": 11}
    saved = np.load(out / "logits.npz")
    np.testing.assert_allclose(saved["logits"], saved["rgb_logits"] + saved["flow_logits"],
                               rtol=1e-6, atol=1e-6)
    # Per video and stream, the models run here on the shard's frames decoded and preprocessed
    # by this test: 224x240 -> 256x274 (bilinear), centre crop at (16, 25), [-1, 1]; flow
    # displacements x 274/240 in x and 256/224 in y, clipped; videos under 9 frames looped.
    for v, record in enumerate(tf.data.TFRecordDataset(two_stream["shard"])):
        example = tf.train.SequenceExample.FromString(record.numpy())
        lists = example.feature_lists.feature_list
        for m, key in (("rgb", ms.IMAGE_ENCODED), ("flow", ms.FLOW_ENCODED)):
            frames = np.stack([tf.io.decode_image(f.bytes_list.value[0], 3).numpy()
                               for f in lists[key].feature]).astype(np.float32)
            if m == "rgb":
                x = frames / 127.5 - 1.0
            else:
                x = frames[..., :2] / 127.5 - 1.0
            x = tf.image.resize(x, (256, 274), method="bilinear").numpy()
            if m == "flow":
                x = np.clip(x * [274 / 240, 256 / 224], -1.0, 1.0)
            x = x[:, 16:240, 25:249]
            x = x[np.arange(max(len(x), 9)) % len(x)]
            want = models[m](x[None].astype(np.float32), training=False).numpy()[0]
            np.testing.assert_allclose(saved[f"{m}_logits"][v], want,
                                       atol=1e-4 * max(1.0, float(np.abs(want).max())),
                                       err_msg=f"video {v} {m}")
    expected = metrics.compute_metrics(saved["logits"], np.array([0, 2, 1]))
    summary = json.load(open(out / "metrics.json"))
    assert summary["top1"] == pytest.approx(expected.top1)
    assert summary["mean_class_accuracy"] == pytest.approx(expected.mean_class_accuracy)
    names, confusion = metrics.read_confusion_csv(str(out / "confusion.csv"))
    assert names == NAMES and confusion.sum() == 3
    assert (out / "confusion.png").stat().st_size > 0
    # Wrong class count: a label map of 5 names for 4-class checkpoints is a clear error.
    label_map.write_text("\n".join(NAMES + ["e"]) + "\n")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "has 5 names; the model has 4 classes" in proc.stderr


def test_run_splits_averages(tmp_path):
    rng = np.random.default_rng(2)
    for split, labels in (("1", [0, 1]), ("2", [3])):
        _shard(tmp_path / f"test_split{split}.tfrecord",
               [(f"s{split}_{i}", label, rng.integers(0, 256, (9, 224, 224, 3)).astype(np.uint8),
                 None) for i, label in enumerate(labels)])
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    tf.keras.utils.set_random_seed(8)
    average = evaluate.run_splits(["1", "2"], str(tmp_path / "test_split{split}.tfrecord"),
                                  {"rgb": None}, str(tmp_path / "out"), num_classes=4,
                                  label_map=str(label_map))
    per_split = [json.load(open(tmp_path / "out" / f"split_{s}" / "metrics.json")) for s in "12"]
    assert [p["num_videos"] for p in per_split] == [2, 1]
    assert average["top1"] == pytest.approx(np.mean([p["top1"] for p in per_split]))
    assert average["top1_per_split"] == pytest.approx([p["top1"] for p in per_split])
    assert json.load(open(tmp_path / "out" / "splits.json"))["splits"] == ["1", "2"]


def test_expand_split():
    assert evaluate.expand_split("ucf/test{split}-*", "2") == "ucf/test2-*"
    with pytest.raises(ValueError, match="must contain"):
        evaluate.expand_split("ucf/test-*", "2")


# ------------------------------------------------------------------ baselines from trainer runs
BASELINE_KWARGS = {  # tiny variants; the test interfaces' layouts at 32 px
    "convnet_lstm": dict(lstm_units=16),
    "c3d": dict(frames=16, image_size=32, fc_units=16, filters=(4,) * 8),
    "two_stream": {},
    "fused_two_stream": dict(fusion_channels=8),
}
CROP = 32


def _trainer_run(name, model_dir, num_classes=4, seed=3):
    """A Trainer that saved its (untrained) weights through its own checkpoint managers."""
    from kinetics_i3d import models
    from kinetics_i3d.train import TrainConfig, Trainer

    tf.keras.utils.set_random_seed(seed)
    config = TrainConfig(model=name, model_dir=str(model_dir), train_pattern="in-memory",
                         num_classes=num_classes, lr_schedule="steps", lr_values=(0.01,),
                         eval_every=0)
    trainer = Trainer(config, model_fn=lambda c: models.build(
        name, c.num_classes, **BASELINE_KWARGS[name]))
    trainer._save(trainer.manager)
    return trainer


@pytest.fixture(scope="module")
def small_shard(tmp_path_factory):
    """3 videos at 32x40 px (short side = the 32 px crop): 30, 12 and 7 frames, RGB + flow."""
    root = tmp_path_factory.mktemp("baselines")
    rng = np.random.default_rng(5)
    videos = []
    for i, (n, label) in enumerate([(30, 1), (12, 3), (7, 1)]):
        rgb = rng.integers(0, 256, (n, CROP, 40, 3)).astype(np.uint8)
        flow = rng.normal(0, 4, (n - 1, CROP, 40, 2)).astype(np.float32)
        videos.append((f"clip_{i}", label, rgb, flow))
    return _shard(root / "test.tfrecord", videos)


@pytest.mark.parametrize("name", ["convnet_lstm", "c3d", "two_stream", "fused_two_stream"])
def test_baseline_from_trainer_model_dir(name, small_shard, tmp_path):
    # The evaluator restores the trainer's checkpoint and scores each video in the model's test
    # interface: its logits and metrics equal the trainer's own model on the same test batches.
    from kinetics_i3d.data import make_dataset

    trainer = _trainer_run(name, tmp_path / "run")
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out"
    result = evaluate.run_model_evaluation(
        name, small_shard, str(tmp_path / "run"), str(out), label_map=str(label_map),
        batch_size=2, crop_size=CROP, short_side=CROP, model_kwargs=BASELINE_KWARGS[name])
    (batch,) = make_dataset(small_shard, name, split="test", batch_size=3, num_classes=4,
                            crop_size=CROP, short_side=CROP).as_numpy_iterator()
    inputs = evaluate.model_inputs(batch, name)
    expected = trainer.model(inputs, training=False).numpy()
    assert expected.shape == (3, 4) and np.ptp(expected) > 1e-4
    tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(result.logits, expected, atol=tol)
    assert result.media_ids == ["clip_0", "clip_1", "clip_2"]
    want = metrics.compute_metrics(expected, np.array([1, 3, 1]), 4)
    summary = json.load(open(out / "metrics.json"))
    assert summary["top1"] == pytest.approx(want.top1)
    assert summary["mean_class_accuracy"] == pytest.approx(want.mean_class_accuracy)
    assert summary["model"] == name and summary["checkpoint"].endswith("ckpt-0")
    records = [json.loads(line) for line in open(out / "predictions.jsonl")]
    assert [r["label"] for r in records] == [1, 3, 1]
    assert [r["top"][0]["index"] for r in records] == list(np.argmax(expected, axis=1))
    # Spans before a video loops: ConvNet+LSTM 246 frames, C3D 240, 3D-Fused 250; Two-Stream's
    # 25 snapshots of 1 rgb + 10 flow frames overlap in videos of 11 frames and more.
    assert [r["looped"] for r in records] == (
        [False, False, True] if name == "two_stream" else [True] * 3)
    assert [r["num_frames"] for r in records] == [30, 12, 7]
    if name == "two_stream":
        per_stream = trainer.model.stream_logits(inputs, training=False)
        for m in ("rgb", "flow"):
            np.testing.assert_allclose(result.stream_logits[m], per_stream[m].numpy(), atol=tol)
        assert set(summary["streams"]) == {"rgb", "flow"}
    saved = np.load(out / "logits.npz")
    np.testing.assert_allclose(saved["logits"], result.logits)


def test_baseline_checkpoint_choice_and_errors(tmp_path):
    trainer = _trainer_run("convnet_lstm", tmp_path / "run")
    latest_bias = trainer.model.classifier.bias.numpy().copy()
    trainer.model.classifier.bias.assign(latest_bias + 1.0)
    trainer._save(trainer.best_manager)  # what a new best validation loss writes
    kwargs = BASELINE_KWARGS["convnet_lstm"]
    run = str(tmp_path / "run")
    for which, bias in (("auto", latest_bias + 1.0), ("best", latest_bias + 1.0),
                        ("latest", latest_bias)):
        model, path = load_trained_model("convnet_lstm", run, which, 4, kwargs)
        np.testing.assert_allclose(model.classifier.bias.numpy(), bias)
        assert (os.sep + ("ckpt" if which == "latest" else "best") + os.sep) in path
    with pytest.raises(FileNotFoundError, match="empty_dir"):
        load_trained_model("convnet_lstm", str(tmp_path / "empty_dir"), "auto")
    with pytest.raises(ClassCountError, match=r"run.*has 4 classes, expected 5"):
        load_trained_model("convnet_lstm", run, "auto", 5, kwargs)
    with pytest.raises(ValueError, match=r"does not match --model=convnet_lstm.*bn_lstm"):
        load_trained_model("convnet_lstm", run, "auto", 4, dict(lstm_units=8))
    with pytest.raises(ValueError, match=r"not a trainer checkpoint of --model=c3d"):
        load_trained_model("c3d", run, "latest", 4, BASELINE_KWARGS["c3d"])


def test_tool_evaluates_a_trainer_run(small_shard, tmp_path):
    # tools/evaluate.py --model=convnet_lstm --model_dir=<run>: the registry's default
    # ConvNet+LSTM, 32 px crops (the run's --crop_size), batches of 2 with a partial last one.
    from kinetics_i3d.data import make_dataset
    from kinetics_i3d.train import TrainConfig, Trainer

    tf.keras.utils.set_random_seed(4)
    run = tmp_path / "run"
    config = TrainConfig(model="convnet_lstm", model_dir=str(run), train_pattern="in-memory",
                         num_classes=4, crop_size=CROP, lr_schedule="steps", lr_values=(0.01,),
                         eval_every=0)
    trainer = Trainer(config)
    trainer._save(trainer.manager)
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "evaluate.py"), "--model=convnet_lstm",
           f"--shards={small_shard}", f"--model_dir={run}", f"--label_map={label_map}",
           f"--crop_size={CROP}", "--batch_size=2", f"--output_dir={out}"]
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (batch,) = make_dataset(small_shard, "convnet_lstm", split="test", batch_size=3,
                            num_classes=4, crop_size=CROP).as_numpy_iterator()
    expected = trainer.model(batch["rgb"], training=False).numpy()
    saved = np.load(out / "logits.npz")
    np.testing.assert_allclose(saved["logits"], expected,
                               atol=1e-4 * max(1.0, float(np.abs(expected).max())))
    summary = json.load(open(out / "metrics.json"))
    want = metrics.compute_metrics(expected, np.array([1, 3, 1]), 4)
    assert summary["top1"] == pytest.approx(want.top1)
    assert "top5" not in summary  # 4 classes: every video is in its top 5 (issue 17)
    assert summary["model"] == "convnet_lstm" and summary["model_dir"] == str(run)
    # Clear errors (the class count one: test_baseline_checkpoint_choice_and_errors): a folder
    # without a checkpoint; I3D's checkpoint flags with a baseline.
    bad = [c for c in cmd if not c.startswith("--model_dir")] + [f"--model_dir={tmp_path}/none"]
    proc = subprocess.run(bad, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and f"--model_dir='{tmp_path}/none' holds no trainer" in proc.stderr
    proc = subprocess.run(cmd + ["--rgb_checkpoint=x"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0 and (
        "--rgb_checkpoint: release-layout models only (--model=i3d/two_stream_i3d), not "
        "--model=convnet_lstm") in proc.stderr
    # Which flags apply is read from the spec: Two-Stream I3D takes both streams' checkpoints.
    i3d = [c for c in cmd if not c.startswith(("--model", "--crop_size", "--batch_size"))]
    proc = subprocess.run(i3d + ["--model=two_stream_i3d", "--rgb_checkpoint=x"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and (
        "--model=two_stream_i3d: give --flow_checkpoint") in proc.stderr
    # Two-Stream I3D also takes a trainer --model_dir, but not both routes at once, and not the
    # snapshot models' flags.
    proc = subprocess.run(cmd + ["--model=two_stream_i3d", "--rgb_checkpoint=x"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "--batch_size: snapshot models only" in proc.stderr
    both = [c for c in cmd if not c.startswith(("--model=", "--crop_size", "--batch_size"))]
    proc = subprocess.run(both + ["--model=two_stream_i3d", "--rgb_checkpoint=x"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "--model_dir (a trainer run) replaces" in proc.stderr


def test_baseline_splits_average(tmp_path):
    # --splits with a baseline: {split} in the shards and in --model_dir (one run per split).
    rng = np.random.default_rng(6)
    logits = {}
    for split, labels in (("1", [0, 2]), ("2", [3])):
        _trainer_run("c3d", tmp_path / f"run_{split}", seed=int(split))
        _shard(tmp_path / f"test_split{split}.tfrecord",
               [(f"s{split}_{i}", label, rng.integers(0, 256, (20, CROP, 40, 3)).astype(np.uint8),
                 None) for i, label in enumerate(labels)])
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    average = evaluate.run_splits(
        ["1", "2"], str(tmp_path / "test_split{split}.tfrecord"), None, str(tmp_path / "out"),
        model="c3d", model_dir=str(tmp_path / "run_{split}"), label_map=str(label_map),
        crop_size=CROP, short_side=CROP, model_kwargs=BASELINE_KWARGS["c3d"])
    for split in "12":
        out = tmp_path / "out" / f"split_{split}"
        logits[split] = np.load(out / "logits.npz")["logits"]
        assert json.load(open(out / "metrics.json"))["model_dir"] == str(tmp_path / f"run_{split}")
    per_split = [metrics.compute_metrics(logits[s], np.array(l), 4).top1
                 for s, l in (("1", [0, 2]), ("2", [3]))]
    assert logits["1"].shape == (2, 4) and logits["2"].shape == (1, 4)
    assert average["top1_per_split"] == pytest.approx(per_split)
    assert average["top1"] == pytest.approx(np.mean(per_split))


def test_results_of_other_settings_are_not_silently_replaced(tmp_path):
    """Issue #16: the settings that shape results are stored with them; a rerun into the same
    folder with other ones stops listing the differences unless overwrite."""
    from kinetics_i3d.provenance import SettingsMismatchError

    out = str(tmp_path / "eval")
    first = {"model": "i3d", "shards": "a-*.tfrecord", "top_k": 5,
             "checkpoints": {"rgb": {"path": "/ckpt/a", "size": 1, "mtime_ns": 2}}}
    second = dict(first, top_k=1, checkpoints={"rgb": {"path": "/ckpt/b", "size": 1,
                                                       "mtime_ns": 2}})
    # A run that wrote no report (failed, stopped) binds nothing: the corrected rerun goes on.
    evaluate.claim_output(out, second)
    evaluate.claim_output(out, first)
    with open(os.path.join(out, metrics.METRICS_JSON), "w") as f:  # results now exist
        json.dump({"top1": 0.5}, f)
    evaluate.claim_output(out, first)  # the same settings: fine
    with pytest.raises(SettingsMismatchError) as err:
        evaluate.claim_output(out, second)
    assert str(err.value) == (
        f"the evaluation in {out} was made with other settings (checkpoints.rgb.path: '/ckpt/a' -> "
        f"'/ckpt/b'; top_k: 5 -> 1); rerun with --overwrite to replace them, or use another "
        f"--output_dir")
    evaluate.claim_output(out, second, overwrite=True)
    with open(os.path.join(out, evaluate.SETTINGS_JSON)) as f:
        assert json.load(f)["settings"] == second


def test_two_stream_i3d_is_the_whole_video_path_with_both_streams(two_stream, tmp_path):
    # --model=two_stream_i3d: both streams through ChunkedI3D, fused by fusion.fuse_logits (the
    # sum, as TwoStreamI3D.stream_logits); one stream alone is a clear error naming the flag.
    from kinetics_i3d.errors import UserError

    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    with pytest.raises(UserError, match="needs --rgb_checkpoint and --flow_checkpoint"):
        evaluate.run_evaluation(two_stream["shard"], {"rgb": None}, str(tmp_path / "bad"),
                                model="two_stream_i3d", num_classes=4)
    with pytest.raises(UserError, match="from its trainer --model_dir"):
        evaluate.run_evaluation(two_stream["shard"], {"rgb": None}, str(tmp_path / "bad"),
                                model="c3d", num_classes=4)
    out = tmp_path / "out"
    result = evaluate.run_evaluation(two_stream["shard"], {"rgb": None, "flow": None}, str(out),
                                     model="two_stream_i3d", num_classes=4,
                                     label_map=str(label_map), max_frames=10)
    np.testing.assert_allclose(result.logits,
                               result.stream_logits["rgb"] + result.stream_logits["flow"],
                               rtol=1e-6, atol=1e-6)
    records = [json.loads(line) for line in open(out / "predictions.jsonl")]
    # max_frames=10 cuts each stream: video_1's 12 rgb / 11 flow frames to 10 and 10.
    assert [r["num_frames"] for r in records] == [{"rgb": 10, "flow": 9}, {"rgb": 10, "flow": 10},
                                                  {"rgb": 6, "flow": 5}]
    assert [r["looped"] for r in records] == [False, False, True]
    assert all(set(r["stream_top1"]) == {"rgb", "flow"} for r in records)
    settings = json.load(open(out / evaluate.SETTINGS_JSON))["settings"]
    assert settings["model"] == "two_stream_i3d" and settings["max_frames"] == 10


def test_two_stream_i3d_trainer_run_is_evaluated_from_its_model_dir(two_stream, tmp_path,
                                                                    monkeypatch):
    # A --model=two_stream_i3d run writes no release-layout checkpoint (one stream per released
    # checkpoint): evaluation restores it from --model_dir and runs its stream_networks() through
    # the whole-video path; logits equal the run's own model, stream by stream and fused.
    from kinetics_i3d.train import TrainConfig, Trainer

    tf.keras.utils.set_random_seed(11)
    run = tmp_path / "run"
    trainer = Trainer(TrainConfig(model="two_stream_i3d", model_dir=str(run),
                                  train_pattern="in-memory", num_classes=4, lr_schedule="steps",
                                  lr_values=(0.01,), eval_every=0))
    trainer._save(trainer.manager)
    label_map = tmp_path / "labels.txt"
    label_map.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "out"
    read_as, shard_videos = [], evaluate.shard_videos

    def recording(*args, **kwargs):  # the videos are read in the model's own test interface
        read_as.append(args[3] if len(args) > 3 else kwargs.get("model", "i3d"))
        return shard_videos(*args, **kwargs)

    monkeypatch.setattr(evaluate, "shard_videos", recording)
    result = evaluate.run_model_evaluation("two_stream_i3d", two_stream["shard"], str(run),
                                           str(out), label_map=str(label_map), max_frames=10)
    monkeypatch.undo()
    assert read_as == ["two_stream_i3d"]
    videos = list(evaluate.shard_videos(two_stream["shard"], ["rgb", "flow"], 10, num_classes=4))
    nets = trainer.model.stream_networks()
    for i, video in enumerate(videos):
        expected = {m: nets[m](evaluate.loop_to(video.frames[m], 9)[None],
                               training=False).numpy()[0] for m in ("rgb", "flow")}
        tol = 1e-5 * max(1.0, float(sum(np.abs(v).max() for v in expected.values())))
        for m in ("rgb", "flow"):
            np.testing.assert_allclose(result.stream_logits[m][i], expected[m], atol=tol)
        np.testing.assert_allclose(result.logits[i], expected["rgb"] + expected["flow"], atol=tol)
    settings = json.load(open(out / evaluate.SETTINGS_JSON))["settings"]
    assert settings["model"] == "two_stream_i3d" and settings["max_frames"] == 10
    assert settings["checkpoint"]["path"].endswith("ckpt-0")
    # An i3d run is read through its released/ checkpoint, not --model_dir: one line says so.
    from kinetics_i3d.errors import UserError
    with pytest.raises(UserError, match=r"released/model\.ckpt is its --rgb_checkpoint"):
        evaluate.run_model_evaluation("i3d", two_stream["shard"], str(run), str(tmp_path / "x"))


def test_shard_videos_reads_the_whole_video_models_own_interface(two_stream, monkeypatch):
    # shard_videos reads `model`'s test interface (its crop size here), not I3D's always.
    import dataclasses

    from kinetics_i3d import specs

    spec = specs.get_spec("two_stream_i3d")
    small = dataclasses.replace(spec, interface=dataclasses.replace(spec.interface, crop_size=48))
    monkeypatch.setitem(specs.SPECS, "two_stream_i3d", small)
    (video, *_) = evaluate.shard_videos(two_stream["shard"], ["rgb"], 10, "two_stream_i3d",
                                        num_classes=4)
    assert video.frames["rgb"].shape == (10, 48, 48, 3)
    (video, *_) = evaluate.shard_videos(two_stream["shard"], ["rgb"], 10, num_classes=4)
    assert video.frames["rgb"].shape == (10, 224, 224, 3)  # the default: I3D's


def test_whole_video_model_without_stream_networks_is_one_line(two_stream, tmp_path,
                                                               monkeypatch):
    # A PREDICT_WHOLE_VIDEO model runs I3D's chunked pass, one InceptionI3d per stream: a class
    # without stream_networks() is a UserError naming why (was an AttributeError), raised
    # before anything is written to the output folder.
    from kinetics_i3d.checkpoints import run
    from kinetics_i3d.errors import UserError

    class NoStreams:
        num_classes = 4

    monkeypatch.setattr(run, "load_trained_model", lambda *a, **k: (NoStreams(), "ckpt-0"))
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"^--model=two_stream_i3d: NoStreams has no "
                                        r"stream_networks\(\); whole-video prediction .*"
                                        r"ChunkedI3D.*InceptionI3d"):
        evaluate.run_model_evaluation("two_stream_i3d", two_stream["shard"], str(tmp_path),
                                      str(out))
    assert not out.exists()
