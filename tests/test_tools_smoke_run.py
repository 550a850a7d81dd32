"""A new user's first hour, as commands: the smoke ingest, a 2-step training run, then evaluate,
export and evaluate_sample on the run's `released/` checkpoint with no label-map flag; every tool
quiet on stderr (no CUDA registration lines, no OUT_OF_RANGE, no TF INFO, no escape codes).

Small: RGB only at 5 fps (no TV-L1), 9-frame clips, 2 training steps, 16 evaluated frames.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOISE = re.compile(r"cuFFT|cuDNN|cuBLAS|Unable to register|OUT_OF_RANGE|End of sequence|"
                   r"Sharding callback|unsupported characters|\x1b\[|Traceback")


def _tool(name: str, *args: str, status: int = 0) -> subprocess.CompletedProcess:
    # The user's environment: no TF_CPP_MIN_LOG_LEVEL (the package's default must do it).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, f"tools/{name}", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == status, f"{name}: {proc.stderr[-3000:]}"
    noise = [line for line in proc.stderr.splitlines() if NOISE.search(line)]
    assert not noise, f"{name} printed noise on stderr: {noise[:3]}"
    return proc


@pytest.mark.slow
def test_smoke_run_outputs_are_usable_by_every_tool(tmp_path):
    shards, model_dir = tmp_path / "shards", tmp_path / "model"
    _tool("build_tfrecords.py", "--flagfile=flags/smoke_ingest.cfg", f"--output_dir={shards}",
          "--skip_flow", "--fps=5", "--num_workers=1")
    assert (shards / "train-label_map.txt").read_text().split() == ["cycling", "talking"]

    pattern = f"{shards}/train-*.tfrecord"
    train = _tool("train.py", "--flagfile=flags/smoke.cfg", f"--train_pattern={pattern}",
                  f"--val_pattern={pattern}", f"--model_dir={model_dir}", "--train_steps=2",
                  "--num_frames=9", "--log_every=1")
    released = model_dir / "released" / "model.ckpt"
    summary = json.loads((model_dir / "train_summary.json").read_text())
    # The end report names every output; released/ holds the best validation step.
    for needle in (str(released), "label_map.txt", "best checkpoint", "tensorboard --logdir",
                   "train_summary.json"):
        assert needle in train.stdout, train.stdout
    assert summary["released_checkpoint"] == str(released)
    assert summary["released_reason"] == "best" and summary["released_step"] == 2
    assert summary["wall_seconds"] >= summary["train_seconds"] > 0
    assert (released.parent / "label_map.txt").read_text().split() == ["cycling", "talking"]
    assert "ETA" in train.stderr and "top5" not in train.stderr  # 2 classes: top-5 is always 1
    # Something is said before each slow phase: loading TF, building, compiling, the export.
    said = train.stderr.splitlines()
    assert "loading TensorFlow" in said[0] and "building i3d" in said[1], said[:3]
    assert any("compiling the training step" in line for line in said[2:5]), said[:5]
    assert any("writing the released checkpoint" in line for line in said)

    evaluation = _tool("evaluate.py", f"--shards={pattern}", f"--rgb_checkpoint={released}",
                       f"--output_dir={tmp_path / 'eval'}", "--max_frames=16")
    metrics = json.loads(evaluation.stdout.strip().splitlines()[-1])
    assert metrics["num_videos"] == 2 and "top5" not in metrics
    rows = (tmp_path / "eval" / "per_class_accuracy.csv").read_text()
    assert "cycling" in rows and "talking" in rows

    export = tmp_path / "saved_model"
    _tool("export_saved_model.py", f"--rgb_checkpoint={released}", f"--output_dir={export}")
    assert (export / "saved_model.pb").is_file()

    video = next((REPO / "examples" / "videos" / "cycling").iterdir())
    sample = _tool("evaluate_sample.py", "--eval_type=rgb", f"--rgb_checkpoint={released}",
                   f"--video={video}", "--video_frames=9")
    top = sample.stdout.strip().splitlines()[-2:]
    assert sorted(line.split()[-1] for line in top) == ["cycling", "talking"]

    # extract_features: every input failed -> exit 1, like ingest.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "clip.mp4").write_bytes(b"not a video")
    failed = _tool("extract_features.py", f"--video_dir={broken}", f"--rgb_checkpoint={released}",
                   f"--output_dir={tmp_path / 'features'}", status=1)
    assert "every video of this run failed (1)" in failed.stderr
