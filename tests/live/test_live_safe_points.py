"""A requested stop is raised at the next progress call, never asynchronously inside library code."""

from __future__ import annotations

import threading

import pytest

from qlop import progress


@pytest.fixture(autouse=True)
def _no_leftover_stop():
    progress.clear_stop()
    yield
    progress.clear_stop()


def test_a_requested_stop_is_raised_at_the_next_advance_and_only_once():
    with pytest.raises(KeyboardInterrupt):
        with progress.stage_progress("train", total=3) as p:
            p.advance()
            progress.request_stop(KeyboardInterrupt())
            p.advance()  # the safe point
            pytest.fail("advance did not raise the requested stop")
    assert progress.stop_requested() is None
    with progress.stage_progress("train", total=1) as p:  # consumed: the next stage runs normally
        p.advance()


def test_a_requested_stop_is_raised_before_the_next_stage_starts():
    progress.request_stop(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        with progress.stage_progress("export"):
            pytest.fail("the stage started although a stop was requested")


def test_worker_threads_do_not_receive_the_stop():
    progress.request_stop(KeyboardInterrupt())
    raised: list[BaseException] = []

    def work() -> None:
        try:
            with progress.stage_progress("features", total=1) as p:
                p.advance()
        except BaseException as exc:  # pragma: no cover - the failure case
            raised.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert raised == [] and progress.stop_requested() is not None
