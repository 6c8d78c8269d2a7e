"""Parts of the whole suite in other processes, at the same time: the suite's run split in four.

Most of the suite's wall time is waiting (a deadline that must pass, a client
process starting, readline's 0.1 s redraw), with the CPU idle; other processes
running other tests meanwhile use it. :func:`split` (called by ``tests.suite``)
moves the tests of each group of :data:`WORKER_GROUPS` to its own worker,
``python -m tests.parallel``, started at once, and leaves in their place
:class:`WorkerTest` stand-ins that, in the main run, wait for each one's outcome
and report it as if it had run there: the count, the failures with their
traceback, the skips with their reason (the summary line reads those). Each
worker ends with its own lock-order check (one more test in the count).

Each test runs exactly as in one process: its own server, its own folder, its
own port. Only POSIX (the outcomes come back on an inherited pipe);
``BATCHAT_TESTES_SERIAL=1`` runs everything in one process, as does running one
module (``python3 -m unittest tests.test_x``).
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

SERIAL = "BATCHAT_TESTES_SERIAL"
# Mostly waiting: in the workers, one process per group, the groups of about equal
# time (docs/testes.md). The others (more CPU: most child processes) stay.
WORKER_GROUPS = (
    ("test_terminal", "test_tls"), ("test_hostile", "test_any_terminal"), ("test_client", "test_offline", "test_portability"),
)
LOCK_CHECK = "test_layers.LockOrderAtTheEnd.check_no_lock_was_taken_out_of_order"
TESTS_FOLDER = Path(__file__).resolve().parent
# The longest one test in a worker may take to be reported (each has its own
# shorter timeouts; this only keeps a hung worker from hanging the run).
OUTCOME_TIMEOUT = 300.0
PARALLEL_MARK = " (processo paralelo)"


def module_of(test: unittest.TestCase) -> str:
    """``test_x`` for ``tests.test_x.Class.method`` and for ``test_x.Class.method`` (the
    ids discovery gives from the repository's folder, and from tests/)."""
    parts = test.id().split(".")
    return parts[1] if parts[0] == "tests" and len(parts) > 1 else parts[0]


def leaves(suite: unittest.TestSuite) -> Iterator[unittest.TestCase]:
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from leaves(test)
        else:
            yield test


def split(suite: unittest.TestSuite) -> unittest.TestSuite:
    """``suite`` with the workers' tests replaced by stand-ins, the workers started;
    ``suite`` itself when running in one process is asked for or needed."""
    tests = list(leaves(suite))
    groups = [[test for test in tests if module_of(test) in modules] for modules in WORKER_GROUPS]
    moved = {test.id() for group in groups for test in group}
    if os.environ.get(SERIAL) == "1" or os.name != "posix" or not moved or len(moved) == len(tests):
        return suite
    ordered = [test for test in tests if test.id() not in moved]
    lock_check = ordered.pop() if ordered and ordered[-1].id().endswith(LOCK_CHECK) else None
    for number, group in enumerate(filter(None, groups), 1):
        ordered += _stand_ins(group, number)
    if lock_check is not None:  # the main process's own check stays the very last
        ordered.append(lock_check)
    return unittest.TestSuite(ordered)


def _stand_ins(group: list[unittest.TestCase], number: int) -> list[WorkerTest]:
    """A worker started for ``group``, and a stand-in for each of its tests, then one for
    its own lock-order check."""
    lock_check_id = ("tests." if group[0].id().startswith("tests.") else "") + LOCK_CHECK
    worker = Worker([test.id() for test in group] + [lock_check_id])
    stand_ins = [WorkerTest(worker, test.id(), str(test), test.shortDescription()) for test in group]
    mark = PARALLEL_MARK.replace(")", f" {number})")
    text = f"check_no_lock_was_taken_out_of_order ({lock_check_id}{mark})"
    return stand_ins + [WorkerTest(worker, lock_check_id, text, None, last=True, mark=mark)]


class Worker:
    """The second process, and the outcomes it reported so far, by test id."""

    def __init__(self, ids: list[str]) -> None:
        reading, writing = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.parallel", str(writing)], stdin=subprocess.PIPE,
            pass_fds=(writing,), cwd=TESTS_FOLDER.parent, text=True,
        )
        os.close(writing)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(ids))
        self.process.stdin.close()
        self._outcomes: dict[str, list[dict[str, str]]] = {}
        self._ended = False
        self._explained: set[str] = set()  # set-up failures already reported as their tests'
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(os.fdopen(reading, encoding="utf-8"),), daemon=True)
        self._reader.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        """At exit: a worker still running (the main run stopped early) is ended."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read(self, stream: IO[str]) -> None:
        """Collect the worker's reports until it closes the pipe (or this thread fails:
        then too, waiting stand-ins learn at once that nothing more will come)."""
        try:
            with stream:
                for line in stream:
                    report = json.loads(line)
                    with self._changed:
                        self._outcomes.setdefault(report["id"], []).append(report)
                        self._changed.notify_all()
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def outcomes(self, test_id: str) -> list[dict[str, str]]:
        """What the worker said about ``test_id`` once it finished it: its outcome, or
        the failure or skip of its class's or module's set-up if it never ran, or an
        error if the worker ended first, said nothing in OUTCOME_TIMEOUT, or said the
        test stopped without saying how it went."""
        deadline = time.monotonic() + OUTCOME_TIMEOUT
        with self._changed:
            while not any(report["kind"] == "stop" for report in self._outcomes.get(test_id, [])):
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    return self._never_ran(test_id, remaining)
                self._changed.wait(remaining)
            reports = self._outcomes.pop(test_id)
        if not any(report["kind"] != "stop" for report in reports):
            return [{"id": test_id, "kind": "error", "text": "o processo paralelo não disse como o teste terminou"}]
        return reports

    def _never_ran(self, test_id: str, remaining: float) -> list[dict[str, str]]:
        """Why ``test_id`` has no outcome (under ``_changed``): a set-up of its class or
        module failed or skipped (``setUpClass (tests.test_x.Class)``), or the worker
        ended or hung."""
        for holder, reports in self._outcomes.items():
            parent = holder.partition(" (")[2].rstrip(")")
            if holder.startswith(("setUpClass (", "setUpModule (")) and _within(test_id, parent):
                self._explained.add(holder)
                return [dict(report, id=test_id) for report in reports if report["kind"] != "stop"]
        why = "terminou antes" if self._ended else f"não respondeu em {OUTCOME_TIMEOUT:g} s"
        return [{"id": test_id, "kind": "error", "text": f"o processo paralelo {why}"}]

    def leftovers(self) -> list[dict[str, str]]:
        """Once the worker ended (killed if it has not in OUTCOME_TIMEOUT): outcomes of no
        test asked for and explaining none (a class's tear-down failing), and an error if
        the worker itself failed."""
        try:
            self.process.wait(OUTCOME_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
        self._reader.join(OUTCOME_TIMEOUT)
        with self._changed:
            reports = [
                report for holder, reports in self._outcomes.items() if holder not in self._explained
                for report in reports if report["kind"] != "stop"
            ]
        if self.process.returncode != 0:
            text = f"o processo paralelo terminou com o código {self.process.returncode}"
            reports.append({"id": "tests.parallel", "kind": "error", "text": text})
        return reports


def _within(test_id: str, parent: str) -> bool:
    """Whether ``test_id`` is in the class or module ``parent`` (the worker may have
    imported ``tests.test_x`` as ``test_x``: either spelling matches)."""
    names = (test_id, test_id.removeprefix("tests."))
    parents = (parent, parent.removeprefix("tests."))
    return any(name.startswith(prefix + ".") for name in names for prefix in parents)


class WorkerFailure(AssertionError):
    """A failure or error in the worker, its traceback as the message."""


class WorkerTest(unittest.TestCase):
    """Stands in for one test that runs in the worker; ``last``: for the worker's own
    lock-order check, and then anything it reported about no test."""

    def __init__(
        self, worker: Worker, test_id: str, text: str, doc: str | None, last: bool = False, mark: str = PARALLEL_MARK
    ) -> None:
        super().__init__("report")
        self._worker = worker
        self._id = test_id
        self._text = text
        self._doc = doc
        self._last = last
        self._mark = mark

    def id(self) -> str:
        return self._id + (self._mark if self._last else "")

    def __str__(self) -> str:
        return self._text

    def shortDescription(self) -> str | None:
        return self._doc

    def report(self) -> None:
        """Never called: :meth:`run` reports the worker's outcome instead."""

    def run(self, result: Any = None) -> Any:
        result.startTest(self)
        try:
            reports = self._worker.outcomes(self._id)
            if self._last:
                reports += self._worker.leftovers()
            self._report(result, reports)
        finally:
            result.stopTest(self)
        return result

    def _report(self, result: Any, reports: list[dict[str, str]]) -> None:
        for report in reports:
            kind, text = report["kind"], report.get("text", "")
            if kind in ("failure", "error"):
                getattr(result, f"add{kind.capitalize()}")(self, _exc_info(report["id"], text))
            elif kind == "skip":
                result.addSkip(self, text)
            elif kind == "success":
                result.addSuccess(self)
            elif kind == "expected_failure":
                result.addExpectedFailure(self, _exc_info(report["id"], text))
            elif kind == "unexpected_success":
                result.addUnexpectedSuccess(self)


def _exc_info(test_id: str, text: str) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    return WorkerFailure, WorkerFailure(f"no processo paralelo, {test_id}:\n{text}"), None


class _ReportingResult(unittest.TestResult):
    """The worker's result: one JSON line per outcome, on the pipe to the main process."""

    def __init__(self, channel: IO[str]) -> None:
        super().__init__()
        self._channel = channel

    def _send(self, test: Any, kind: str, text: str = "") -> None:
        self._channel.write(json.dumps({"id": test.id(), "kind": kind, "text": text}) + "\n")
        self._channel.flush()  # the main process may be waiting for this very line

    def _text(self, err: Any, test: Any) -> str:
        return self._exc_info_to_string(err, test) if err is not None else ""

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        self._send(test, "stop")

    def addSuccess(self, test: Any) -> None:
        self._send(test, "success")

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._send(test, "failure", self._text(err, test))

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._send(test, "error", self._text(err, test))

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self._send(test, kind, f"{subtest}\n{self._text(err, test)}")

    def addSkip(self, test: Any, reason: str) -> None:
        self._send(test, "skip", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._send(test, "expected_failure", self._text(err, test))

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._send(test, "unexpected_success")


def work(channel_fd: int) -> int:
    """The worker: the ids on stdin, loaded as the main process's discovery named them."""
    sys.path.insert(0, str(TESTS_FOLDER))  # discovery imports test modules from here, top-level
    ids = json.loads(sys.stdin.read())
    suite = unittest.TestLoader().loadTestsFromNames(ids)
    with os.fdopen(channel_fd, "w", encoding="utf-8") as channel:
        suite.run(_ReportingResult(channel))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(work(int(sys.argv[1])))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
