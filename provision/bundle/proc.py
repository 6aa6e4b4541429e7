"""Running the controller's tools (pip, apt-get, dpkg-deb) for the bundle, one line per failure.

Data flow (B): ... ─▶ **bundle** (build on the controller, verify, extract on the host). The
bundle code never parses a tool's full output on failure: `run` keeps the one line that says
what went wrong (pip's ``ERROR:``, apt's ``E:``) and raises `BundleError` with it, so the CLI
can print one line and no traceback. Lines worth showing while a tool runs (a download, a
wheel being built) go to the caller's ``progress``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence

Progress = Callable[[str], None]


class BundleError(Exception):
    """The bundle cannot be built, read or extracted; the message is one line saying what to do."""


def quiet(_: str) -> None:
    """The default ``progress``: show nothing."""


def run(cmd: Sequence[str], *, what: str, progress: Progress = quiet,
        show: Callable[[str], str | None] = lambda line: None,
        env: Mapping[str, str] | None = None, check: bool = True) -> tuple[int, str]:
    """Run ``cmd`` with stderr folded into stdout; return (exit code, output).

    ``show(line)`` returns the text to pass to ``progress`` for a line, or None to skip it.
    With ``check``, a non-zero exit raises ``BundleError("<what> failed: <the telling line>")``.
    """
    full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
    try:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, env=full_env)
    except OSError as e:
        raise BundleError(f"{what} failed: cannot run {cmd[0]}: {e.strerror}") from None
    lines: list[str] = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        lines.append(line)
        shown = show(line)
        if shown:
            progress(shown)
    code = proc.wait()
    output = "\n".join(lines)
    if check and code != 0:
        raise BundleError(f"{what} failed: {telling_line(output) or f'exit code {code}'}")
    return code, output


def telling_line(output: str) -> str:
    """The line of a tool's output that says why it failed: the last pip ``ERROR:`` or apt
    ``E:`` line, else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("ERROR:", "E:")):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else ""
