"""Classification metrics for whole-video evaluation (paper sec. 4-5, Tables 2-5).

Top-1 / top-5 accuracy over videos, per-class accuracy (recall of each class), mean class
accuracy (the unweighted mean of per-class accuracies over the classes that have test videos), a
confusion matrix (rows: true class, columns: predicted top-1), per-video predictions and the mean
over UCF-101/HMDB-51 splits (Table 5, "averaged over three splits"). Two-stream fusion lives in
`kinetics_i3d.fusion`.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from kinetics_i3d.errors import UserError


# k of top-k accuracy in the paper (Tables 2-4: "top-5").
DEFAULT_TOP_K = 5


def resolve_top_k(k: int | None, num_classes: int, default: int = DEFAULT_TOP_K,
                  flag: str = "top_k") -> int:
    """The one rule for a top-k `k`: None (not given) -> `default`, or the class count if fewer;
    a given k must be in [1, num_classes].

    Raises:
      UserError: `k` < 1 or > `num_classes` (one line naming `--<flag>`).
    """
    if k is None:
        return min(default, num_classes)
    if not 1 <= k <= num_classes:
        raise UserError(f"--{flag}={k}: must be in [1, {num_classes}] (the class count)")
    return int(k)


def top_k_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """`[N, K]` scores -> `[N, min(k, K)]` class indices, best first (ties: lower index first).

    Raises:
      UserError: k < 1 (a negative slice end would keep all but -k classes).
    """
    if k < 1:
        raise UserError(f"top_k={k}: must be >= 1")
    logits = np.asarray(logits)
    order = np.argsort(-logits, axis=-1, kind="stable")
    return order[..., :k]


@dataclasses.dataclass
class Metrics:
    """Results over `num_videos` videos and `num_classes` classes.

    per_class_accuracy is NaN for classes with no test video; mean_class_accuracy ignores them.
    confusion is int64 `[K, K]`, rows = true class, columns = top-1 prediction.
    `top_k_accuracy` is the top-`top_k` accuracy (k = 5 in the paper), reported as
    `top{top_k}` ("top5").
    """

    num_videos: int
    top1: float
    top_k_accuracy: float
    per_class_accuracy: np.ndarray
    mean_class_accuracy: float
    confusion: np.ndarray
    top_k: int = DEFAULT_TOP_K

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    def summary(self) -> dict[str, float]:
        """The headline numbers; `top{k}` ("top5") only when top-k says something (k < the
        class count: with 5 or fewer classes every video is in its top 5, so it is always 1)."""
        out = {"num_videos": self.num_videos, "top1": self.top1}
        if top_k_meaningful(self.top_k, self.num_classes):
            out[f"top{self.top_k}"] = self.top_k_accuracy
        out["mean_class_accuracy"] = self.mean_class_accuracy
        return out


def top_k_meaningful(k: int, num_classes: int) -> bool:
    """Whether top-`k` accuracy can differ from 1: k < the class count."""
    return k < num_classes


def compute_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int | None = None,
                    top_k: int | None = None) -> Metrics:
    """Metrics from per-video scores.

    Args:
      logits: `[N, K]` per-video logits (or probabilities; only their order matters).
      labels: `[N]` int true class indices in [0, K).
      num_classes: K (default `logits.shape[1]`).
      top_k: the "top-5" k (None: 5 as in the paper, or K if fewer); must be in [1, K].

    Raises:
      UserError: `top_k` outside [1, K] (`resolve_top_k`).
      ValueError: shapes or labels that do not fit.
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be [num_videos, num_classes], got shape {logits.shape}")
    num_classes = int(num_classes or logits.shape[1])
    if logits.shape != (len(labels), num_classes):
        raise ValueError(f"logits shape {logits.shape} does not match {len(labels)} labels and "
                         f"{num_classes} classes")
    if len(labels) == 0:
        raise ValueError("no videos to evaluate")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    top_k = resolve_top_k(top_k, num_classes)
    top = top_k_indices(logits, top_k)
    correct1 = top[:, 0] == labels
    correctk = (top == labels[:, None]).any(axis=1)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, top[:, 0]), 1)
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)
    return Metrics(
        num_videos=len(labels),
        top1=float(correct1.mean()),
        top_k_accuracy=float(correctk.mean()),
        per_class_accuracy=per_class,
        mean_class_accuracy=float(np.nanmean(per_class)),
        confusion=confusion,
        top_k=top_k,
    )


