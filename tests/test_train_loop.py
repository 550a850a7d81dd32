"""The training loop: learning on real clips, Table 4 'Fixed' fine-tuning, kill-and-resume."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_ROOT, VIDEOS
from decay_model import decay_model

from kinetics_i3d import checkpoints
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest.video import read_video
from kinetics_i3d.models import InceptionI3d
from kinetics_i3d.preprocessing import network_input_rgb_tf
from kinetics_i3d.train import TrainConfig, Trainer
from kinetics_i3d.train.inputs import in_memory_dataset_fn
from kinetics_i3d.checkpoints.run import CHECKPOINT_SUBDIR, checkpoint_key
from kinetics_i3d.train.loop import SUMMARY_JSON

# The smallest real I3D: 9 frames fill the 2-step temporal head, 193 px the 7x7 spatial one.
T, S = 9, 193


def _clip_windows(path, count, rng):
    """`count` random 9-frame windows `[count, 9, 193, 193, 3]` in [-1, 1] of a real video,
    decoded at 25 fps by the ingest decoder and preprocessed the release's way (short side 193,
    centre crop)."""
    frames = network_input_rgb_tf(read_video(path, short_side=S).rgb, short_side=S,
                                  crop_size=S).numpy()
    starts = rng.choice(len(frames) - T, size=count, replace=False)
    return np.stack([frames[s:s + T] for s in starts])


def _config(tmp_path, **overrides):
    values = dict(model_dir=str(tmp_path / "model"), train_pattern="in-memory", num_classes=2,
                  batch_size_per_replica=4, train_steps=100, lr_schedule="steps",
                  lr_values=(0.01,), eval_every=0, log_every=1, dropout_rate=0.0)
    values.update(overrides)
    return TrainConfig(**values)


def test_learns_clip_identity_of_two_real_clips(tmp_path):
    """Which of two real videos a 9-frame window comes from: training accuracy goes from chance
    to (nearly) perfect and the loss falls."""
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    a = _clip_windows(VIDEOS / "carphone_pristine.mp4", 6, rng)
    b = _clip_windows(VIDEOS / "bikes.mp4", 6, rng)
    x = np.concatenate([a, b])
    y = np.array([0] * len(a) + [1] * len(b))
    trainer = Trainer(_config(tmp_path))
    iterator = iter(trainer.strategy.distribute_datasets_from_function(
        in_memory_dataset_fn(x, y, 4, seed=1)))
    outs = [trainer.train_step(iterator) for _ in range(12)]
    first = sum(o["top1"] for o in outs[:3]) / sum(o["count"] for o in outs[:3])
    last = sum(o["top1"] for o in outs[-4:]) / sum(o["count"] for o in outs[-4:])
    first_loss = np.mean([o["xent_sum"] / o["count"] for o in outs[:3]])
    last_loss = np.mean([o["xent_sum"] / o["count"] for o in outs[-4:]])
    assert last >= 0.9, (first, last, [o["top1"] for o in outs])
    assert last_loss < 0.5 * first_loss, (first_loss, last_loss)


def test_fixed_finetuning_changes_only_the_classifier(tmp_path):
    """`--finetune_mode=fixed` from a 5-class release-layout checkpoint into a 2-class model:
    the trunk is restored, the new classifier is the only thing a step changes, and BatchNorm
    moving statistics stay those of the checkpoint (frozen layers run in inference mode)."""
    keras.utils.set_random_seed(1)
    source = InceptionI3d(num_classes=5, modality="rgb")
    prefix = checkpoints.write_checkpoint(checkpoints.export_released(source),
                                          str(tmp_path / "release" / "model.ckpt"))
    config = _config(tmp_path, finetune_mode="fixed", init_checkpoint=prefix,
                     learning_rate=0.1, lr_values=(0.1,), weight_decay=1e-3, dropout_rate=0.5,
                     batch_size_per_replica=2)
    trainer = Trainer(config)
    trainer.restore_or_initialize()
    model = trainer.model
    assert trainer.init_restored == "trunk"
    classifier = model.head.logits
    assert [v.path for v in trainer.train_variables] == [v.path for v in classifier.weights]
    source_units = dict(source.named_units())
    for path, unit in model.named_units():
        if unit is not classifier:
            for mine, theirs in zip(unit.weights, source_units[path].weights):
                np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=path)
    before = {v.path: v.numpy().copy() for v in model.weights}
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, T, S, S, 3)).astype(np.float32)
    iterator = iter(trainer.strategy.distribute_datasets_from_function(
        in_memory_dataset_fn(x, np.array([0, 1]), 2)))
    trainer.train_step(iterator)
    after = {v.path: v.numpy() for v in model.weights}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert changed == {v.path for v in classifier.weights}
    assert any("moving_mean" in p for p in before)  # BN statistics were among the unchanged


CHILD = textwrap.dedent("""
    import json
    import sys
    import time
    import numpy as np
    import keras
    from absl import logging
    from kinetics_i3d.train import TrainConfig, Trainer
    from kinetics_i3d.train.inputs import in_memory_dataset_fn
    logging.set_verbosity(logging.INFO)
    keras.utils.set_random_seed(int(sys.argv[2]))  # the restart draws other initial weights
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 9, 193, 193, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    config = TrainConfig(
        model_dir=sys.argv[1], train_pattern="in-memory", val_pattern="in-memory",
        num_classes=2, batch_size_per_replica=2, train_steps=10, learning_rate=0.01,
        dropout_rate=0.0, eval_every=2, eval_steps=1, checkpoint_every=2, keep_checkpoints=10,
        log_every=1, lr_schedule="plateau", plateau_patience=1, min_delta=100.0,
        lr_drop_factor=0.1, max_lr_drops=3)


    HOLD = int(sys.argv[4]) if len(sys.argv) > 4 else 0


    class Recording(Trainer):
        # On a resume: every weight as restored (argv[3]), and the paths of those the restore
        # left at this process's own initial value (argv[3] + ".json").
        # With a step argv[4]: after saving that step's checkpoint, say so in <model_dir>.held
        # and wait there to be killed (whatever the machine's speed, the kill comes at that step).
        def _save(self, manager):
            path = super()._save(manager)
            if manager is self.manager and int(self.step.numpy()) == HOLD:
                open(sys.argv[1] + ".held", "w").close()
                time.sleep(3600)
            return path

        def restore_or_initialize(self):
            fresh = [v.numpy() for v in self.model.weights]
            step = super().restore_or_initialize()
            if self.resumed:
                np.savez(sys.argv[3], **{v.path: v.numpy() for v in self.model.weights})
                with open(sys.argv[3] + ".json", "w") as f:
                    json.dump([v.path for v, a in zip(self.model.weights, fresh)
                               if np.array_equal(v.numpy(), a)], f)
            return step

    trainer = Recording(config)
    trainer.fit(lambda start: in_memory_dataset_fn(x, y, 2, seed=start),
                in_memory_dataset_fn(x, y, 2, shuffle=False, repeat=True))
