"""The trainer: a custom distributed training loop (SGD momentum, L2 weight decay, schedules).

Why a custom loop rather than `Model.fit`: the paper's schedule needs an evaluation every
`eval_every` steps whose loss drives the learning rate, and both the schedule state and the step
must be restored exactly after a kill; `--finetune_mode=fixed` trains a chosen subset of variables
with the rest in inference mode; weight decay is an L2 term on conv kernels only (release); and
`MultiWorkerMirroredStrategy` needs every worker to take part in each save. All of that is plain
code here, step by step, instead of callbacks around `fit`.

Per step (replica context): logits `[B/R, num_classes]` float32 from `model(inputs, training=True)`;
loss = sum of softmax cross-entropies / global batch + weight_decay * sum(||w||^2 / 2) / R over conv
kernels; gradients are summed over replicas by the optimizer, so the update equals a single-device
step on the global batch.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kinetics_i3d import specs
from kinetics_i3d.checkpoints.init import export_released_checkpoint, initialize_from_checkpoint
from kinetics_i3d.checkpoints.run import (  # the run format's home (read without the trainer)
    BEST_SUBDIR, CHECKPOINT_SUBDIR, MODEL_KEY, RELEASED_SUBDIR, classifier_layers, model_weights)
from kinetics_i3d.data.reader import label_errors_as_user_errors
from kinetics_i3d.models.bn_lstm import moving_statistics_layers
from kinetics_i3d.progress import format_seconds
from kinetics_i3d.train import strategy as strategy_lib
from kinetics_i3d.train.config import TrainConfig, batch_sizes
from kinetics_i3d.train.schedule import PlateauSchedule, StepSchedule

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]
SUMMARY_JSON = "train_summary.json"


def build_model(config: TrainConfig) -> keras.Model:
    """The registered architecture `--model` (its spec's class) with the flags' options
    (`config.model_options`: dropout, sync BN, I3D's modality).

    `--bn_momentum` > 0 replaces the momentum of every BatchNorm layer's moving statistics (the
    release's 0.999 needs thousands of steps before inference-mode outputs are meaningful).
    """
    options = config.model_options
    try:
        model = specs.get_spec(config.model).build(config.num_classes, **options)
    except TypeError as error:
        raise ValueError(f"--model={config.model} does not take one of the options "
                         f"{sorted(options)} ({error})") from None
    if config.bn_momentum > 0:
        for layer in moving_statistics_layers(model):
            layer.momentum = config.bn_momentum
    return model


def freeze_all_but(model: keras.Model,
                   keep: keras.layers.Layer | list[keras.layers.Layer]) -> None:
    """Sets `trainable=False` on every layer of `model` except `keep` (one layer or a list) and
    their ancestors.

    Frozen BatchNorm layers run in inference mode in Keras 3, so their moving statistics stay
    those of the pre-trained network (Table 4 'Fixed': features from Kinetics).
    """
    keep_ids = {id(layer) for layer in (keep if isinstance(keep, list) else [keep])}

    def walk(layer):
        for child in layer._flatten_layers(include_self=False, recursive=False):
            if id(child) in keep_ids:
                continue
            inner = list(child._flatten_layers(include_self=False, recursive=True))
            if any(id(sub) in keep_ids for sub in inner):
                walk(child)
            else:
                child.trainable = False
    walk(model)


def format_summary(summary: dict) -> str:
    """The end-of-run report (what `tools/train.py` prints): time, last metrics, and every output
    with how to look at it. `summary` is `Trainer.fit`'s (also `train_summary.json`)."""
    train, evaluation = summary.get("train") or {}, summary.get("eval") or {}
    lines = [f"trained {summary['model']} to step {summary['final_step']} (from "
             f"{summary['start_step']}) in {format_seconds(summary['wall_seconds'])} (training "
             f"{format_seconds(summary['train_seconds'])}, the rest writing the outputs)"]
    if train:
        lines.append(f"  last training window: loss {train['loss']:.4f}  top-1 "
                     f"{train['top1']:.3f}")
    if evaluation:
        lines.append(f"  validation at step {summary['final_step']}: loss "
                     f"{evaluation['loss']:.4f}  top-1 {evaluation['top1']:.3f}")
    released = summary.get("released_checkpoint")
    if released:
        why = (f"the best validation loss, {summary['best_val_loss']:.4f}"
               if summary.get("released_reason") == "best" else "the last step: no validation")
        lines.append(f"  released checkpoint: {released}  (step {summary['released_step']}, "
                     f"{why}; every tool loads it)")
    label_map = summary.get("released_label_map") or summary.get("label_map")
    why_none = summary.get("label_map_problem") or "the shards have no <name>-label_map.txt"
    lines.append(f"  label map:           {label_map}" if label_map else
                 f"  label map:           none ({why_none}): pass --label_map to the tools")
    if summary.get("best_checkpoint"):
        lines.append(f"  best checkpoint:     {summary['best_checkpoint']}  (step "
                     f"{summary['best_step']}, validation loss {summary['best_val_loss']:.4f})")
    if summary.get("last_checkpoint"):
        lines.append(f"  last checkpoint:     {summary['last_checkpoint']}  (resume point)")
    if summary.get("tensorboard_dir"):
        lines.append(f"  TensorBoard:         tensorboard --logdir {summary['tensorboard_dir']}")
    if summary.get("summary_json"):
        lines.append(f"  summary JSON:        {summary['summary_json']}")
    return "\n".join(lines)


def _top_k_correct(labels, logits, k):
    k = min(k, logits.shape[-1])
    return tf.reduce_sum(tf.cast(tf.math.in_top_k(tf.cast(labels, tf.int32), logits, k),
                                 tf.float32))


class Trainer:
    """Owns the model, optimizer, schedule, checkpoints and summaries of one run.

    Build it under nothing: it enters `strategy.scope()` itself. `model_fn(config)` builds the
    model (default: the registry); datasets come as functions of `tf.distribute.InputContext`
    returning per-replica batches `(inputs, labels)`: inputs as the model takes them (I3D:
    `[b, T, H, W, C]` float32 in [-1, 1]), labels `[b]` int.
    """

    def __init__(self, config: TrainConfig, strategy: tf.distribute.Strategy | None = None,
                 model_fn: Callable[[TrainConfig], keras.Model] | None = None):
        self.config = config
        self.spec = specs.get_spec(config.model)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.num_replicas = self.strategy.num_replicas_in_sync
        self.global_batch, self.per_replica_batch = batch_sizes(config, self.num_replicas)
        self.chief = strategy_lib.is_chief(self.strategy)
        multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if multi_worker and config.val_pattern and config.eval_steps == 0:
            raise ValueError("--eval_steps must be > 0 with --strategy=multi_worker (every worker "
                             "must run the same number of evaluation batches)")
        if config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        with self.strategy.scope():
            self.model = (model_fn or build_model)(config)
            self.init_restored = ""
            self.sequence_loss = self.spec.training_loss == specs.LOSS_ALL_STEPS
            if config.finetune_mode == "fixed":
                classifiers = classifier_layers(self.model)
                freeze_all_but(self.model, classifiers)
                self.train_variables = [v for layer in classifiers
                                        for v in layer.trainable_variables]
            else:
                self.train_variables = list(self.model.trainable_variables)
            if not self.train_variables:  # a class that builds its weights lazily, on first call
                raise ValueError(f"--model={config.model}: {type(self.model).__name__} has no "
                                 f"trainable weights once constructed; its __init__ must build "
                                 f"them (self.build(...)), as every registered model does")
            # Release: L2 weight decay on the convolution kernels (not on BN offsets or biases).
            self.decay_variables = [v for v in self.train_variables
                                    if v.path.endswith("kernel")]
            optimizer = keras.optimizers.SGD(learning_rate=config.learning_rate,
                                             momentum=config.momentum)
            if config.mixed_precision:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.train_variables)
            self.optimizer = optimizer
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.best_val_loss = tf.Variable(math.inf, dtype=tf.float32, trainable=False,
                                             name="best_val_loss")
            self.best_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_step")
            if config.lr_schedule == "steps":
                self.schedule = StepSchedule(config.lr_boundaries, config.lr_values)
            else:
                self.schedule = PlateauSchedule(config.learning_rate, config.lr_drop_factor,
                                                config.plateau_patience, config.min_delta,
                                                config.max_lr_drops)
        weights = model_weights(self.model)
        self.checkpoint = tf.train.Checkpoint(
            optimizer=self.optimizer, step=self.step, schedule=self.schedule,
            best_val_loss=self.best_val_loss, best_step=self.best_step, **{MODEL_KEY: weights})
        self.best_checkpoint = tf.train.Checkpoint(step=self.step, **{MODEL_KEY: weights})
        self._write_dir = self._worker_dir(config.model_dir)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self._write_dir, CHECKPOINT_SUBDIR),
            max_to_keep=config.keep_checkpoints, step_counter=self.step)
        self.best_manager = tf.train.CheckpointManager(
            self.best_checkpoint, os.path.join(self._write_dir, BEST_SUBDIR), max_to_keep=1,
            step_counter=self.step)
        self._train_fn = None
        self._eval_fn = None
        self.resumed: dict | None = None

    # ---------------------------------------------------------------- checkpoints
    def _worker_dir(self, model_dir: str) -> str:
        """Chief writes to `model_dir`; other workers take part in saves in a scratch folder."""
        if self.chief:
            return model_dir
        return os.path.join(model_dir, f".worker{strategy_lib.worker_id(self.strategy)}_scratch")

    def _save(self, manager: tf.train.CheckpointManager) -> str:
        path = manager.save(checkpoint_number=self.step)
        if not self.chief:
            tf.io.gfile.rmtree(self._write_dir)
        return path

    def momentum_l2(self) -> float:
        """L2 norm of all momentum slots (0 before the first step): shows the slots survived."""
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        slots = [v for v in getattr(inner, "momentums", []) if v is not None]
        return float(np.sqrt(sum(float(tf.reduce_sum(tf.square(v))) for v in slots)))

    def restore_or_initialize(self) -> int:
        """Resumes from the newest checkpoint in `--model_dir` (any worker reads the chief's), or
        loads `--init_checkpoint` on a fresh start. Returns the step to start from."""
        latest = tf.train.latest_checkpoint(os.path.join(self.config.model_dir, CHECKPOINT_SUBDIR))
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self.resumed = {
                "checkpoint": latest,
                "step": int(self.step.numpy()),
                "optimizer_iterations": int(self.optimizer.iterations.numpy()),
                "lr": self.schedule(int(self.step.numpy())),
                "momentum_l2": self.momentum_l2(),
                "schedule": self.schedule.state(),
            }
            logging.info("resumed from %s: step %d, optimizer iterations %d, lr %.6g, schedule %s",
                         latest, self.resumed["step"], self.resumed["optimizer_iterations"],
                         self.resumed["lr"], self.resumed["schedule"])
        elif self.config.init_checkpoint:
            with self.strategy.scope():
                self.init_restored = initialize_from_checkpoint(
                    self.model, self.config.init_checkpoint, self.spec)
        return int(self.step.numpy())

    # ---------------------------------------------------------------- steps
    def _replica_train_step(self, inputs, labels):
        config = self.config
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])

        def loss_and_grads(inputs, labels):
            with tf.GradientTape() as tape:
                if self.sequence_loss:
                    # ConvNet+LSTM (sec. 2.1): "cross-entropy losses on the outputs at all time
                    # steps", averaged over steps; accuracy from the last step, as at test.
                    steps = tf.cast(self.model(inputs, training=True, return_sequences=True),
                                    tf.float32)
                    per_step = tf.nn.sparse_softmax_cross_entropy_with_logits(
                        tf.broadcast_to(labels[:, None], tf.shape(steps)[:2]), steps)
                    xent = tf.reduce_mean(per_step, axis=1)
                    logits = steps[:, -1]
                else:
                    logits = tf.cast(self.model(inputs, training=True), tf.float32)
                    xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
                loss = tf.nn.compute_average_loss(xent, global_batch_size=self.global_batch)
                if config.weight_decay and self.decay_variables:
                    l2 = tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32))
                                   for v in self.decay_variables])
                    loss += config.weight_decay * l2 / self.num_replicas
                scaled = (self.optimizer.scale_loss(loss) if config.mixed_precision else loss)
            grads = tape.gradient(scaled, self.train_variables)
            return loss, tf.reduce_sum(xent), logits, grads

        if config.jit_compile:
            loss_and_grads = tf.function(loss_and_grads, jit_compile=True)
        loss, xent_sum, logits, grads = loss_and_grads(inputs, labels)
        self.optimizer.apply_gradients(zip(grads, self.train_variables))
        return {
            "loss": loss,
            "xent_sum": xent_sum,
            "top1": _top_k_correct(labels, logits, 1),
            "top5": _top_k_correct(labels, logits, 5),
            "count": tf.cast(tf.shape(labels)[0], tf.float32),
        }

    def _replica_eval_step(self, inputs, labels):
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        logits = tf.cast(self.model(inputs, training=False), tf.float32)
        xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return {
            "xent_sum": tf.reduce_sum(xent),
            "top1": _top_k_correct(labels, logits, 1),
            "top5": _top_k_correct(labels, logits, 5),
            "count": tf.cast(tf.shape(labels)[0], tf.float32),
        }

    def _reduce(self, per_replica: dict) -> dict:
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in per_replica.items()}

    def train_step(self, iterator) -> dict:
        """One synchronous step on the next global batch; returns summed metrics (host floats)."""
        if self._train_fn is None:
            @tf.function
            def train_fn(iterator):
                inputs, labels = next(iterator)
                out = self._reduce(self.strategy.run(self._replica_train_step,
                                                     args=(inputs, labels)))
                self.step.assign_add(1)
                return out
            self._train_fn = train_fn
        lr = self.schedule(int(self.step.numpy()))
        if abs(float(self.optimizer.learning_rate.numpy()) - lr) > 0:
            self.optimizer.learning_rate = lr
        return {k: float(v) for k, v in self._train_fn(iterator).items()}

    def evaluate(self, dataset_fn: DatasetFn, num_steps: int = 0) -> dict:
        """Mean cross-entropy and top-1/top-5 over the validation batches (`num_steps` > 0: that
        many global batches of a repeated dataset; 0: one pass)."""
        if self._eval_fn is None:
            @tf.function
            def eval_fn(inputs, labels):
                return self._reduce(self.strategy.run(self._replica_eval_step,
                                                      args=(inputs, labels)))
            self._eval_fn = eval_fn
        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        totals = {"xent_sum": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0}
        for index, (inputs, labels) in enumerate(dataset):
            if num_steps and index >= num_steps:
                break
            for key, value in self._eval_fn(inputs, labels).items():
                totals[key] += float(value)
        if totals["count"] == 0:
            raise ValueError("--val_pattern: the validation dataset produced no examples")
        n = totals["count"]
        return {"loss": totals["xent_sum"] / n, "top1": totals["top1"] / n,
                "top5": totals["top5"] / n, "examples": int(n)}

    # ---------------------------------------------------------------- the run
    def fit(self, train_dataset_fn: Callable[[int], DatasetFn],
            val_dataset_fn: DatasetFn | None = None) -> dict:
        """Trains to `--train_steps`, resuming from `--model_dir` if it holds a checkpoint.

        `train_dataset_fn(start_step)` returns the dataset function: the trainer passes the step
        it resumes from so the input order can be reseeded (tf.data cannot cheaply seek into a
        shuffled, decoded video stream; see BUILD_NOTES "Trainer").
        Returns the final summary (also written to `<model_dir>/train_summary.json`).
        """
        config = self.config
        start_step = self.restore_or_initialize()
        summary_path = os.path.join(config.model_dir, SUMMARY_JSON)
        if start_step >= config.train_steps:
            logging.info("%s is already at step %d (--train_steps=%d): nothing to train; delete "
                         "it to start over or raise --train_steps", config.model_dir, start_step,
                         config.train_steps)
            if tf.io.gfile.exists(summary_path):
                with tf.io.gfile.GFile(summary_path) as f:
                    return dict(json.load(f), already_complete=True)
            return {"final_step": start_step, "start_step": start_step, "train": {}, "eval": {},
                    "already_complete": True}
        logging.info(
            "training %s (%s, finetune_mode=%s) with %s: %d replica(s), global batch %d "
            "(%d per replica), learning rate %.6g (%s schedule), momentum %g, weight decay %g, "
            "steps %d -> %d", config.model, config.modality, config.finetune_mode,
            type(self.strategy).__name__, self.num_replicas, self.global_batch,
            self.per_replica_batch, self.schedule(start_step), config.lr_schedule,
            config.momentum, config.weight_decay, start_step, config.train_steps)
        if self.chief:
            train_writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
            eval_writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "eval"))
        else:
            train_writer = eval_writer = tf.summary.create_noop_writer()
        iterator = iter(self.strategy.distribute_datasets_from_function(
            train_dataset_fn(start_step)))
        window = {"loss": 0.0, "xent_sum": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0,
                  "steps": 0}
        # Speed and ETA come from the steps timed after the first one (compilation excluded).
        timed = {"steps": 0, "count": 0.0, "start": time.perf_counter()}
        run_start = time.perf_counter()
        last_train, last_eval = {}, {}
        step = start_step
        show_top5 = config.num_classes > 5  # with <= 5 classes top-5 is always 1
        logging.info("step %d: building the input pipeline and compiling the training step "
                     "(the first step takes longest: tracing and graph optimisation)", step + 1)
        # A shard whose label string disagrees with its label map stops here (the reader's check).
        with label_errors_as_user_errors():
            while step < config.train_steps:
                out = self.train_step(iterator)
                step = int(self.step.numpy())
                if not math.isfinite(out["loss"]):
                    raise FloatingPointError(f"training loss is {out['loss']} at step {step}; "
                                             f"lower --learning_rate?")
                for key in ("loss", "xent_sum", "top1", "top5", "count"):
                    window[key] += out[key]
                window["steps"] += 1
                if step == start_step + 1:
                    logging.info("step %d done in %.0f s (compiled); next progress line at step %d",
                                 step, time.perf_counter() - run_start,
                                 min(config.train_steps,
                                     (step // config.log_every + 1) * config.log_every))
                    timed = {"steps": 0, "count": 0.0, "start": time.perf_counter()}
                else:
                    timed["steps"] += 1
                    timed["count"] += out["count"]
                if step % config.log_every == 0 or step == config.train_steps:
                    elapsed = max(time.perf_counter() - timed["start"], 1e-9)
                    n = max(window["count"], 1.0)
                    rate = timed["steps"] / elapsed if timed["steps"] else float("nan")
                    last_train = {
                        "loss": window["loss"] / window["steps"],
                        "cross_entropy": window["xent_sum"] / n,
                        "top1": window["top1"] / n,
                        "top5": window["top5"] / n,
                        "lr": self.schedule(step - 1),
                        "steps_per_sec": rate,
                        "examples_per_sec": timed["count"] / elapsed if timed["steps"] else rate,
                    }
                    eta = (config.train_steps - step) / rate if rate > 0 else float("nan")
                    logging.info("step %d/%d  loss %.4f  top1 %.3f%s  lr %.4g  %.2f steps/s  "
                                 "%.1f examples/s  ETA %s", step, config.train_steps,
                                 last_train["loss"], last_train["top1"],
                                 f"  top5 {last_train['top5']:.3f}" if show_top5 else "",
                                 last_train["lr"], last_train["steps_per_sec"],
                                 last_train["examples_per_sec"], format_seconds(eta))
                    with train_writer.as_default(step=step):
                        for key, value in last_train.items():
                            if math.isfinite(value):
                                tf.summary.scalar(key, value)
                    window = dict.fromkeys(window, 0.0)
                    window["steps"] = 0
                    timed = {"steps": 0, "count": 0.0, "start": time.perf_counter()}
                if (val_dataset_fn is not None and config.eval_every > 0
                        and (step % config.eval_every == 0 or step == config.train_steps)):
                    last_eval = self._evaluate_and_schedule(val_dataset_fn, step, eval_writer)
                if step % config.checkpoint_every == 0 or step == config.train_steps:
                    path = self._save(self.manager)
                    logging.info("step %d: checkpoint %s", step, path)
        train_seconds = time.perf_counter() - run_start
        summary = {
            "model": config.model,
            "modality": config.modality,
            "finetune_mode": config.finetune_mode,
            "strategy": type(self.strategy).__name__,
            "num_replicas": self.num_replicas,
            "global_batch_size": self.global_batch,
            "start_step": start_step,
            "final_step": int(self.step.numpy()),
            "optimizer_iterations": int(self.optimizer.iterations.numpy()),
            "train": last_train,
            "eval": last_eval,
            "best_val_loss": (float(self.best_val_loss.numpy())
                              if self.best_step.numpy() >= 0 else None),
            "best_step": int(self.best_step.numpy()),
            "lr": self.schedule(int(self.step.numpy())),
            "schedule": self.schedule.state(),
            "resumed": self.resumed,
            "init_checkpoint": config.init_checkpoint or None,
            "init_restored": self.init_restored or None,
            "train_seconds": train_seconds,
        }
        if self.chief:
            train_writer.flush()
            eval_writer.flush()
            summary.update(self._write_outputs())
        # Wall time of the whole run: training, evaluations and every output written.
        summary["wall_seconds"] = time.perf_counter() - run_start
        if self.chief:
            summary["summary_json"] = summary_path
            with tf.io.gfile.GFile(summary_path, "w") as f:
                json.dump(summary, f, indent=2)
        return summary

    def _write_outputs(self) -> dict:
        """The run's outputs besides its checkpoints (chief only): the dataset's label map as
        `<model_dir>/label_map.txt`, and for I3D the released checkpoint
        `<model_dir>/released/model.ckpt` with the same label map beside it.

        `released/` holds the best validation step (lowest validation loss, the checkpoint in
        `best/`) when validation ran, else the last step: the tools load `released/` by default,
        and the plateau schedule's last steps can overfit (BUILD_NOTES "Trainer").
        Returns the summary entries naming them.
        """
        config = self.config
        best = self.best_manager.latest_checkpoint
        final_step = int(self.step.numpy())
        out = {"tensorboard_dir": config.model_dir,
               "last_checkpoint": self.manager.latest_checkpoint,
               "best_checkpoint": best,
               "label_map": self._copy_label_map(config.model_dir),
               "label_map_problem": self.label_map_problem}
        if not self.spec.released_export:
            out["released_checkpoint"] = None
            return out
        best_step = int(self.best_step.numpy())
        use_best = best is not None and best_step >= 0
        step = best_step if use_best else final_step
        why = ("the best validation loss" if use_best else
               "the last step (no validation ran, so there is no best step)")
        weights = model_weights(self.model)
        last_values = None
        if use_best and best_step != final_step:
            last_values = {k: v.numpy() for k, v in weights.items()}
            tf.train.Checkpoint(**{MODEL_KEY: weights}).restore(best).expect_partial()
        target = os.path.join(config.model_dir, RELEASED_SUBDIR, "model.ckpt")
        logging.info("writing the released checkpoint (step %d: %s) to %s ...", step, why, target)
        start = time.perf_counter()
        try:
            path = export_released_checkpoint(self.model, self.spec, config.model_dir)
        finally:
            if last_values is not None:  # the trainer's model keeps the last step's weights
                for key, value in last_values.items():
                    weights[key].assign(value)
        logging.info("released checkpoint written in %.0f s", time.perf_counter() - start)
        out.update(released_checkpoint=path, released_step=step,
                   released_reason="best" if use_best else "last",
                   released_label_map=self._copy_label_map(os.path.dirname(path)))
        return out

    def _copy_label_map(self, folder: str) -> str | None:
        """Copies the training shards' label map (`<name>-label_map.txt`, written by ingest) to
        `<folder>/label_map.txt`, where the tools look for it beside a checkpoint. None (logged)
        when the shards have none or it does not match `--num_classes` (`config.validate`
        refuses that for local shards; the reason is kept in `self.label_map_problem` for the
        summary)."""
        from kinetics_i3d import labels

        self.label_map_problem = None
        source = labels.dataset_label_map(sorted(tf.io.gfile.glob(self.config.train_pattern)))
        if source is None:
            logging.warning("no <name>-label_map.txt beside --train_pattern=%s (shards from an "
                            "older ingest?): tools will need --label_map for this run",
                            self.config.train_pattern)
            return None
        names = labels.load_label_map(source)
        if len(names) != self.config.num_classes:
            self.label_map_problem = (f"{source} has {len(names)} classes, --num_classes="
                                      f"{self.config.num_classes}: not copied")
            logging.warning("%s beside the checkpoints", self.label_map_problem)
            return None
        target = os.path.join(folder, labels.BESIDE_CHECKPOINT)
        tf.io.gfile.makedirs(folder)
        labels.write_label_map(target, names)
        return target

    def _evaluate_and_schedule(self, val_dataset_fn: DatasetFn, step: int, writer) -> dict:
        metrics = self.evaluate(val_dataset_fn, self.config.eval_steps)
        update = self.schedule.update(metrics["loss"])
        metrics["lr"] = self.schedule(step)
        logging.info("eval at step %d: loss %.4f  top1 %.3f%s  (%d examples)  lr %.4g%s",
                     step, metrics["loss"], metrics["top1"],
                     f"  top5 {metrics['top5']:.3f}" if self.config.num_classes > 5 else "",
                     metrics["examples"], metrics["lr"],
                     "  [learning rate dropped]" if update["dropped"] else "")
        with writer.as_default(step=step):
            for key in ("loss", "top1", "top5", "lr"):
                tf.summary.scalar(key, metrics[key])
        if metrics["loss"] < float(self.best_val_loss.numpy()):
            self.best_val_loss.assign(metrics["loss"])
            self.best_step.assign(step)
            path = self._save(self.best_manager)
            logging.info("step %d: new best validation loss %.4f, saved %s", step,
                         metrics["loss"], path)
        return metrics
