"""kinetics_i3d.progress: plain periodic lines off a terminal, one rewritten line on one; ETA."""
import io

import pytest
from absl import logging

from kinetics_i3d import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_format_seconds_and_eta():
    assert [progress.format_seconds(s) for s in (7, 95, 4000)] == ["7s", "1m35s", "1h06m40s"]
    assert progress.format_seconds(float("nan")) == "?"
    assert progress.eta_seconds(2, 10, 4.0) == pytest.approx(16.0)
    assert progress.eta_seconds(0, 10, 4.0) != progress.eta_seconds(0, 10, 4.0)  # NaN: unknown


def test_off_a_terminal_lines_are_logged_without_escape_codes(monkeypatch):
    lines = []
    monkeypatch.setattr(logging, "info", lambda fmt, *args: lines.append(fmt % args))
    bar = progress.Progress("evaluate", 3, interval=0.0, stream=io.StringIO())
    for done in (1, 2, 3):
        bar.update(done, failed=0)
    bar.close()
    assert len(lines) == 4 and all("\x1b" not in line and "\r" not in line for line in lines)
    assert lines[0].startswith("evaluate: 1/3 videos") and "ETA" in lines[0]
    assert "failed 0" in lines[0] and "took" in lines[-1] and "nan" not in " ".join(lines)


def test_nothing_to_do_and_unknown_totals_show_no_nan(monkeypatch):
    lines = []
    monkeypatch.setattr(logging, "info", lambda fmt, *args: lines.append(fmt % args))
    progress.Progress("ingest", 0, stream=io.StringIO()).close()
    unknown = progress.Progress("features", None, interval=0.0, stream=io.StringIO())
    unknown.update(2)
    assert "nan" not in " ".join(lines).lower() and "elapsed" in lines[-1]


def test_on_a_terminal_one_line_is_rewritten_in_place():
    screen = _Terminal()
    bar = progress.Progress("evaluate", 2, tty_interval=0.0, stream=screen)
    bar.update(1)
    bar.update(2)
    bar.close()
    text = screen.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "\x1b" not in text