""")


def _momentum_l2(prefix):
    reader = tf.train.load_checkpoint(prefix)
    total = 0.0
    for key, shape in reader.get_variable_to_shape_map().items():
        if key.startswith("optimizer/_variables/") and shape:
            total += float(np.sum(np.square(reader.get_tensor(key))))
    return np.sqrt(total)


@pytest.mark.slow
def test_killed_run_resumes_step_lr_and_optimizer_state(tmp_path):
    """SIGKILL right after the step-4 checkpoint (the child waits there), restart (with another
    seed): the run ends at step 10 having resumed from the checkpoint's weights, step, momentum
    and plateau state. With min_delta=100 every evaluation after the first is a plateau, so the
    drops happen at steps 4, 6, 8 (max 3): the restart resumes at 0.01 * 0.1 with one drop, and
    the final rate is 0.01 * 0.1^3 only if the schedule state carried over the restart."""
    model_dir = tmp_path / "model"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    log = open(tmp_path / "first.log", "w")
    restored = tmp_path / "restored.npz"
    first = subprocess.Popen([sys.executable, str(script), str(model_dir), "0", str(restored),
                              "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    held = tmp_path / "model.held"
    for _ in range(1200):  # bounded: at most 1200 * 0.5 s
        if held.exists() or first.poll() is not None:
            break
        try:
            first.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    assert held.exists(), (tmp_path / "first.log").read_text()[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    log.close()
    assert first.returncode == -signal.SIGKILL
    assert not (model_dir / SUMMARY_JSON).exists()  # it did not finish

    second = subprocess.run([sys.executable, str(script), str(model_dir), "1", str(restored)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads((model_dir / SUMMARY_JSON).read_text())
    resumed = summary["resumed"]
    assert resumed is not None
    start = summary["start_step"]
    assert start == 4
    assert resumed["step"] == start == resumed["optimizer_iterations"]
    assert resumed["momentum_l2"] > 0
    assert resumed["momentum_l2"] == pytest.approx(_momentum_l2(resumed["checkpoint"]), rel=1e-5)
    # Every trained weight (trunk convs and BN statistics too, not only the classifier) came back
    # from the checkpoint, replacing the restart's own, differently seeded, initial values.
    weights = np.load(restored)
    reader = tf.train.load_checkpoint(resumed["checkpoint"])
    assert len(weights.files) > 200 and any("Conv3d_1a_7x7" in p for p in weights.files)
    for path in weights.files:
        np.testing.assert_array_equal(weights[path], reader.get_tensor(checkpoint_key(path)),
                                      err_msg=path)
    assert json.loads((tmp_path / "restored.npz.json").read_text()) == []
    assert resumed["schedule"]["num_drops"] == 1
    assert resumed["lr"] == pytest.approx(0.01 * 0.1, rel=1e-5)
    assert summary["final_step"] == 10 and summary["optimizer_iterations"] == 10
    assert summary["schedule"]["num_drops"] == 3
    assert summary["lr"] == pytest.approx(1e-5, rel=1e-5)
    steps = sorted(int(p.name.split("-")[1].split(".")[0])
                   for p in (model_dir / CHECKPOINT_SUBDIR).glob("ckpt-*.index"))
    assert steps[-1] == 10 and start in steps


def _tiny_model(config):
    """A small real conv net for the generic loop options (no registry entry needed)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.layers.Input((4, 8, 8, 3)),
        keras.layers.Conv3D(4, 3, name="conv"),
        keras.layers.GlobalAveragePooling3D(),
        keras.layers.Dense(config.num_classes, name="classifier"),
    ])


