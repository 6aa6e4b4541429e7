"""Reading the YAML files a user writes (inventory, playbooks), with one-line errors.

Data flow (B): **inventory.yaml / playbook.yaml** ─▶ inventory / playbook parsers. Both
read a file the same way and report a missing file or bad YAML the same way: the file,
the line and column, the problem; never a traceback. Each parser passes its own error
class, so its callers catch what they expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read(path: Path, error: type[Exception]) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def parse(text: str, source: str, error: type[Exception]) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source}: bad YAML{where}: {problem}") from None
