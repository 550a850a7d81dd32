"""Bad training flags fail fast, before any work, with a message naming the flag."""
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO_ROOT

from kinetics_i3d.checkpoints import write_checkpoint
from kinetics_i3d.errors import UserError
from kinetics_i3d.train import flags as train_flags
from kinetics_i3d.train.config import TrainConfig, batch_sizes, validate


@pytest.fixture()
def shard(tmp_path):
    path = tmp_path / "train-00000-of-00001.tfrecord"
    path.write_bytes(b"")
    return str(path)


def _config(shard, tmp_path, **overrides):
    values = dict(train_pattern=shard, val_pattern=shard, model_dir=str(tmp_path / "model"))
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize("overrides, message", [
    (dict(model="i3d_typo"), r"--model='i3d_typo' is not a registered architecture"),
    (dict(model="inception_v1"), r"--model='inception_v1' is not a registered architecture that "
                                 r"trains on videos; choose one of \['c3d', "),
    (dict(num_frames=16, model="two_stream"), r"--num_frames applies to I3D models"),
    (dict(train_pattern=""), r"--train_pattern is required"),
    (dict(train_pattern="/nonexistent/train-*.tfrecord"), r"--train_pattern=.* matches no file"),
    (dict(val_pattern=""), r"--val_pattern is required with --lr_schedule=plateau"),
    (dict(model_dir=""), r"--model_dir is required"),
    (dict(finetune_mode="frozen"), r"--finetune_mode='frozen'"),
    (dict(finetune_mode="fixed"), r"--finetune_mode=fixed .* needs --init_checkpoint"),
    (dict(strategy="tpu"), r"--strategy='tpu'"),
    (dict(lr_schedule="steps", lr_boundaries=(10,), lr_values=(0.1,)),
     r"--lr_values needs one more entry"),
    (dict(lr_boundaries=(10,), lr_values=(0.1, 0.01)), r"only used with --lr_schedule=steps"),
    (dict(plateau_patience=0), r"--plateau_patience must be >= 1"),
    (dict(eval_every=0), r"--eval_every must be > 0 with --lr_schedule=plateau"),
    (dict(batch_size_per_replica=0), r"--batch_size_per_replica must be > 0"),
    (dict(model="c3d", modality="flow"), r"--modality=flow applies to --model=i3d only"),
    (dict(num_frames=16, model="c3d"), r"--num_frames applies to I3D models"),
    # Crops the class cannot take (spec.crop_sizes): I3D's Logits need 193..224, C3D's fc6 112.
    (dict(model="i3d", crop_size=64), r"--crop_size=64: --model=i3d takes 193 to 224 px crops"),
    (dict(model="c3d", crop_size=32), r"--crop_size=32: --model=c3d takes 112 px crops"),
    (dict(init_checkpoint="/nonexistent/ckpt"), r"--init_checkpoint=.*no checkpoint there"),
])
def test_validate_names_the_bad_flag(shard, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        validate(_config(shard, tmp_path, **overrides))


def test_valid_config_passes(shard, tmp_path):
    validate(_config(shard, tmp_path))
    validate(_config(shard, tmp_path, lr_schedule="steps", lr_boundaries=(10, 20),
                     lr_values=(0.1, 0.01, 0.001), val_pattern="", eval_every=0))


def test_label_map_beside_the_shards_must_match_num_classes(shard, tmp_path):
    """Reviewer: the default --num_classes=400 on a 2-class dataset trained (exit 0) and the
    summary then claimed the shards had no label map; now it stops before any TF work."""
    validate(_config(shard, tmp_path, num_classes=400))  # no label map beside the shards: fine
    label_map = tmp_path / "train-label_map.txt"
    label_map.write_text("cycling\ntalking\n")
    with pytest.raises(UserError) as err:
        validate(_config(shard, tmp_path, num_classes=400))
    assert str(err.value) == (f"--num_classes=400 but the training shards' label map "
                              f"{label_map} has 2 classes; pass --num_classes=2")
    validate(_config(shard, tmp_path, num_classes=2))
    validate(_config(shard, tmp_path, num_classes=400), check_files=False)  # flagfile checks


def test_summary_says_why_no_label_map_was_copied():
    """The end-of-run report names the real reason; it said "the shards have no
    <name>-label_map.txt" when a label map existed but did not match --num_classes."""
    from kinetics_i3d.train.loop import format_summary

    base = dict(model="i3d", final_step=2, start_step=0, wall_seconds=3.0, train_seconds=2.0)
    problem = "of/train-label_map.txt has 2 classes, --num_classes=400: not copied"
    text = format_summary(dict(base, label_map=None, label_map_problem=problem))
    assert f"label map:           none ({problem}): pass --label_map" in text
    assert "the shards have no" not in text
    text = format_summary(dict(base, label_map=None, label_map_problem=None))
    assert "none (the shards have no <name>-label_map.txt)" in text


def test_init_checkpoint_may_be_a_runs_checkpoint_folder(shard, tmp_path):
    """A run's `<model_dir>/ckpt` (a folder with TF's `checkpoint` index file) is accepted; a
    folder without a checkpoint is refused naming the flag."""
    folder = tmp_path / "kinetics" / "ckpt"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError,
                       match=r"--init_checkpoint=.*ckpt'.*no checkpoint in the folder"):
        validate(_config(shard, tmp_path, init_checkpoint=str(folder)))
    (folder / "checkpoint").write_text('model_checkpoint_path: "ckpt-5"\n')
    with pytest.raises(ValueError, match=r"--init_checkpoint=.*names no checkpoint that exists"):
        validate(_config(shard, tmp_path, init_checkpoint=str(folder)))
    write_checkpoint({"w": np.zeros(2, np.float32)}, str(folder / "ckpt-5"))
    validate(_config(shard, tmp_path, init_checkpoint=str(folder), finetune_mode="fixed"))


