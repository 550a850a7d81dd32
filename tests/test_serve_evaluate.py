"""Whole-video evaluation over shards, reports, splits (kinetics_i3d.serve.evaluate)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from kinetics_i3d.checkpoints import export_released, write_checkpoint
from kinetics_i3d.ingest.sequence import make_sequence_example
from kinetics_i3d.serve import evaluate, metrics
from kinetics_i3d.serve.chunked import ChunkedI3D
from kinetics_i3d.serve.streams import load_stream

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
    result = evaluate.evaluate_videos(videos, runners, NAMES)
    looped_flow = evaluate.loop_to(videos[0].frames["flow"], 9)
    assert looped_flow.shape[0] == 9 and np.array_equal(looped_flow[8], looped_flow[0])
    rgb = models["rgb"](videos[0].frames["rgb"][None], training=False).numpy()[0]
    flow = models["flow"](looped_flow[None], training=False).numpy()[0]
    tol = 1e-5 * max(1.0, float(np.abs(rgb).max() + np.abs(flow).max()))
    np.testing.assert_allclose(result.stream_logits["rgb"][0], rgb, atol=tol)
    np.testing.assert_allclose(result.logits[0], rgb + flow, atol=tol)


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
    env = {"PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}
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
