"""Constructor argument checks shared by every model, with the same messages everywhere."""
from __future__ import annotations


def check_num_classes(num_classes: int) -> int:
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    return int(num_classes)


def check_dropout_rate(dropout_rate: float) -> float:
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    return float(dropout_rate)