def test_global_batch_must_divide_over_replicas(shard, tmp_path):
    assert batch_sizes(_config(shard, tmp_path, batch_size_per_replica=6), 4) == (24, 6)
    assert batch_sizes(_config(shard, tmp_path, global_batch_size=8), 2) == (8, 4)
    with pytest.raises(ValueError, match=r"--global_batch_size=5 is not divisible by the 2 "
                                         r"replicas"):
        batch_sizes(_config(shard, tmp_path, global_batch_size=5, strategy="mirrored"), 2)


def _parse(args):
    """A `TrainConfig` from command-line `args`, on a private FlagValues (no global state)."""
    from absl import flags
    flag_values = flags.FlagValues()
    train_flags.define_flags(flag_values)
    flag_values(["prog", *args])
    return train_flags.config_from_flags(flag_values)


def test_every_config_field_is_a_flag():
    config = _parse(["--lr_boundaries=10,20", "--lr_values=0.1,0.01,0.001", "--model=c3d",
                     "--batch_size_per_replica=3", "--sync_batch_norm", "--strategy=mirrored"])
    assert config.lr_boundaries == (10, 20) and config.lr_values == (0.1, 0.01, 0.001)
    assert config.model == "c3d" and config.batch_size_per_replica == 3
    assert config.sync_batch_norm and config.strategy == "mirrored"
    assert config.momentum == 0.9 and config.weight_decay == 1e-7  # release defaults
    assert _parse([]) == TrainConfig()
    with pytest.raises(ValueError, match="--lr_boundaries must be integers"):
        _parse(["--lr_boundaries=10,x"])