def _one_step(tmp_path, **overrides):
    x = np.random.default_rng(0).uniform(-1, 1, (4, 4, 8, 8, 3)).astype(np.float32)
    config = _config(tmp_path, lr_values=(0.1,), **overrides)
    trainer = Trainer(config, model_fn=_tiny_model)
    dataset = trainer.strategy.distribute_datasets_from_function(
        in_memory_dataset_fn(x, np.array([0, 1, 0, 1]), 4, shuffle=False))
    before = [w.numpy() for w in trainer.model.trainable_weights]
    trainer.train_step(iter(dataset))
    update = [w.numpy() - b for w, b in zip(trainer.model.trainable_weights, before)]
    return trainer, dataset, update


def test_jit_compile_compiles_the_step_with_the_same_update(tmp_path):
    plain, plain_ds, plain_update = _one_step(tmp_path)
    xla, xla_ds, xla_update = _one_step(tmp_path, jit_compile=True)

    def compiled(trainer, dataset):
        graph = trainer._train_fn.get_concrete_function(iter(dataset)).graph
        return any(f.attr["_XlaMustCompile"].b for f in graph.as_graph_def().library.function)

    assert compiled(xla, xla_ds) and not compiled(plain, plain_ds)
    for a, b in zip(plain_update, xla_update):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert max(float(np.abs(u).max()) for u in plain_update) > 1e-3