def average_splits(results: Sequence[Metrics]) -> dict[str, float]:
    """The mean of each summary number over splits (UCF-101 / HMDB-51: 3 splits, Table 5)."""
    if not results:
        raise ValueError("average_splits needs at least one split")
    summaries = [r.summary() for r in results]
    keys = [k for k in summaries[0] if k != "num_videos"]
    out = {k: float(np.mean([s[k] for s in summaries])) for k in keys}
    out["num_splits"] = len(results)
    out.update({f"{k}_per_split": [float(s[k]) for s in summaries] for k in keys})
    return out


def write_confusion_csv(confusion: np.ndarray, class_names: Sequence[str], path: str) -> None:
    """CSV with a header row `true\\predicted, <names...>` and one row per true class."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["true\\predicted", *class_names])
        for name, row in zip(class_names, confusion):
            writer.writerow([name, *(int(v) for v in row)])


def read_confusion_csv(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    return names, np.array([[int(v) for v in r[1:]] for r in rows[1:]], np.int64)


# Class names are drawn for up to this many classes (beyond, the image would be mostly text;
# confusion.csv has the names).
MAX_NAMED_CLASSES = 60
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (0, 0, 0)


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


_TITLE_H, _AXIS_H = 22, 18


def _scale(cell: int) -> float:
    return 0.45 if cell >= 16 else 0.35


def confusion_layout(num_classes: int, class_names: Sequence[str] | None = None,
                     cell: int | None = None) -> tuple[int, int, int]:
    """(top, left, cell): where `confusion_image` puts the matrix's top-left pixel, and the cell
    side in px (default: 2-64 px, about 800 px of matrix)."""
    if cell is None:
        cell = max(2, min(64, 800 // max(num_classes, 1)))
    named = class_names is not None and num_classes <= MAX_NAMED_CLASSES
    label = (max(_text_width(str(n), _scale(cell)) for n in class_names) + 8) if named else 0
    return _TITLE_H + _AXIS_H + label, max(label, 40), cell


def confusion_image(confusion: np.ndarray, class_names: Sequence[str] | None = None,
                    cell: int | None = None) -> np.ndarray:
    """A heat map of the row-normalised confusion matrix, uint8 BGR `[H, W, 3]`.

    Drawn with OpenCV (matplotlib is not a dependency): each cell is a `cell`-px square coloured
    by the fraction of the true class's videos given that prediction (colormap VIRIDIS, 0 dark
    purple, 1 yellow); rows = true class top to bottom, columns = predicted class left to right.
    With `class_names` and at most `MAX_NAMED_CLASSES` classes, rows and columns are labelled
    with the names (columns written bottom-up) and cells of 40 px or more show the fraction; the
    default cell (16-64 px, ~800 px of matrix) keeps a 2-class matrix readable.
    """
    confusion = np.asarray(confusion, np.float64)
    k = confusion.shape[0]
    top, left, cell = confusion_layout(k, class_names, cell)
    named = class_names is not None and k <= MAX_NAMED_CLASSES
    scale = _scale(cell)
    rows = confusion.sum(axis=1, keepdims=True)
    frac = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    gray = np.round(frac * 255).astype(np.uint8)
    heat = cv2.applyColorMap(np.kron(gray, np.ones((cell, cell), np.uint8)), cv2.COLORMAP_VIRIDIS)
    if cell >= 40:
        for i in range(k):
            for j in range(k):
                text = f"{frac[i, j]:.2f}"
                ink = (0, 0, 0) if gray[i, j] > 150 else (255, 255, 255)
                x = j * cell + (cell - _text_width(text, scale)) // 2
                cv2.putText(heat, text, (x, i * cell + cell // 2 + 5), _FONT, scale, ink, 1,
                            cv2.LINE_AA)
    names = [str(n) for n in class_names] if named else []
    label = top - _TITLE_H - _AXIS_H
    title = f"confusion ({k} classes, rows normalised)"
    width = max(left + heat.shape[1] + 8, _text_width(title, 0.45) + 8)
    canvas = np.full((top + heat.shape[0] + 4, width, 3), 255, np.uint8)
    canvas[top:top + heat.shape[0], left:left + heat.shape[1]] = heat
    cv2.putText(canvas, title, (4, 15), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    cv2.putText(canvas, "predicted ->", (left, _TITLE_H + 13), _FONT, 0.4, _INK, 1, cv2.LINE_AA)
    cv2.putText(canvas, "true", (2, top - 4), _FONT, 0.4, _INK, 1, cv2.LINE_AA)
    if named:
        for i, name in enumerate(names):  # row labels, right-aligned before the matrix
            y = top + i * cell + cell // 2 + 4
            cv2.putText(canvas, name, (left - 4 - _text_width(name, scale), y), _FONT, scale,
                        _INK, 1, cv2.LINE_AA)
        strip = np.full((cell * k, label, 3), 255, np.uint8)  # column labels, drawn rotated
        for j, name in enumerate(names):
            cv2.putText(strip, name, (4, j * cell + cell // 2 + 4), _FONT, scale, _INK, 1,
                        cv2.LINE_AA)
        canvas[top - label:top, left:left + cell * k] = np.rot90(strip)
    return canvas


def write_confusion_png(confusion: np.ndarray, path: str, cell: int | None = None,
                        class_names: Sequence[str] | None = None) -> None:
    if not cv2.imwrite(path, confusion_image(confusion, class_names, cell)):
        raise OSError(f"could not write confusion plot {path}")


def prediction_record(media_id: str, label: int | None, logits: np.ndarray,
                      class_names: Sequence[str], k: int = 5) -> dict:
    """One JSONL record: media id, true label (index and name), top-k (index, name, prob, logit)."""
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = top_k_indices(logits[None], k)[0]
    record = {"media_id": media_id}
    if label is not None:
        record["label"] = int(label)
        record["label_name"] = class_names[int(label)]
        record["correct_top1"] = bool(top[0] == label)
    record["top"] = [
        {"index": int(i), "name": class_names[int(i)], "probability": float(probs[i]),
         "logit": float(logits[i])}
        for i in top
    ]
    return record


METRICS_JSON = "metrics.json"  # written last of the reports' summaries: results exist


def write_report(metrics: Metrics, class_names: Sequence[str], output_dir: str,
                 extra: Mapping | None = None) -> dict[str, str]:
    """Writes `metrics.json`, `per_class_accuracy.csv`, `confusion.csv`, `confusion.png`.

    Returns {kind: path}.
    """
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "metrics": os.path.join(output_dir, METRICS_JSON),
        "per_class": os.path.join(output_dir, "per_class_accuracy.csv"),
        "confusion_csv": os.path.join(output_dir, "confusion.csv"),
        "confusion_png": os.path.join(output_dir, "confusion.png"),
    }
    summary = {**metrics.summary(), **(dict(extra) if extra else {})}
    with open(paths["metrics"], "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    support = metrics.confusion.sum(axis=1)
    with open(paths["per_class"], "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "name", "videos", "accuracy"])
        for i, name in enumerate(class_names):
            acc = metrics.per_class_accuracy[i]
            writer.writerow([i, name, int(support[i]), "" if np.isnan(acc) else f"{acc:.6f}"])
    write_confusion_csv(metrics.confusion, class_names, paths["confusion_csv"])
    write_confusion_png(metrics.confusion, paths["confusion_png"], class_names=class_names)
    return paths