def _run_tool(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "train.py"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_tool_fails_fast_on_unknown_model_and_missing_flagfile(shard, tmp_path):
    model_dir = tmp_path / "model"
    result = _run_tool([f"--train_pattern={shard}", f"--val_pattern={shard}",
                        f"--model_dir={model_dir}", "--model=i3d_typo"], tmp_path)
    assert result.returncode != 0
    assert "--model='i3d_typo' is not a registered architecture" in result.stderr
    assert not model_dir.exists()  # no work done

    result = _run_tool([f"--flagfile={tmp_path / 'missing.cfg'}"], tmp_path)
    assert result.returncode != 0
    assert "missing.cfg" in result.stderr


PAPER_RUNS = sorted(p for p in (REPO_ROOT / "flags").glob("*.cfg")
                    if p.name != "release_defaults.cfg"
                    and not p.name.endswith(("_common.cfg", "_ingest.cfg")))


@pytest.mark.parametrize("path", PAPER_RUNS, ids=[p.stem for p in PAPER_RUNS])
def test_every_flagfile_parses_and_validates(path, monkeypatch):
    """Each run's flagfile (paths relative to the repository root) sets a valid configuration;
    data and checkpoint files are not checked (they are not in the repository)."""
    monkeypatch.chdir(REPO_ROOT)
    args = [f"--flagfile={path.relative_to(REPO_ROOT)}"]
    if path.name == "quickstart_finetune.cfg":  # tools/quickstart.py adds pretrained()'s prefix
        args.append("--init_checkpoint=cache/rgb_kinetics400/model.ckpt")
    config = _parse(args)
    validate(config, check_files=False)
    assert config.model_dir.startswith("runs/")
    assert config.momentum == 0.9 and config.weight_decay == 1e-7
    if path.name.startswith(("ucf101", "hmdb51")):
        assert config.num_classes == (101 if path.name.startswith("ucf101") else 51)
        assert config.finetune_mode == ("fixed" if "fixed" in path.name else "full")
        assert config.train_steps == 5000
        # Table 4 Original: ImageNet (inflated for I3D), or from scratch for the C3D-like model.
        if path.stem.endswith("_original"):
            assert bool(config.init_checkpoint) == (config.model != "c3d")
        else:
            assert config.init_checkpoint
    elif path.name == "quickstart_finetune.cfg":
        assert (config.finetune_mode, config.num_classes) == ("fixed", 2)  # examples/videos/
    elif path.name != "smoke.cfg":
        assert config.num_classes == 400 and config.train_steps == 110_000


TABLE4_ARCHITECTURES = ("convnet_lstm", "c3d", "two_stream", "fused_two_stream", "i3d_rgb",
                        "i3d_flow")


@pytest.mark.parametrize("dataset", ["ucf101", "hmdb51"])
def test_every_table4_cell_has_a_flagfile(dataset, monkeypatch):
    """Table 4: every architecture, Original / Fixed / Full-FT; the baselines' Fixed and Full-FT
    runs start from the checkpoints of their own Kinetics run (its flagfile's --model_dir)."""
    monkeypatch.chdir(REPO_ROOT)
    for arch in TABLE4_ARCHITECTURES:
        for mode in ("original", "fixed", "fullft"):
            path = REPO_ROOT / "flags" / f"{dataset}_{arch}_{mode}.cfg"
            assert path.exists(), path
            config = _parse([f"--flagfile=flags/{path.name}"])
            if arch.startswith("i3d"):
                assert (config.model, config.modality) == ("i3d", arch[len("i3d_"):])
            else:
                assert config.model == arch
            if arch.startswith("i3d") or mode == "original":
                continue
            kinetics = _parse([f"--flagfile=flags/{arch}_kinetics400.cfg"])
            assert kinetics.model == config.model
            assert config.init_checkpoint == f"{kinetics.model_dir}/ckpt"


def test_config_and_flags_import_and_validate_without_tensorflow():
    # kinetics_i3d.train loads its submodules lazily and validate() reads the model specs, not
    # the model classes: flag parsing and checking must not pay for TF's start-up (issue #14).
    code = ("import sys, kinetics_i3d.train.config, kinetics_i3d.train.flags\n"
            "from kinetics_i3d.train import TrainConfig, validate\n"
            "for model in ('i3d', 'two_stream', 'convnet_lstm'):\n"
            "    validate(TrainConfig(model=model, train_pattern='t', val_pattern='v',\n"
            "                         model_dir='m', init_checkpoint='c'), check_files=False)\n"
            "validate(TrainConfig(train_pattern='t', model_dir='m', lr_schedule='steps',\n"
            "                     lr_boundaries=(5,), lr_values=(0.1, 0.01)), check_files=False)\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_tool_trains_evaluates_and_checkpoints(tmp_path):
    """tools/train.py end to end on a shard (ConvNet+LSTM at 32 px, 2 steps of batch 2, an
    evaluation at step 2): the summary, the step-2 checkpoint with a 3-class classifier, the best
    checkpoint and the TensorBoard logs. (Resuming: test_train_loop, in-process.)"""
    import json

    import numpy as np
    import tensorflow as tf

    from kinetics_i3d.ingest.sequence import make_sequence_example
    from kinetics_i3d.checkpoints.run import CHECKPOINT_SUBDIR, checkpoint_key
    from kinetics_i3d.train.loop import SUMMARY_JSON

    rng = np.random.default_rng(0)
    shard = tmp_path / "train-00000-of-00001.tfrecord"
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for i, label in enumerate([0, 1, 2, 1]):
            rgb = rng.integers(0, 256, (12, 32, 40, 3)).astype(np.uint8)
            writer.write(make_sequence_example(rgb, None, fps=25.0, label_index=label,
                                               label_string=f"c{label}",
                                               media_id=f"v{i}").SerializeToString())
    model_dir = tmp_path / "run"
    args = [f"--train_pattern={shard}", f"--val_pattern={shard}", f"--model_dir={model_dir}",
            "--model=convnet_lstm", "--num_classes=3", "--crop_size=32",
            "--batch_size_per_replica=2", "--eval_every=2", "--eval_steps=1",
            "--checkpoint_every=2", "--log_every=1", "--lr_schedule=steps", "--lr_values=0.01",
            "--train_steps=2"]
    result = _run_tool(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((model_dir / SUMMARY_JSON).read_text())
    assert summary["model"] == "convnet_lstm" and summary["global_batch_size"] == 2
    assert summary["start_step"] == 0 and summary["final_step"] == 2
    assert summary["optimizer_iterations"] == 2 and summary["resumed"] is None
    assert summary["eval"]["examples"] == 2 and np.isfinite(summary["eval"]["loss"])
    assert np.isfinite(summary["train"]["loss"]) and summary["lr"] == pytest.approx(0.01)
    ckpt = tf.train.latest_checkpoint(str(model_dir / CHECKPOINT_SUBDIR))
    assert ckpt.endswith("ckpt-2")
    keys = tf.train.load_checkpoint(ckpt).get_variable_to_shape_map()
    assert keys[checkpoint_key("convnet_lstm/Logits/kernel")][-1] == 3  # the 3-class classifier
    assert (model_dir / "best").is_dir() and list((model_dir / "train").iterdir())