def test_mixed_precision_computes_in_float16_and_unscales_the_update(tmp_path):
    """float16 compute, float32 variables, loss scaling undone: the update matches float32's to
    float16 accuracy (a scaled update would be 2**15 times larger)."""
    _, _, reference = _one_step(tmp_path)
    try:
        trainer, _, update = _one_step(tmp_path, mixed_precision=True)
        assert type(trainer.optimizer).__name__ == "LossScaleOptimizer"
        assert trainer.model.layers[0].compute_dtype == "float16"
        assert all(w.dtype == "float32" for w in trainer.model.trainable_weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for a, b in zip(reference, update):
        np.testing.assert_allclose(b, a, atol=2e-3 * float(np.abs(a).max()) + 1e-5)


def test_bn_momentum_flag_sets_every_batch_norm(tmp_path):
    from kinetics_i3d.models.bn_lstm import BNLSTMCell
    from kinetics_i3d.train.loop import build_model

    def batch_norms(model):
        return [l for l in model._flatten_layers(include_self=False, recursive=True)
                if isinstance(l, (keras.layers.BatchNormalization, BNLSTMCell))]

    default = build_model(TrainConfig(model="i3d", num_classes=3))
    assert {bn.momentum for bn in batch_norms(default)} == {0.999}  # the release's decay
    model = build_model(TrainConfig(model="i3d", num_classes=3, bn_momentum=0.5))
    norms = batch_norms(model)
    assert len(norms) == 57 and {bn.momentum for bn in norms} == {0.5}
    # It is honoured: one training-mode call moves the moving mean halfway to the batch mean.
    first = model.trunk[0]
    x = tf.random.stateless_uniform([2, 9, 32, 32, 3], seed=(1, 1), minval=-1, maxval=1)
    conv_out = first.conv(x)
    model.trunk[0](x, training=True)
    batch_mean = tf.reduce_mean(conv_out, axis=[0, 1, 2, 3]).numpy()
    np.testing.assert_allclose(first.bn.moving_mean.numpy(), 0.5 * batch_mean, atol=1e-5)
    lstm = build_model(TrainConfig(model="convnet_lstm", num_classes=3, bn_momentum=0.9))
    assert any(isinstance(bn, BNLSTMCell) for bn in batch_norms(lstm))
    assert {bn.momentum for bn in batch_norms(lstm)} == {0.9}
    with pytest.raises(ValueError, match="--bn_momentum must be in"):
        from kinetics_i3d.train.config import validate

        validate(TrainConfig(model="i3d", num_classes=3, bn_momentum=1.5, model_dir=str(tmp_path),
                             train_pattern=str(tmp_path / "*.tfrecord"),
                             val_pattern=str(tmp_path / "*.tfrecord")), check_files=False)


def _small_c3d(config):
    from kinetics_i3d.models import C3D

    return C3D(num_classes=config.num_classes, frames=4, image_size=16, filters=(4,) * 8,
               fc_units=8, dropout_rate=config.dropout_rate)


def _c3d_step(trainer, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (2, 4, 16, 16, 3)).astype(np.float32)
    iterator = iter(trainer.strategy.distribute_datasets_from_function(
        in_memory_dataset_fn(x, np.array([0, 1]), 2)))
    trainer.train_step(iterator)


def test_checkpoints_hold_every_weight_and_seed_another_run(tmp_path):
    """A run's checkpoint holds all the model's weights (convs and BatchNorm statistics, not only
    the classifier) so a restart gets them back; another run (Table 4 Fixed/Full-FT of a
    baseline) starts from its `ckpt` folder: same class count restores everything, a different
    one everything but the classifier, and Fixed then changes only the classifier."""
    keras.utils.set_random_seed(3)
    source = Trainer(_config(tmp_path, model="c3d", num_classes=5, batch_size_per_replica=2,
                             model_dir=str(tmp_path / "kinetics")), model_fn=_small_c3d)
    _c3d_step(source, 0)  # BN statistics and weights move away from their initial values
    source._save(source.manager)
    trained = {v.path: v.numpy().copy() for v in source.model.weights}

    keras.utils.set_random_seed(4)  # different initial weights
    resumed = Trainer(_config(tmp_path, model="c3d", num_classes=5, batch_size_per_replica=2,
                              model_dir=str(tmp_path / "kinetics")), model_fn=_small_c3d)
    assert resumed.restore_or_initialize() == 1
    for v in resumed.model.weights:
        np.testing.assert_array_equal(v.numpy(), trained[v.path], err_msg=v.path)

    same = Trainer(_config(tmp_path, model="c3d", num_classes=5, batch_size_per_replica=2,
                           model_dir=str(tmp_path / "same"),
                           init_checkpoint=str(tmp_path / "kinetics" / CHECKPOINT_SUBDIR)),
                   model_fn=_small_c3d)
    assert same.restore_or_initialize() == 0 and same.init_restored == "all"
    for v in same.model.weights:
        np.testing.assert_array_equal(v.numpy(), trained[v.path], err_msg=v.path)

    fixed = Trainer(_config(tmp_path, model="c3d", num_classes=3, batch_size_per_replica=2,
                            model_dir=str(tmp_path / "fixed"), finetune_mode="fixed",
                            learning_rate=0.1, lr_values=(0.1,),
                            init_checkpoint=str(tmp_path / "kinetics" / CHECKPOINT_SUBDIR)),
                    model_fn=_small_c3d)
    assert fixed.restore_or_initialize() == 0 and fixed.init_restored == "trunk"
    head = {v.path for v in fixed.model.classifier.weights}
    assert head == {"c3d/fc8/kernel", "c3d/fc8/bias"}
    assert fixed.model.classifier.kernel.shape == (8, 3)
    for v in fixed.model.weights:
        if v.path not in head:
            np.testing.assert_array_equal(v.numpy(), trained[v.path], err_msg=v.path)
    assert any("moving_mean" in p for p in trained)
    before = {v.path: v.numpy().copy() for v in fixed.model.weights}
    _c3d_step(fixed, 1)
    changed = {v.path for v in fixed.model.weights
               if not np.array_equal(v.numpy(), before[v.path])}
    assert changed == head


def test_two_stream_fixed_trains_both_stream_classifiers(tmp_path):
    from kinetics_i3d.models import TwoStream2D
    from kinetics_i3d.checkpoints.run import classifier_layers

    model = TwoStream2D(num_classes=3)
    assert classifier_layers(model) == [model.rgb_classifier, model.flow_classifier]
    keras.utils.set_random_seed(5)
    source = Trainer(_config(tmp_path, model="two_stream", model_dir=str(tmp_path / "src")),
                     model_fn=lambda c: TwoStream2D(num_classes=4))
    source._save(source.manager)
    fixed = Trainer(_config(tmp_path, model="two_stream", num_classes=3, finetune_mode="fixed",
                            init_checkpoint=str(tmp_path / "src" / CHECKPOINT_SUBDIR)),
                    model_fn=lambda c: TwoStream2D(num_classes=c.num_classes))
    assert [v.path for v in fixed.train_variables] == [
        "two_stream/rgb_Logits/kernel", "two_stream/rgb_Logits/bias",
        "two_stream/flow_Logits/kernel", "two_stream/flow_Logits/bias"]
    fixed.restore_or_initialize()
    assert fixed.init_restored == "trunk"
    src = {v.path: v for v in source.model.weights}
    np.testing.assert_array_equal(fixed.model.flow_tower.weights[0].numpy(),
                                  src[fixed.model.flow_tower.weights[0].path].numpy())


def test_init_checkpoint_of_another_architecture_is_refused(tmp_path):
    keras.utils.set_random_seed(6)
    source = Trainer(_config(tmp_path, model="c3d", model_dir=str(tmp_path / "src")),
                     model_fn=_small_c3d)
    source._save(source.manager)
    other = Trainer(_config(tmp_path, model="i3d", model_dir=str(tmp_path / "other"),
                            init_checkpoint=str(tmp_path / "src" / CHECKPOINT_SUBDIR)))
    with pytest.raises(UserError, match=r"--init_checkpoint=.*has no weight 'inception_i3d/.*"
                                        r"of --model=i3d \(\d+ of \d+ missing\)"):
        other.restore_or_initialize()
    with pytest.raises(ValueError, match=r"--init_checkpoint=.*no checkpoint in the folder"):
        checkpoints.resolve_checkpoint(str(tmp_path), "init_checkpoint")


# ---------------------------------------------------------------- the rate and decay it applies
X4 = np.random.default_rng(0).uniform(-1, 1, (4, 4, 8, 8, 3)).astype(np.float32)
Y4 = np.array([0, 1, 0, 1])


def _sgd_trainer(tmp_path, **overrides):
    """Momentum 0 (plain SGD: update = -lr * gradient), no decay, the tiny conv net."""
    values = dict(momentum=0.0, weight_decay=0.0, batch_size_per_replica=4)
    values.update(overrides)
    return Trainer(_config(tmp_path, **values), model_fn=_tiny_model)


def _gradient(model):
    """Gradient of the mean cross-entropy on (X4, Y4), computed here, not by the trainer."""
    with tf.GradientTape() as tape:
        logits = model(X4, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(Y4, logits))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]


