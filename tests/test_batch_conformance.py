"""The executor conformance suite (tests/batch_conformance.py) against the local executor and against a
thread-pool executor that runs files concurrently and in reverse order, which shows that the suite (and the
coordinator) depend on no executor's order or threading."""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Sequence

import pytest

from engine.batch import BatchItem, FileResult, LocalExecutor
from engine.batch.executor import run_item
from engine.jobs import CancelToken, Progress
from engine.tasks.registry import FileTask
from tests.batch_conformance import BatchExecutorConformance


class ThreadPoolBatchExecutor:
    """Files on a pool of threads, submitted last first; results reported on the calling thread as they
    end (the shape of a distributed executor, in one process)."""

    def __init__(self, workers: int = 3):
        self.workers = workers

    def run(self, task: FileTask, settings: Any, items: Sequence[BatchItem],
            report: Callable[[FileResult], None], progress_for: Callable[[int], Progress],
            cancel: CancelToken) -> None:
        pool = concurrent.futures.ThreadPoolExecutor(self.workers)
        try:
            pending = {pool.submit(self._process, task, settings, items[index], progress_for(index), cancel)
                       for index in reversed(range(len(items)))}
            while pending:
                done, pending = concurrent.futures.wait(pending, timeout=0.1,
                                                        return_when=concurrent.futures.FIRST_COMPLETED)
                cancel.check()
                for future in done:
                    result = future.result()
                    cancel.check()
                    report(result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _process(task, settings, item, progress, cancel) -> FileResult:
        cancel.check()
        return run_item(task, settings, item, progress, cancel)


class TestLocalExecutor(BatchExecutorConformance):
    @pytest.fixture(params=[1, 3], ids=["prefetch1", "prefetch3"])
    def make_executor(self, request):
        return lambda: LocalExecutor(prefetch=request.param)


class TestThreadPoolExecutor(BatchExecutorConformance):
    @pytest.fixture
    def make_executor(self):
        return ThreadPoolBatchExecutor
