"""The one worker-thread → UI relay (gui.jobs.to_ui_thread) and its owner guard: a result never reaches a
widget deleted while its job ran."""

from __future__ import annotations

import os
import threading

import shiboken6
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QWidget

from gui.jobs import JobRunner, to_ui_thread
from gui.views.background import run_in_background

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _blocked_job(release: threading.Event):
    def work(progress, cancel):
        release.wait(10)
        return "result"
    return work


def test_a_call_from_a_worker_thread_runs_on_the_ui_thread(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    seen = []
    relay = to_ui_thread(lambda value: seen.append((value, QThread.currentThread())), owner=owner)
    answers = []
    worker = threading.Thread(target=lambda: answers.append(relay(7)))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [(7, owner.thread())]
    assert answers == [True]


def test_job_result_skips_an_owner_deleted_while_the_job_ran(qtbot):
    runner = JobRunner()
    owner = QWidget()
    release = threading.Event()
    results, ended = [], []
    runner.ended.connect(ended.append)
    job = runner.run(_blocked_job(release), name="slow", on_result=results.append, owner=owner)
    shiboken6.delete(owner)  # the panel is closed while its job still runs
    release.set()
    qtbot.waitUntil(lambda: bool(ended), timeout=5000)
    assert job.result == "result"
    assert results == []  # the callback never reached the deleted widget
    assert not runner.running


def test_job_result_reaches_a_live_owner(qtbot):
    runner = JobRunner()
    owner = QWidget()
    qtbot.addWidget(owner)
    release = threading.Event()
    results = []
    runner.run(_blocked_job(release), name="slow", on_result=results.append, owner=owner)
    release.set()
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    assert results == ["result"]


def test_background_result_skips_a_deleted_owner_and_relay_reports_it(qtbot):
    owner = QWidget()
    release = threading.Event()
    results = []
    job = run_in_background(_blocked_job(release), on_result=results.append, owner=owner)
    relay = to_ui_thread(results.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(owner), timeout=5000)
    release.set()
    assert job.wait(5)
    qtbot.wait(100)  # let any queued delivery run
    assert results == []
    assert relay("late") is False  # a producer learns that nobody listens any more
