"""Learning-rate schedules: the plateau rule on scripted validation losses, restarts, steps."""
import math

import pytest
import tensorflow as tf

from kinetics_i3d.train.schedule import PlateauSchedule, StepSchedule


def _run(schedule, losses):
    """Feeds `losses`; returns the indices of evaluations that dropped the rate, and the rates."""
    drops, rates = [], []
    for i, loss in enumerate(losses):
        if schedule.update(loss)["dropped"]:
            drops.append(i)
        rates.append(schedule())
    return drops, rates


def test_plateau_drops_after_patience_evaluations_without_min_delta_improvement():
    schedule = PlateauSchedule(0.1, drop_factor=0.1, patience=2, min_delta=0.05, max_drops=5)
    # eval:   0    1     2 (+0.04: below min_delta)  3 (second bad: drop)  4 (improves)
    #         5    6 (drop)   7   8 (drop)
    losses = [2.0, 1.5, 1.46, 1.47, 1.2, 1.19, 1.25, 1.3, 1.3]
    drops, rates = _run(schedule, losses)
    assert drops == [3, 6, 8]
    expected = [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.0001]
    assert rates == pytest.approx(expected, rel=1e-6)
    assert schedule.state()["num_drops"] == 3
    assert schedule.state()["best_loss"] == pytest.approx(1.2)


def test_plateau_stops_at_max_drops():
    schedule = PlateauSchedule(1.0, drop_factor=0.5, patience=1, min_delta=0.0, max_drops=2)
    drops, rates = _run(schedule, [1.0] + [1.0] * 6)  # never improves after the first
    assert drops == [1, 2]
    assert rates[-1] == pytest.approx(0.25)
    assert schedule.state()["num_drops"] == 2


def test_plateau_state_survives_a_restart(tmp_path):
    """Half the sequence, checkpoint, a fresh schedule restored from it, the other half: the same
    drops as one uninterrupted run (the bad-evaluation counter carries over too)."""
    losses = [3.0, 2.0, 2.1, 2.2, 1.9, 1.95, 1.96, 1.97, 1.98, 1.99]
    kwargs = dict(drop_factor=0.1, patience=2, min_delta=0.0, max_drops=3)
    uninterrupted = _run(PlateauSchedule(0.1, **kwargs), losses)

    first = PlateauSchedule(0.1, **kwargs)
    drops_a, rates_a = _run(first, losses[:6])  # stops with one bad evaluation pending
    assert first.state()["bad_evaluations"] == 1
    path = tf.train.Checkpoint(schedule=first).save(str(tmp_path / "ckpt"))

    second = PlateauSchedule(0.1, **kwargs)  # built with the initial rate, then restored
    tf.train.Checkpoint(schedule=second).restore(path).assert_consumed()
    assert second.state() == first.state()
    drops_b, rates_b = _run(second, losses[6:])
    assert drops_a + [d + 6 for d in drops_b] == uninterrupted[0]
    assert rates_a + rates_b == pytest.approx(uninterrupted[1], rel=1e-6)
    assert uninterrupted[0] == [3, 6, 8]  # eval 6 drops only because the pending count survived


def test_plateau_rejects_bad_settings_naming_the_flag():
    with pytest.raises(ValueError, match="--lr_drop_factor"):
        PlateauSchedule(0.1, drop_factor=1.5)
    with pytest.raises(ValueError, match="--plateau_patience"):
        PlateauSchedule(0.1, patience=0)
    with pytest.raises(ValueError, match="not finite"):
        PlateauSchedule(0.1).update(math.nan)


def test_step_schedule_boundaries():
    schedule = StepSchedule([100, 300], [0.1, 0.01, 0.001])
    assert [schedule(s) for s in (0, 99, 100, 299, 300, 10_000)] == [0.1, 0.1, 0.01, 0.01,
                                                                      0.001, 0.001]
    with pytest.raises(ValueError, match="--lr_values needs one more"):
        StepSchedule([100], [0.1])
    with pytest.raises(ValueError, match="--lr_boundaries must be positive and strictly"):
        StepSchedule([300, 100], [0.1, 0.01, 0.001])
