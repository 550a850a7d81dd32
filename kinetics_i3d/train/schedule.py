"""Learning-rate schedules whose state lives in `tf.Variable`s, so it checkpoints with the model.

Two schedules:
  `PlateauSchedule`: the paper's rule (sec. 2.5, "a 10x reduction of learning rate when validation
  loss saturated"): after every evaluation, if the validation loss has not improved on the best so
  far by more than `min_delta` for `patience` evaluations in a row, multiply the rate by
  `drop_factor`, at most `max_drops` times.
  `StepSchedule`: an explicit piecewise-constant rate, `values[i]` for
  `boundaries[i-1] <= step < boundaries[i]` (the release's style of schedule).

Both are `tf.Module`s; put them in the `tf.train.Checkpoint` and the state survives a restart.
"""
from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf

from kinetics_i3d.train.config import check_plateau, check_steps  # the flag checks, TF-free


class PlateauSchedule(tf.Module):
    """Drops the learning rate when the validation loss stops improving.

    State (all `tf.Variable`, checkpointed): `learning_rate` (float32 > 0), `best_loss`
    (float32, +inf before the first evaluation), `bad_evaluations` (int64, evaluations in a row
    without an improvement larger than `min_delta`), `num_drops` (int64).
    """

    def __init__(
        self,
        initial_learning_rate: float,
        drop_factor: float = 0.1,
        patience: int = 1,
        min_delta: float = 0.0,
        max_drops: int = 3,
        name: str = "plateau_schedule",
    ):
        super().__init__(name=name)
        check_plateau(initial_learning_rate, drop_factor, patience, min_delta, max_drops)
        self.drop_factor = float(drop_factor)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.max_drops = int(max_drops)
        self.learning_rate = tf.Variable(float(initial_learning_rate), dtype=tf.float32,
                                         trainable=False, name="learning_rate")
        self.best_loss = tf.Variable(math.inf, dtype=tf.float32, trainable=False, name="best_loss")
        self.bad_evaluations = tf.Variable(0, dtype=tf.int64, trainable=False,
                                           name="bad_evaluations")
        self.num_drops = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_drops")

    def __call__(self, step=None) -> float:
        """The current learning rate (the step is not used: the rate changes on evaluations)."""
        return float(self.learning_rate.numpy())

    def update(self, val_loss: float) -> dict:
        """Records one evaluation's loss; returns `{"improved": bool, "dropped": bool, "lr"}`.

        Eager, host-side: called between training steps, once per evaluation.
        """
        val_loss = float(val_loss)
        if not math.isfinite(val_loss):
            raise ValueError(f"validation loss is not finite: {val_loss}")
        improved = val_loss < float(self.best_loss.numpy()) - self.min_delta
        dropped = False
        if improved:
            self.best_loss.assign(val_loss)
            self.bad_evaluations.assign(0)
        else:
            self.bad_evaluations.assign_add(1)
            if (int(self.bad_evaluations.numpy()) >= self.patience
                    and int(self.num_drops.numpy()) < self.max_drops):
                self.learning_rate.assign(self.learning_rate * self.drop_factor)
                self.num_drops.assign_add(1)
                self.bad_evaluations.assign(0)
                dropped = True
        return {"improved": improved, "dropped": dropped, "lr": self()}

    def state(self) -> dict:
        return {
            "lr": self(),
            "best_loss": float(self.best_loss.numpy()),
            "bad_evaluations": int(self.bad_evaluations.numpy()),
            "num_drops": int(self.num_drops.numpy()),
        }


class StepSchedule(tf.Module):
    """Piecewise-constant rate: `values[i]` while `boundaries[i-1] <= step < boundaries[i]`.

    `boundaries`: strictly increasing positive steps; `len(values) == len(boundaries) + 1`.
    Stateless apart from the step (which the trainer checkpoints), so a restart continues exactly.
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float],
                 name: str = "step_schedule"):
        super().__init__(name=name)
        boundaries, values = check_steps(boundaries, values)
        self.boundaries = boundaries
        self.values = values

    def __call__(self, step: int) -> float:
        step = int(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step < boundary:
                return value
        return self.values[-1]

    def update(self, val_loss: float) -> dict:
        """Evaluations do not change a step schedule."""
        return {"improved": False, "dropped": False, "lr": None}

    def state(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values}
