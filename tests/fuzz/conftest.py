"""The fuzz tier's place to print a summary (its cluster is the session's, from tests/livecluster.py).

The fuzz test stores its summary in ``config.stash``; :func:`pytest_terminal_summary`
prints it in its own section, so the numbers (requests, status codes, rate) show in
every run, passed or failed, without ``-s``.
"""

from __future__ import annotations

from .client import SUMMARY


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("kubeclass API fuzz")
        for line in lines:
            terminalreporter.write_line(line)