def _applied_rate(trainer, iterator):
    """One trainer step; the rate it applied, from the update of every weight (momentum 0)."""
    before = [w.numpy().copy() for w in trainer.model.trainable_weights]
    grads = _gradient(trainer.model)
    trainer.train_step(iterator)
    update = np.concatenate([(w.numpy() - b).ravel()
                             for w, b in zip(trainer.model.trainable_weights, before)])
    grad = np.concatenate([g.ravel() for g in grads])
    rate = -float(update @ grad) / float(grad @ grad)
    # float32 rounding of `w - before` is ~1e-8 on weights of O(0.5): 1e-4 of the largest step.
    np.testing.assert_allclose(update, -rate * grad, atol=1e-4 * np.abs(update).max())
    return rate


def _fixed_iterator(trainer):
    return iter(trainer.strategy.distribute_datasets_from_function(
        in_memory_dataset_fn(X4, Y4, 4, shuffle=False)))


def test_optimizer_applies_plateau_drops_and_resumes_at_the_dropped_rate(tmp_path):
    """The rate the optimizer uses (its `learning_rate` and the size of a momentum-0 SGD update)
    follows the plateau schedule: 0.1 until a drop, 0.01 after, and 0.01 after a restart."""
    config = dict(lr_schedule="plateau", learning_rate=0.1, plateau_patience=1,
                  lr_drop_factor=0.1)
    trainer = _sgd_trainer(tmp_path, **config)
    iterator = _fixed_iterator(trainer)
    assert _applied_rate(trainer, iterator) == pytest.approx(0.1, rel=1e-4)
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.1)
    trainer.schedule.update(1.0)  # first evaluation: an improvement, no drop
    assert _applied_rate(trainer, iterator) == pytest.approx(0.1, rel=1e-4)
    assert trainer.schedule.update(2.0)["dropped"]  # a plateau: x0.1
    assert _applied_rate(trainer, iterator) == pytest.approx(0.01, rel=1e-4)
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    trainer._save(trainer.manager)

    restarted = _sgd_trainer(tmp_path, **config)  # same model_dir: resumes
    assert restarted.restore_or_initialize() == 3
    assert _applied_rate(restarted, _fixed_iterator(restarted)) == pytest.approx(0.01, rel=1e-4)
    assert float(restarted.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_optimizer_applies_step_boundaries(tmp_path):
    """`--lr_boundaries=2 --lr_values=0.1,0.02`: steps 0 and 1 update at 0.1, step 2 at 0.02,
    and a restart at step 3 stays at 0.02."""
    config = dict(lr_schedule="steps", lr_boundaries=(2,), lr_values=(0.1, 0.02))
    trainer = _sgd_trainer(tmp_path, **config)
    iterator = _fixed_iterator(trainer)
    rates = [_applied_rate(trainer, iterator) for _ in range(3)]
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.02], rtol=1e-4)
    trainer._save(trainer.manager)
    restarted = _sgd_trainer(tmp_path, **config)
    assert restarted.restore_or_initialize() == 3
    assert _applied_rate(restarted, _fixed_iterator(restarted)) == pytest.approx(0.02, rel=1e-4)


