"""How every command line in `tools/` runs: one-line errors, honest exit statuses, quiet output.

`run(main)` replaces `absl.app.run(main)` in a tool's `if __name__ == "__main__":` block:

  - expected user mistakes (`USER_ERRORS`: `kinetics_i3d.errors.UserError` and its subclasses,
    a missing file) print one `error: ...` line on stderr and exit 1;
  - flag errors (an unknown flag, a missing required flag, a bad value, `app.UsageError` raised
    by the tool) print absl's one-line message as `error: ...` without the full flag help, and
    exit 2 (the usual status for a usage error);
  - `--help`, `--helpshort`, `--helpfull` print the help on stdout and exit 0 (absl exits 1);
  - anything else is a bug and keeps its traceback (exit 1); `--verbosity=1` also prints the
    traceback of a user error;
  - Python warnings that mean nothing to a user of the tool (deprecations inside TensorFlow and
    Keras) are hidden unless the user chose their own (`-W`, `PYTHONWARNINGS`), and so are
    TensorFlow's Python INFO lines unless `--verbosity=1`;
  - the process ends through `filesystems.exit_cleanly`, which keeps the exit status exact after
    tensorflow-io's s3 filesystem (see kinetics_i3d/filesystems.py).

`all_failed_status(ok, failed, what)` is the one rule for "every input of the run failed": a
tool returns it from `main` so that status is non-zero in every tool alike.

TensorFlow's C++ log level is set by importing `kinetics_i3d` (kinetics_i3d/__init__.py); a tool
imports this module (or the package) before TensorFlow.
"""
from __future__ import annotations

import logging as std_logging
import os
import sys
import traceback
import warnings
from typing import Callable

from absl import app, flags
from absl import logging

from kinetics_i3d import filesystems
from kinetics_i3d.errors import UserError

FLAGS = flags.FLAGS

# A missing file is the user's input at a command line (the library raises FileNotFoundError
# naming the path it looked for); every other user-input error is a `UserError`.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError)
USER_ERROR_STATUS = 1
USAGE_ERROR_STATUS = 2

# (category, module regex) of warnings hidden by default: raised inside the libraries, about
# their own internals (deprecated APIs they call), nothing a user of a tool can act on.
QUIET_WARNINGS = (
    (DeprecationWarning, r"(tensorflow|keras|tf_keras|absl|google\.protobuf|h5py|numpy)"),
    (FutureWarning, r"(tensorflow|keras|tf_keras|numpy)"),
    (UserWarning, r"(tensorflow|keras)"),
)


def one_line(message: object) -> str:
    """`message` as a single line: inner newlines and runs of spaces become one space."""
    return " ".join(str(message).split())


def print_error(message: object) -> None:
    """Writes `error: <message>` (one line) to stderr."""
    text = one_line(message)
    if text.startswith("error: "):
        text = text[len("error: "):]
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()


def quiet_warnings() -> None:
    """Hides `QUIET_WARNINGS` unless the user set a warnings filter (`-W`, `PYTHONWARNINGS`)."""
    if sys.warnoptions:
        return
    for category, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=module)


def all_failed_status(ok: int, failed: int, what: str = "input") -> int:
    """Exit status of a run over many inputs: 1 when inputs failed and none succeeded (logging
    why), else 0. `ok` counts the inputs that succeeded (or were already done by an earlier run).
    """
    if failed and not ok:
        logging.error("every %s of this run failed (%d)", what, failed)
        return 1
    return 0


def _verbose() -> bool:
    try:
        return FLAGS["verbosity"].value >= 1
    except (KeyError, AttributeError):
        return False


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with one-line errors (exit 2) and help that exits 0."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print_error(f"{error} (--help lists the flags)")
        sys.exit(USAGE_ERROR_STATUS)
    except SystemExit as exc:
        # absl's --help/--helpshort/--helpfull/--helpxml print the help, then sys.exit(1): the
        # only SystemExit flag parsing raises. The user asked for it: that is a success.
        sys.exit(0 if exc.code == 1 else exc.code)


# Source folders whose INFO log lines are hidden by default (TensorFlow's own Python logs go
# through absl's or the "tensorflow" logger: "Sharding callback duration" at every checkpoint,
# three ~4,400-character SavedModel input-renaming lines at export).
QUIET_INFO_PACKAGES = ("tensorflow", "keras", "tf_keras", "tensorflow_io")


class _LibraryInfoFilter(std_logging.Filter):
    """Drops INFO and DEBUG records logged from `QUIET_INFO_PACKAGES` source files."""

    def __init__(self):
        super().__init__()
        self._folders = tuple(f"{os.sep}{p}{os.sep}" for p in QUIET_INFO_PACKAGES)

    def filter(self, record: std_logging.LogRecord) -> bool:
        if record.levelno > std_logging.INFO:
            return True
        return not any(folder in record.pathname for folder in self._folders)


def quiet_library_info() -> None:
    """Hides the libraries' INFO log lines (`QUIET_INFO_PACKAGES`) unless `--verbosity` >= 1."""
    if _verbose():
        return
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _LibraryInfoFilter) for f in handler.filters):
        handler.addFilter(_LibraryInfoFilter())
    std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)


def _wrap(main: Callable[[list[str]], int | None]) -> Callable[[list[str]], int | None]:
    def wrapped(argv: list[str]) -> int | None:
        quiet_library_info()
        try:
            return main(argv)
        except app.UsageError as error:
            if _verbose():
                traceback.print_exc()
            print_error(error)
            sys.exit(USAGE_ERROR_STATUS)
        except USER_ERRORS as error:
            if _verbose():
                traceback.print_exc()
            print_error(error)
            sys.exit(USER_ERROR_STATUS)
    return wrapped


def run(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> None:
    """Runs `main` as absl's `app.run` does, with this module's errors, statuses and quiet
    defaults (module docstring); never returns."""
    quiet_warnings()
    try:
        app.run(_wrap(main), argv=argv, flags_parser=_parse_flags)
        status = 0
    except SystemExit as exc:
        status = filesystems.exit_status_of(exc.code)
    except BrokenPipeError:
        # stdout went to a reader that stopped early (`tool --help | head`): not an error of the
        # tool; silence the flush at exit that would raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    filesystems.exit_cleanly(status)
