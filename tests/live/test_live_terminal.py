"""The terminal view: stage lines everywhere, live bars only on a TTY."""

from __future__ import annotations

import io
import logging

from qlop.live.session import RunSession
from qlop.live.terminal import TerminalView, format_seconds
from qlop.progress import stage_progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _run_session(tmp_path, view):
    with RunSession(tmp_path / "run", terminal=view) as session:
        session.run_started(tmp_path / "run", ["train"], {})
        session.stage_started("train")
        with stage_progress("train", total=3, unit="fold") as p:
            for i in range(3):
                p.advance(message=f"fold {i + 1}")
        logging.getLogger("qlop.test").warning("few positive labels in fold 2")
        session.stage_finished("train", 65.0)
        session.stage_cached("export", tmp_path / "run")


def test_without_a_tty_only_stage_lines_and_warnings_are_printed(tmp_path):
    out = io.StringIO()
    view = TerminalView(out)
    assert view.live is False
    _run_session(tmp_path, view)
    assert out.getvalue().splitlines() == [
        "warning: few positive labels in fold 2",
        "train     done in 1m05s",
        "export    cached",
    ]


def test_on_a_tty_bars_are_drawn_and_cleared(tmp_path):
    out = _Tty()
    view = TerminalView(out)
    assert view.live is True
    _run_session(tmp_path, view)
    text = out.getvalue()
    assert "\x1b[" in text and "fold" in text and "/3" in text  # a bar was drawn
    assert "train     done in 1m05s" in text and "export    cached" in text
    assert "few positive labels" in text


def test_durations_read_naturally():
    assert [format_seconds(s) for s in (0.04, 12.34, 65, 3725, None)] == ["0.0s", "12.3s", "1m05s", "1h02m", "?"]
