"""The RGB / Flow I3D streams for inference: built from released-layout checkpoints
(`load_streams`), or taken from a whole-video model (`stream_networks`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from absl import logging

from kinetics_i3d.checkpoints import load_released, read_num_classes, resolve_checkpoint
from kinetics_i3d.errors import ClassCountError, UserError  # noqa: F401  (public here too)
from kinetics_i3d.labels import default_label_map, label_map_beside, load_label_map
from kinetics_i3d.models import InceptionI3d


def load_stream(modality: str, checkpoint: str | None, num_classes: int | None = None,
                final_endpoint: str = "Logits") -> InceptionI3d:
    """An `InceptionI3d` for inference (dropout 0), restored from a release-layout checkpoint.

    Args:
      modality: "rgb" or "flow".
      checkpoint: checkpoint prefix (e.g. `.../rgb_imagenet/model.ckpt`), its `.index` / `.data-*`
        file or a checkpoint folder (`resolve_checkpoint`), or None for random weights (tests,
        benchmarks); then `num_classes` is required.
      num_classes: the expected class count; a checkpoint with another count raises
        `ClassCountError` naming both.
    """
    if checkpoint is None:
        if num_classes is None:
            raise ValueError(f"{modality}: num_classes is required without a checkpoint")
        return InceptionI3d(num_classes, modality=modality, dropout_rate=0.0,
                            final_endpoint=final_endpoint)
    checkpoint = resolve_checkpoint(checkpoint, f"{modality}_checkpoint")
    have = read_num_classes(checkpoint)
    if num_classes is not None and have != num_classes:
        raise ClassCountError(
            f"{modality} checkpoint {checkpoint!r} has {have} classes (Logits/Conv3d_0c_1x1 bias), "
            f"expected {num_classes} (label map / other stream)")
    model = load_released(checkpoint, dropout_rate=0.0, final_endpoint=final_endpoint)
    if model.modality.name != modality:
        raise UserError(f"{modality} stream: checkpoint {checkpoint!r} is a "
                         f"{model.modality.name} checkpoint")
    return model


def load_streams(checkpoints: dict[str, str | None], num_classes: int | None = None,
                 final_endpoint: str = "Logits") -> dict[str, InceptionI3d]:
    """`load_stream` for each {modality: checkpoint prefix or None}, in order.

    The streams must agree on the class count: the first stream's (or `num_classes`, when
    given) is expected of the others, and a checkpoint with another count raises
    `ClassCountError`.
    """
    models = {}
    for modality, checkpoint in checkpoints.items():
        models[modality] = load_stream(modality, checkpoint, num_classes, final_endpoint)
        num_classes = models[modality].num_classes
    return models


def check_release_checkpoints(spec, checkpoints: Mapping[str, object]) -> None:
    """Raises `UserError` unless `checkpoints` ({modality: release-layout prefix}) are the streams
    `spec` (a `kinetics_i3d.specs.ModelSpec` with `released_layout`) is built from: one or both
    with `modality_flag` (I3D), else every stream of the model (Two-Stream I3D: rgb and flow)."""
    wanted = spec.release_streams()
    if not wanted:
        if not checkpoints:
            raise UserError(f"--model={spec.name} needs --rgb_checkpoint or "
                            f"--flow_checkpoint (or both; given: none)")
        return
    if set(wanted) != set(checkpoints):
        raise UserError(f"--model={spec.name} needs --{'_checkpoint and --'.join(wanted)}"
                        f"_checkpoint (given: {sorted(checkpoints)})")


def restore_release_streams(model_name: str, checkpoints: Mapping[str, str | None],
                            num_classes: int | None = None, label_map: str | None = None
                            ) -> tuple[dict[str, InceptionI3d], str | None]:
    """A release-layout model's streams and its label map: the one restore of evaluation and
    export. `checkpoints` {modality: prefix, or None for random weights (tests)} must be the
    streams of `model_name` (`check_release_checkpoints`); `label_map` None: the `label_map.txt`
    beside the first checkpoint if any (a trainer run's released/ has one).
    Returns ({modality: InceptionI3d}, label map path or None)."""
    from kinetics_i3d import specs

    check_release_checkpoints(specs.get_spec(model_name), checkpoints)
    models = load_streams(dict(checkpoints), num_classes)
    first = next((c for c in checkpoints.values() if c), None)
    return models, label_map or (label_map_beside(first) if first else None)


def restore_run_model(model_name: str, model_dir: str, which: str = "auto",
                      label_map: str | None = None, num_classes: int | None = None,
                      model_kwargs: dict | None = None):
    """A trainer run's model and its label map: the one restore of evaluation and export.
    `label_map` None: the run's own copy (`labels.label_map_beside(model_dir)`), whose length
    is then the expected class count. Returns (model, checkpoint prefix, label map or None);
    raises as `checkpoints.run.load_trained_model`."""
    from kinetics_i3d.checkpoints.run import load_trained_model

    label_map = label_map or label_map_beside(model_dir)  # the trainer copies it there
    if num_classes is None and label_map:
        num_classes = len(load_label_map(label_map))  # build the model once, at that count
    model, path = load_trained_model(model_name, model_dir, which, num_classes, model_kwargs)
    return model, path, label_map


def stream_networks(model, model_name: str) -> dict[str, InceptionI3d]:
    """`model.stream_networks()`: `{modality: InceptionI3d}` of a `PREDICT_WHOLE_VIDEO` model
    (`kinetics_i3d.specs`; `InceptionI3d` gives `{modality: self}`, `TwoStreamI3D` its two).

    Whole-video prediction is I3D's chunked pass (`serve.chunked.ChunkedI3D` runs one
    InceptionI3d per stream) and the SavedModel serves the same streams, so a whole-video model
    must expose them; evaluation and export both ask here. Raises `UserError` (one line, naming
    `--model=model_name`) when the class has no `stream_networks()`.
    """
    method = getattr(model, "stream_networks", None)
    if method is None:
        raise UserError(f"--model={model_name}: {type(model).__name__} has no stream_networks(); "
                        f"whole-video prediction and export run I3D's chunked pass "
                        f"(serve/chunked.ChunkedI3D), one InceptionI3d per stream, so a "
                        f"whole-video model must expose stream_networks() -> "
                        f"{{modality: InceptionI3d}}")
    return dict(method())


def class_names(num_classes: int, label_map: str | None = None,
                checkpoint: str | None = None) -> list[str]:
    """Names from `label_map` (one per line); else the `label_map.txt` beside `checkpoint` (a
    trainer run's `released/model.ckpt` has one, `labels.label_map_beside`); else the shipped
    Kinetics-400/600 map.

    Raises `ClassCountError` when the map's length is not `num_classes`, `UserError` when no
    map is given, none is beside the checkpoint and none is shipped for `num_classes`.
    """
    if not label_map and checkpoint:
        label_map = label_map_beside(checkpoint)
        if label_map:
            logging.info("class names from %s (beside the checkpoint)", label_map)
    if not label_map and num_classes not in (400, 600):
        where = f" nor beside {checkpoint!r}" if checkpoint else ""
        raise UserError(f"the model has {num_classes} classes: no label map given (--label_map)"
                        f"{where}, and the shipped ones have 400 or 600 classes; pass "
                        f"--label_map=<file with one class name per line>")
    names = load_label_map(label_map) if label_map else default_label_map(num_classes)
    if len(names) != num_classes:
        raise ClassCountError(f"label map {label_map!r} has {len(names)} names; the model has "
                              f"{num_classes} classes")
    return names


def check_same_classes(models: Sequence[InceptionI3d]) -> int:
    counts = {m.modality.name: m.num_classes for m in models}
    if len(set(counts.values())) != 1:
        raise ClassCountError(f"streams disagree on the class count: {counts}")
    return next(iter(counts.values()))
