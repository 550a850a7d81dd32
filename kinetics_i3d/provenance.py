"""Outputs that record how they were made, and reruns that never mix settings.

One mechanism for every resumable output (ingest shards, extracted features, evaluation
results): the settings that shape an output are stored with it as a JSON-able dict; a rerun
compares its own settings with the stored ones (`check_settings`) and stops with a one-line
`SettingsMismatchError` listing each difference and offering `--overwrite` (or another output
folder), so an output never mixes two settings and is never silently kept stale.
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import kinetics_i3d
from kinetics_i3d.errors import UserError

_ABSENT = "(absent)"


class SettingsMismatchError(UserError):
    """An existing output was made with other settings than this run asks for."""


def package_version() -> str:
    """This package's version, recorded in every provenance file."""
    return kinetics_i3d.__version__


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def settings_differences(stored: Mapping[str, Any], requested: Mapping[str, Any]) -> list[str]:
    """`"<key>: <stored> -> <requested>"` for each setting that differs (nested keys dotted,
    sorted; a key only one side has shows `(absent)` on the other)."""
    a, b = _flatten(stored), _flatten(requested)

    def shown(side: dict[str, Any], key: str) -> str:
        return repr(side[key]) if key in side else _ABSENT

    return [f"{key}: {shown(a, key)} -> {shown(b, key)}" for key in sorted(set(a) | set(b))
            if a.get(key, _ABSENT) != b.get(key, _ABSENT)]


def check_settings(stored: Mapping[str, Any], requested: Mapping[str, Any], where: str,
                   remedy: str = "rerun with --overwrite to replace it, or use another "
                                 "--output_dir") -> None:
    """Raises `SettingsMismatchError` when `stored` (the settings `where` was made with) and
    `requested` (this run's) differ; the one-line message lists every difference and `remedy`.

    Example message: `features/abc.npz was made with other settings (pooling: 'mean' -> 'time';
    rgb_checkpoint.path: '/a' -> '/b'); rerun with --overwrite to replace it, or use another
    --output_dir`.
    """
    diffs = settings_differences(stored, requested)
    if diffs:
        raise SettingsMismatchError(f"{where} was made with other settings ({'; '.join(diffs)}); "
                                    f"{remedy}")


def read_json(path: str) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: str, data: Mapping[str, Any]) -> None:
    """Writes `data` as indented JSON atomically (temporary file, then rename)."""
    tmp = path + ".incomplete"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
