"""Which filesystem serves a path, and a clean process exit after tensorflow-io's filesystems.

Local paths and `gs://` are built into TensorFlow. `s3://` and `hdfs://` (and `viewfs://`,
`har://`) come from tensorflow-io, which registers them when imported; `ensure_filesystem`
imports it only when such a path is used, so local runs never load it.

Known problem (tensorflow-io 0.37.1 with TF 2.16): once its S3 filesystem has been loaded, the
C++ static destructors that run after the Python interpreter finalises abort the process
("pure virtual method called", exit status 134), even when the job succeeded. Once a
tensorflow-io filesystem is loaded we therefore end the process with `os._exit(status)` after
flushing Python's streams and loggers, before those destructors run:
  - `kinetics_i3d.cli.run(main)` (every tool): absl `app.run` with the exact exit status;
  - an `atexit` hook, for plain scripts: status 1 after an uncaught exception, the argument of
    `sys.exit(n)`, else 0. A bare top-level `raise SystemExit(n)` is not seen by the hook (it
    exits 0): call `exit_cleanly(n)` or use `cli.run` there. `python -m pytest` ends that way,
    so tests must use s3:// in subprocesses, never in the pytest process.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Iterable

from absl import logging as absl_logging

BUILTIN_SCHEMES = ("", "file", "gs")
TFIO_SCHEMES = ("s3", "hdfs", "viewfs", "har")

_state = {"tfio_loaded": False, "exit_status": None, "hooks_armed": False}


def scheme(path: str) -> str:
    """The URI scheme of `path` ("" for a local path), lower-case."""
    path = os.fspath(path)
    head, sep, _ = path.partition("://")
    return head.lower() if sep else ""


def tfio_loaded() -> bool:
    """Whether `ensure_filesystem` has loaded a tensorflow-io filesystem in this process."""
    return _state["tfio_loaded"]


def ensure_filesystem(paths: str | Iterable[str]) -> None:
    """Makes sure TensorFlow can open `paths` (one path or several).

    Imports tensorflow_io (which registers s3/hdfs filesystems) only for those schemes, and arms
    the clean-exit hooks described in the module docstring.

    Raises:
      ValueError: a scheme neither TensorFlow nor tensorflow-io serves.
      ImportError: tensorflow-io is needed but not installed.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        s = scheme(path)
        if s in BUILTIN_SCHEMES:
            continue
        if s not in TFIO_SCHEMES:
            known = [x for x in BUILTIN_SCHEMES if x] + list(TFIO_SCHEMES)
            raise ValueError(f"{path}: unsupported filesystem scheme {s!r}; expected a local "
                             f"path or one of {known}")
        if not _state["tfio_loaded"]:
            try:
                import tensorflow_io  # noqa: F401  (registers the s3/hdfs filesystems)
            except ImportError as err:
                raise ImportError(f"{path}: the {s}:// filesystem needs tensorflow-io "
                                  "(pip install tensorflow-io==0.37.1)") from err
            _state["tfio_loaded"] = True
            _arm_exit_hooks()
            absl_logging.info("loaded tensorflow-io filesystems for %s://", s)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not block the exit
            pass
    try:
        absl_logging.flush()
    except Exception:
        pass
    logging.shutdown()


def exit_status_of(code: object) -> int:
    """Exit status of `sys.exit(code)`, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def exit_cleanly(status: int = 0) -> None:
    """Ends the process with `status`; with a tensorflow-io filesystem loaded, via `os._exit`
    after flushing (see module docstring), else through the normal `sys.exit`."""
    if not _state["tfio_loaded"]:
        sys.exit(status)
    _flush()
    os._exit(status)


def _arm_exit_hooks() -> None:
    """Starts tracking the exit status (uncaught exceptions, `sys.exit`) for `_atexit_hook`."""
    if _state["hooks_armed"]:
        return
    _state["hooks_armed"] = True
    previous_excepthook = sys.excepthook
    previous_exit = sys.exit

    def excepthook(exc_type, exc, tb):
        _state["exit_status"] = 1
        previous_excepthook(exc_type, exc, tb)

    def tracked_exit(code: object = None):
        _state["exit_status"] = exit_status_of(code) if not isinstance(code, str) else 1
        previous_exit(code)

    sys.excepthook = excepthook
    sys.exit = tracked_exit


def _atexit_hook() -> None:
    if not _state["tfio_loaded"]:
        return
    status = _state["exit_status"]
    _flush()
    os._exit(0 if status is None else status)


# Registered at import, before tensorflow_io can be imported: atexit runs hooks last-in first-out,
# so this one runs after the hooks of modules imported later (TensorFlow's included). It does
# nothing unless a tensorflow-io filesystem was loaded.
atexit.register(_atexit_hook)
