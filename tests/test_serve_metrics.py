"""Metrics on crafted predictions vs hand-computed numbers (kinetics_i3d.serve.metrics)."""
import json

import cv2
import numpy as np
import pytest

from kinetics_i3d.errors import UserError
from kinetics_i3d.serve import metrics

# 7 classes, 7 videos; each row is the ranking (best first) the video's logits give.
RANKINGS = [
    [0, 1, 2, 3, 4, 5, 6],  # label 0: top-1 right
    [1, 2, 0, 3, 4, 5, 6],  # label 0: predicted 1, true class 3rd -> top-5 right
    [1, 0, 2, 3, 4, 5, 6],  # label 1: top-1 right
    [2, 0, 3, 4, 5, 6, 1],  # label 1: predicted 2, true class last -> top-5 wrong
    [2, 0, 1, 3, 4, 5, 6],  # label 2: right
    [0, 3, 1, 2, 4, 5, 6],  # label 3: predicted 0, true class 2nd
    [2, 1, 0, 3, 4, 5, 6],  # label 2: right
]
LABELS = np.array([0, 0, 1, 1, 2, 3, 2])


def _logits(rankings):
    out = np.zeros((len(rankings), len(rankings[0])))
    for row, ranking in zip(out, rankings):
        row[ranking] = -np.arange(len(ranking), dtype=np.float64)  # best = 0, then -1, ...
    return out


def test_hand_computed_numbers():
    m = metrics.compute_metrics(_logits(RANKINGS), LABELS)
    assert m.num_videos == 7
    assert m.top1 == pytest.approx(4 / 7)
    assert m.top_k_accuracy == pytest.approx(6 / 7) and m.summary()["top5"] == m.top_k_accuracy
    # class 0: 1/2, class 1: 1/2, class 2: 2/2, class 3: 0/1; classes 4-6 have no videos.
    np.testing.assert_allclose(m.per_class_accuracy[:4], [0.5, 0.5, 1.0, 0.0])
    assert np.isnan(m.per_class_accuracy[4:]).all()
    assert m.mean_class_accuracy == pytest.approx(0.5)  # differs from top-1 (4/7)
    expected = np.zeros((7, 7), np.int64)
    for true, pred in [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (3, 0), (2, 2)]:
        expected[true, pred] += 1
    np.testing.assert_array_equal(m.confusion, expected)


def test_top_k_is_honoured():
    m = metrics.compute_metrics(_logits(RANKINGS), LABELS, top_k=2)
    # rank of the true class: 1, 3, 1, 7, 1, 2, 1 -> within 2: 5 of 7.
    assert m.top_k_accuracy == pytest.approx(5 / 7)
    # The metric is named after its k (it was always "top5", whatever k was).
    assert m.summary()["top2"] == pytest.approx(5 / 7) and "top5" not in m.summary()
    assert metrics.average_splits([m, m])["top2"] == pytest.approx(5 / 7)


@pytest.mark.parametrize("k", [0, -2])
def test_top_k_below_1_is_refused(k):
    # order[..., :-2] kept all but 2 classes: top-(-2) accuracy 1.0, exit 0.
    with pytest.raises(UserError, match=rf"--top_k={k}: must be in \[1, 7\]"):
        metrics.compute_metrics(_logits(RANKINGS), LABELS, top_k=k)
    with pytest.raises(UserError, match=rf"top_k={k}: must be >= 1"):
        metrics.top_k_indices(_logits(RANKINGS), k)


def test_top_k_above_the_class_count_is_refused_and_the_default_clamped():
    with pytest.raises(UserError, match=r"--top_k=8: must be in \[1, 7\] \(the class count\)"):
        metrics.compute_metrics(_logits(RANKINGS), LABELS, top_k=8)
    assert metrics.resolve_top_k(None, 400) == 5
    assert metrics.resolve_top_k(None, 2) == 2  # the default: 5, or the class count if fewer
    assert metrics.resolve_top_k(None, 30, default=20) == 20
    assert metrics.resolve_top_k(7, 7) == 7


def test_average_splits():
    logits = _logits(RANKINGS)
    splits = [metrics.compute_metrics(logits, LABELS),  # top-1 4/7
              metrics.compute_metrics(logits[:3], LABELS[:3]),  # top-1 2/3
              metrics.compute_metrics(logits[4:5], LABELS[4:5])]  # top-1 1
    avg = metrics.average_splits(splits)
    assert avg["num_splits"] == 3
    assert avg["top1"] == pytest.approx((4 / 7 + 2 / 3 + 1) / 3)
    assert avg["top1_per_split"] == pytest.approx([4 / 7, 2 / 3, 1.0])


def test_bad_labels_raise():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 7\)"):
        metrics.compute_metrics(_logits(RANKINGS), LABELS + 5)


def test_report_files(tmp_path):
    names = [f"class {i}" for i in range(7)]
    m = metrics.compute_metrics(_logits(RANKINGS), LABELS)
    paths = metrics.write_report(m, names, str(tmp_path), extra={"checkpoint": "x"})
    read_names, confusion = metrics.read_confusion_csv(paths["confusion_csv"])
    assert read_names == names
    np.testing.assert_array_equal(confusion, m.confusion)
    summary = json.loads(open(paths["metrics"]).read())
    assert summary["top1"] == pytest.approx(4 / 7) and summary["checkpoint"] == "x"
    image = cv2.imread(paths["confusion_png"])
    top, left, cell = metrics.confusion_layout(7, names)
    assert cell >= 40 and image.shape[0] >= top + 7 * cell and image.shape[1] >= left + 7 * cell
    # The names are drawn: dark pixels left of the matrix (row labels) and above it (columns).
    assert (image[top:top + 7 * cell, :left - 4] < 100).any()
    assert (image[top - 20:top, left:left + 7 * cell] < 100).any()

    def brightness(row, col):
        # Off the cell's centre, where the printed fraction is.
        return int(image[top + row * cell + 4, left + col * cell + 4].sum())

    # Class 2 is always right (fraction 1: bright yellow); (2, 0) never happens (dark).
    assert brightness(2, 2) > 400 and brightness(2, 0) < 200
    assert brightness(0, 0) == brightness(0, 1)  # 1/2 each


def test_prediction_record():
    logits = np.log(np.array([0.1, 0.6, 0.3]))
    rec = metrics.prediction_record("vid", 2, logits, ["a", "b", "c"], k=2)
    assert rec["media_id"] == "vid" and rec["label_name"] == "c" and not rec["correct_top1"]
    assert [t["name"] for t in rec["top"]] == ["b", "c"]
    assert rec["top"][0]["probability"] == pytest.approx(0.6)


def test_top5_is_reported_only_where_it_can_differ_from_1():
    labels = np.array([0, 1, 1])
    two = metrics.compute_metrics(np.array([[2.0, 1.0], [2.0, 1.0], [0.0, 3.0]]), labels)
    assert two.top_k == 2 and two.top_k_accuracy == 1.0
    # 2 classes: the default k is 2, and every video is in its top 2
    assert "top5" not in two.summary() and "top2" not in two.summary()
    assert two.summary()["top1"] == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    seven = metrics.compute_metrics(rng.normal(size=(3, 7)), labels)
    assert seven.summary()["top5"] == seven.top_k_accuracy
    assert "top5" not in metrics.average_splits([two, two])
