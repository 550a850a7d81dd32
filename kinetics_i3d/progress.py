"""Progress of long loops (ingest, evaluation, feature extraction) with rate and ETA, on stderr.

On a terminal, one line rewritten in place (`\r`, no colours or other escape codes) at most every
`tty_interval` seconds; otherwise (output redirected to a log file, CI) a plain absl INFO line
every `interval` seconds. Either way a last line when the loop ends. stdout stays free for the
tools' results (evaluate prints its metrics JSON there).

Why our own and not `tf.keras.utils.Progbar` or tqdm: Keras 3's Progbar writes ANSI colour
codes and `\b` runs to stdout on every POSIX system, terminal or not (it tests
`"posix" in sys.modules`), which corrupted redirected logs and the JSON on stdout; tqdm rewrites
its line with `\r` on non-terminals too (or prints nothing with `disable=None`), and would be a
new dependency for ~60 lines. See BUILD_NOTES "Command lines".
"""
from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from absl import logging


def format_seconds(seconds: float) -> str:
    """`95` -> "1m35s", `4000` -> "1h06m40s", `7` -> "7s"; "?" when not finite."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def eta_seconds(done: int, total: int | None, elapsed: float) -> float:
    """Seconds left at the mean rate so far; NaN when unknown (no total, nothing done yet)."""
    if total is None or done <= 0 or elapsed <= 0:
        return float("nan")
    return (total - done) * elapsed / done


class Progress:
    """`update(done, **extra)` after each item; `close()` at the end (also as a context manager).

    Args:
      what: the job's name, first on each line ("evaluate").
      total: items to do (None: unknown; no ETA).
      unit: the item's name, plural with "s" ("video").
      interval: seconds between lines when stderr is not a terminal.
      tty_interval: seconds between redraws on a terminal.
      stream: where to draw on a terminal (default stderr); `isatty()` picks the mode.
    """

    def __init__(self, what: str, total: int | None, unit: str = "video",
                 interval: float = 30.0, tty_interval: float = 0.5,
                 stream: TextIO | None = None):
        self.what, self.total, self.unit = what, total, unit
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = tty_interval if self.tty else interval
        self.start = time.monotonic()
        self.last = self.start
        self.done = 0
        self.extra: dict[str, str] = {}
        self._width = 0

    def line(self) -> str:
        """The progress text: `what: done/total units, rate units/s, extras, ETA`."""
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        parts = [f"{self.what}: {count} {self.unit}s", f"{rate:.2f} {self.unit}s/s"]
        parts += [f"{key} {value}" for key, value in self.extra.items()]
        if self.total is not None and self.done >= self.total:
            parts.append(f"took {format_seconds(elapsed)}")
        else:
            eta = eta_seconds(self.done, self.total, elapsed)
            parts.append(f"elapsed {format_seconds(elapsed)}" if math.isnan(eta)
                         else f"ETA {format_seconds(eta)}")
        return ", ".join(parts)

    def update(self, done: int, force: bool = False, **extra: object) -> None:
        """Records `done` items (and extra `name=value` fields shown on the line)."""
        self.done = done
        self.extra.update({k: str(v) for k, v in extra.items()})
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            self._emit()

    def _emit(self) -> None:
        if self.tty:
            text = self.line()
            # Spaces (not an erase escape) wipe what a longer previous line left.
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)
        else:
            logging.info("%s", self.line())

    def close(self) -> None:
        """The last line (and a newline after a terminal's in-place line)."""
        if self.tty:
            self._emit()
            self.stream.write("\n")
            self.stream.flush()
        else:
            logging.info("%s", self.line())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