def _decay_update(tmp_path, name, weight_decay):
    trainer = Trainer(_config(tmp_path, model_dir=str(tmp_path / name), momentum=0.0,
                              weight_decay=weight_decay, lr_values=(0.5,),
                              batch_size_per_replica=4), model_fn=decay_model)
    before = {w.path: w.numpy().copy() for w in trainer.model.trainable_weights}
    trainer.train_step(_fixed_iterator(trainer))
    return before, {w.path: w.numpy() - before[w.path] for w in trainer.model.trainable_weights}


def test_weight_decay_is_l2_on_kernels_only(tmp_path):
    """The decay's share of a momentum-0 step is -lr * weight_decay * w on every weight whose
    path ends in `kernel` (conv, LSTM input and recurrent, classifier) and 0 on biases, BN
    gamma/beta: the gradient of weight_decay * sum(||w||^2 / 2) (release: L2 on the kernels)."""
    weights, plain = _decay_update(tmp_path, "plain", 0.0)
    _, decayed = _decay_update(tmp_path, "decayed", 0.2)
    kernels = {p for p in weights if p.endswith("kernel")}
    assert {p.split("/")[-1] for p in kernels} == {"kernel", "recurrent_kernel"}
    assert "tiny/classifier/kernel" in kernels
    assert {p.split("/")[-1] for p in set(weights) - kernels} == {"bias", "gamma", "beta"}
    for path, w in weights.items():
        expected = -0.5 * 0.2 * w if path in kernels else np.zeros_like(w)
        np.testing.assert_allclose(decayed[path] - plain[path], expected, rtol=1e-4,
                                   atol=1e-6, err_msg=path)


