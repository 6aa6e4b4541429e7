"""Label and field selectors from the query string: ``?labelSelector=app=web,tier in (a,b)``.

Where it sits: the list and watch handlers parse ``labelSelector`` and
``fieldSelector`` into :class:`Selector` objects and test every object (and every
watch event) against them. The grammar is upstream's ``labels.Parse`` and
``fields.ParseSelector``:

* labels: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``,
  ``k>3``, ``k<3``, joined by commas (all must hold);
* fields: ``f=v``, ``f==v``, ``f!=v`` joined by commas, with ``\\`` escaping ``,=!\\``.

Field selectors only work on the fields a kind declares (``field_labels``); any other
field is a 400 ``field label not supported``, exactly as a real apiserver answers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from .validation import meta as metavalidation


class SelectorError(ValueError):
    """A selector that does not parse; the message is shown to the user (400)."""


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        try:  # > and < compare integers; a non-integer label value never matches
            number = int(value) if value is not None else None
        except ValueError:
            return False
        if number is None:
            return False
        limit = int(self.values[0])
        return number > limit if self.op == ">" else number < limit


@dataclasses.dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, values: dict[str, str]) -> bool:
        return all(r.matches(values) for r in self.requirements)


EVERYTHING = Selector()

_LABEL_TOKEN = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<nkey>[^\s,!=<>()]+)"
    r"|(?P<key>[^\s,!=<>()]+)\s*(?:(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?)\s*(?:,|$)"
)


def parse_label_selector(text: str) -> Selector:
    text = text.strip()
    if not text:
        return EVERYTHING
    requirements, pos = [], 0
    while pos < len(text):
        m = _LABEL_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"unable to parse requirement: found '{text[pos:]}', expected: identifier")
        pos = m.end()
        if m["not"]:
            requirements.append(_label_requirement(m["nkey"], "!", ()))
        elif m["op"]:
            op = "=" if m["op"] == "==" else m["op"]
            requirements.append(_label_requirement(m["key"], op, (m["value"],)))
        elif m["setop"]:
            values = tuple(v.strip() for v in m["set"].split(",")) if m["set"].strip() else ()
            requirements.append(_label_requirement(m["key"], m["setop"], values))
        else:
            requirements.append(_label_requirement(m["key"], "exists", ()))
    return Selector(tuple(requirements))


def _label_requirement(key: str, op: str, values: tuple[str, ...]) -> Requirement:
    problems = metavalidation.is_qualified_name(key)
    if problems:
        raise SelectorError(f"unable to parse requirement: invalid label key \"{key}\": {'; '.join(problems)}")
    if op in ("in", "notin") and not values:
        raise SelectorError("unable to parse requirement: for 'in', 'notin' operators, values set can't be empty")
    if op in (">", "<"):
        try:
            int(values[0])
        except ValueError:
            raise SelectorError(
                "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"
            ) from None
    else:
        for value in values:
            problems = metavalidation.is_valid_label_value(value)
            if problems:
                raise SelectorError(
                    f"unable to parse requirement: invalid label value: \"{value}\": at key: \"{key}\": "
                    + "; ".join(problems)
                )
    return Requirement(key, op, values)


def parse_field_selector(text: str, supported: set[str] | frozenset[str]) -> Selector:
    """Parse a field selector, refusing fields the kind does not support."""
    if not text.strip():
        return EVERYTHING
    requirements = []
    for term in _split_unescaped(text, ","):
        m = re.match(r"^(?P<field>[^=!]+?)\s*(?P<op>==|=|!=)(?P<value>.*)$", term.strip())
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field = m["field"].strip()
        if field not in supported:
            raise SelectorError(f"field label not supported: {field}")
        op = "!=" if m["op"] == "!=" else "="
        requirements.append(Requirement(field, op, (_unescape(m["value"]),)))
    return Selector(tuple(requirements))


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


# -- field labels per kind ---------------------------------------------------------

FieldGetter = Callable[[dict[str, Any]], dict[str, str]]


def _dig(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fields(*paths: str) -> tuple[frozenset[str], FieldGetter]:
    names = frozenset(("metadata.name", "metadata.namespace", *paths))

    def get(obj: dict[str, Any]) -> dict[str, str]:
        return {p: _dig(obj, p) for p in names}

    return names, get


_POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)

# (group, resource) -> the field labels a field selector may use, and how to read them.
FIELD_LABELS: dict[tuple[str, str], tuple[frozenset[str], FieldGetter]] = {
    ("", "pods"): _fields(*_POD_FIELDS),
    ("", "nodes"): _fields("spec.unschedulable"),
    ("", "namespaces"): _fields("status.phase"),
    ("", "secrets"): _fields("type"),
    ("", "services"): _fields("spec.clusterIP", "spec.type"),
    ("", "events"): _fields(*_EVENT_FIELDS),
    ("apps", "replicasets"): _fields("status.replicas"),
    ("batch", "jobs"): _fields("status.successful"),
}
_DEFAULT_FIELDS = _fields()


def _event_source(obj: dict[str, Any]) -> str:
    return _dig(obj, "source.component")


def field_labels(group: str, resource: str) -> tuple[frozenset[str], FieldGetter]:
    """The supported field labels of a resource and a function reading them from an object."""
    if group == "events.k8s.io" and resource == "events":
        return _EVENTS_V1_FIELDS
    return FIELD_LABELS.get((group, resource), _DEFAULT_FIELDS)


def _events_v1_getter(obj: dict[str, Any]) -> dict[str, str]:
    # events.k8s.io events keep core's field labels: regarding is involvedObject there.
    values = {"metadata.name": _dig(obj, "metadata.name"), "metadata.namespace": _dig(obj, "metadata.namespace")}
    for field in _EVENT_FIELDS:
        if field.startswith("involvedObject."):
            values[field] = _dig(obj, "regarding." + field.split(".", 1)[1])
    values.update({
        "reason": _dig(obj, "reason"), "type": _dig(obj, "type"),
        "reportingComponent": _dig(obj, "reportingController"),
        "source": _dig(obj, "deprecatedSource.component"),
    })
    return values


_EVENTS_V1_FIELDS = (frozenset(("metadata.name", "metadata.namespace", *_EVENT_FIELDS)), _events_v1_getter)
