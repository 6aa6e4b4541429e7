"""Jinja2 on the controller: task arguments, `loop` lists and `when` conditions.

Data flow (B): playbook task + host variables/facts ─▶ **templating** ─▶ concrete module
arguments ─▶ module. Every string with `{{ }}` or `{% %}` in a task's arguments is rendered
with the host's variables (as Ansible does). A string that is one whole expression,
`"{{ groups.masters }}"`, keeps its native type, so a loop over it gets a real list.
Undefined variables are errors (StrictUndefined), never silently empty.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
WHOLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)


class TemplateError(ValueError):
    """A template or condition could not be evaluated; the message says which and why."""


def render(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with every templated string rendered; dicts and lists are walked."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        whole = WHOLE_EXPRESSION.match(value.strip())
        if whole:
            result = ENV.compile_expression(whole.group("expr"), undefined_to_none=False)(
                **variables)
            if isinstance(result, jinja2.Undefined):
                result._fail_with_undefined_error()  # StrictUndefined's own message
            return result
        return ENV.from_string(value).render(variables)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"cannot render {value!r}: {exc}") from None


def evaluate(condition: str | bool | list[Any], variables: dict[str, Any]) -> bool:
    """A `when:` condition: a bare Jinja2 expression (no braces), a bool, or a list of
    expressions that must all hold."""
    if isinstance(condition, bool):
        return condition
    if isinstance(condition, list):
        return all(evaluate(c, variables) for c in condition)
    text = str(condition).strip()
    whole = WHOLE_EXPRESSION.match(text)
    if whole:  # tolerate `when: "{{ x }}"`, which Ansible warns about but accepts
        text = whole.group("expr")
    try:
        return bool(ENV.compile_expression(text, undefined_to_none=False)(**variables))
    except jinja2.TemplateError as exc:
        raise TemplateError(f"cannot evaluate when: {condition!r}: {exc}") from None