# ---------------------------------------------------------------- --init_checkpoint sources
def test_init_from_a_release_checkpoint_of_the_same_class_count_restores_everything(tmp_path):
    """I3D from a release-layout checkpoint with the model's class count (a Kinetics run's
    `released/model.ckpt`, Table 4 'Original'): every weight, logits and BN statistics too."""
    keras.utils.set_random_seed(11)
    source = InceptionI3d(num_classes=3, modality="flow")
    source(np.zeros((1, T, S, S, 2), np.float32))
    for w in source.weights:  # away from any initial value, BN statistics included
        w.assign(w.numpy() + np.random.default_rng(0).uniform(0.1, 0.2, w.shape).astype(w.dtype))
    prefix = checkpoints.write_checkpoint(checkpoints.export_released(source),
                                          str(tmp_path / "release" / "model.ckpt"))
    keras.utils.set_random_seed(12)
    trainer = Trainer(_config(tmp_path, model="i3d", modality="flow", num_classes=3,
                              init_checkpoint=prefix))
    assert trainer.restore_or_initialize() == 0 and trainer.init_restored == "all"
    mine, theirs = dict(trainer.model.named_units()), dict(source.named_units())
    assert "Logits/Conv3d_0c_1x1" in mine
    for path, unit in mine.items():
        for a, b in zip(unit.weights, theirs[path].weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{path}/{a.name}")


def test_init_baselines_from_imagenet_inception_v1(tmp_path):
    """The Inception-v1 baselines start from TF-slim's ImageNet checkpoint (sec. 2.5) in every
    tower: ConvNet+LSTM's one, Two-Stream's RGB and flow towers (flow: the RGB first kernel
    averaged over colours and repeated over the 20 stacked flow channels)."""
    from kinetics_i3d.checkpoints import slim_variable_names
    from kinetics_i3d.models import InceptionV1

    keras.utils.set_random_seed(13)
    imagenet = InceptionV1()
    imagenet(np.zeros((1, 224, 224, 3), np.float32))
    rng = np.random.default_rng(1)
    for w in imagenet.weights:
        w.assign(w.numpy() + rng.uniform(0.1, 0.2, w.shape).astype(w.dtype))
    values = {n: v.numpy() for n, v in slim_variable_names(imagenet).items()}
    prefix = checkpoints.write_checkpoint(values, str(tmp_path / "slim" / "model.ckpt"))
    first = "InceptionV1/Conv2d_1a_7x7/weights"
    for name in ("convnet_lstm", "two_stream"):
        keras.utils.set_random_seed(14)
        trainer = Trainer(_config(tmp_path, model=name, num_classes=3, init_checkpoint=prefix,
                                  model_dir=str(tmp_path / name)))
        assert trainer.restore_or_initialize() == 0
        assert trainer.init_restored == "imagenet towers"
        towers = trainer.model.imagenet_towers
        assert len(towers) == (1 if name == "convnet_lstm" else 2)
        for tower in towers:
            restored = slim_variable_names(tower)
            assert len(restored) > 100
            for slim_name, var in restored.items():
                expected = values[slim_name]
                if slim_name == first and var.shape[2] != 3:  # the flow tower's 20 channels
                    expected = np.repeat(expected.mean(axis=2, keepdims=True), var.shape[2], 2)
                np.testing.assert_allclose(var.numpy(), expected, rtol=1e-6,
                                           err_msg=f"{name} {slim_name}")


def test_a_model_without_weights_once_constructed_is_one_line(tmp_path):
    # A new class that builds its layers lazily (on first call) has nothing to train or
    # checkpoint when the trainer collects its variables: one line saying what to do, not
    # zip()'s "not enough values to unpack" from the optimizer.
    class Lazy(keras.Model):
        def __init__(self, num_classes=2, **kwargs):
            super().__init__()
            self.fc = keras.layers.Dense(num_classes)

        def call(self, inputs, training=None):
            return self.fc(tf.reduce_mean(inputs, axis=[1, 2, 3]))

    with pytest.raises(ValueError, match=r"--model=i3d: Lazy has no trainable weights once "
                                         r"constructed; its __init__ must build them"):
        Trainer(_config(tmp_path), model_fn=lambda c: Lazy(c.num_classes))
