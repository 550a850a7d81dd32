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

Which weight flags a model takes is read from its spec (`kinetics_i3d.specs`), one rule for
every tool that restores a model (evaluation, export): `WEIGHT_SOURCE_RULES`,
`check_flag_rules` (a flag given for a model that does not take it names the models that do)
and `weight_source` (release-layout checkpoints per stream, or a trainer `--model_dir`).

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
from collections.abc import Callable, Collection, Mapping

from absl import app, flags
from absl import logging

from kinetics_i3d import filesystems, specs
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


# Where a model's weights come from, read from its spec: release-layout models take one
# checkpoint per stream (`--rgb_checkpoint`, `--flow_checkpoint`); a model whose trainer runs
# write no release-layout checkpoint (`not released_export`) is restored from the run's
# `--model_dir` (`--checkpoint` picks one in it). Two-Stream I3D takes either.
# flag -> (kind of model, applies(spec)), for `check_flag_rules`.
WEIGHT_SOURCE_RULES: dict[str, tuple[str, Callable[[specs.ModelSpec], bool]]] = {
    **{f: ("release-layout", lambda s: s.released_layout)
       for f in ("rgb_checkpoint", "flow_checkpoint")},
    **{f: ("trainer-run", lambda s: not s.released_export) for f in ("model_dir", "checkpoint")},
}
WEIGHTS_FROM_CHECKPOINTS = "checkpoints"  # release-layout checkpoints, one per stream
WEIGHTS_FROM_MODEL_DIR = "model_dir"  # a trainer run


def check_flag_rules(rules: Mapping[str, tuple[str, Callable[[specs.ModelSpec], bool]]],
                     spec: specs.ModelSpec, given: Collection[str] | None = None,
                     models: Collection[str] | None = None) -> None:
    """Raises `app.UsageError` for a flag of `rules` ({flag: (kind, applies(spec))}) given for
    --model=`spec.name` when it does not apply, naming the models it applies to.

    given: the flags the user set (None: those of `FLAGS` marked present).
    models: the models `--model` takes (None: `specs.video_names()`).
    """
    for flag, (kind, applies) in rules.items():
        present = FLAGS[flag].present if given is None else flag in given
        if present and not applies(spec):
            takers = [n for n in (models or specs.video_names()) if applies(specs.get_spec(n))]
            hint = ""
            if flag == "model_dir" and spec.released_export:  # its runs write released/
                hint = (f"; a --model={spec.name} run's <model_dir>/released/model.ckpt is its "
                        f"--rgb_checkpoint or --flow_checkpoint")
            raise app.UsageError(f"--{flag}: {kind} models only (--model={'/'.join(takers)}), "
                                 f"not --model={spec.name}{hint}")


def checkpoint_flags() -> dict[str, str]:
    """{modality: prefix} of the `--rgb_checkpoint` / `--flow_checkpoint` flags given."""
    return {m: FLAGS[f"{m}_checkpoint"].value for m in ("rgb", "flow")
            if FLAGS[f"{m}_checkpoint"].value}


def weight_source(spec: specs.ModelSpec, checkpoints: Mapping[str, str],
                  model_dir: str | None) -> str:
    """Where --model=`spec.name`'s weights come from: `WEIGHTS_FROM_CHECKPOINTS` (release-layout
    `checkpoints` {modality: prefix}: one or both streams with `modality_flag`, else every stream
    of the model) or `WEIGHTS_FROM_MODEL_DIR` (a trainer run, for `not released_export`).

    Raises `app.UsageError` naming the missing flags, or when both kinds are given.
    """
    if checkpoints and model_dir:
        raise app.UsageError("--model_dir (a trainer run) replaces --rgb_checkpoint/"
                             "--flow_checkpoint (release layout); give one or the other")
    if spec.released_layout and (checkpoints or spec.released_export):
        missing = [m for m in spec.release_streams() if m not in checkpoints]
        if not checkpoints or missing:
            alternative = "" if spec.released_export else ", or the trainer's --model_dir"
            needed = (" and ".join(f"--{m}_checkpoint" for m in missing) if missing
                      else "--rgb_checkpoint or --flow_checkpoint (or both)")
            raise app.UsageError(f"--model={spec.name}: give {needed}{alternative}")
        return WEIGHTS_FROM_CHECKPOINTS
    if not model_dir:
        raise app.UsageError(f"--model={spec.name} needs --model_dir (the trainer's)"
                             + (" or --rgb_checkpoint and --flow_checkpoint"
                                if spec.released_layout else ""))
    return WEIGHTS_FROM_MODEL_DIR


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
