"""OpenAPI v3 validation of custom resources, with the messages the apiserver prints.

Where it sits: ``crdschema.validate`` runs :func:`validate_value` over a whole custom
resource on every create and update (then the registry's own checks in
``crdschema_registry``); a non-empty result becomes a 422 Invalid. ``crdschema_structural``
also uses it to check a CRD's ``default:`` values against their own schema node.

What it promises: the checks and messages of kube-openapi's ``validate.SchemaValidator``
as apiextensions wires it up (``pkg/apiserver/validation``):

    spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
    spec.size: Required value
    spec.mode: Unsupported value: "x": supported values: "a", "b"
    <nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)

Each node runs the same validators in the same order as upstream, and for a failed
``anyOf``/``oneOf`` it reports the branch upstream reports (the one where the most
checks applied).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from . import fielderrors as fe
from .crdschema_formats import effective_format, format_ok, go_float, regexp_error
from .fielderrors import FieldError


@dataclasses.dataclass(frozen=True)
class Problem:
    """One kube-openapi error, before it becomes a field error.

    ``kind`` says which field error it becomes; ``name`` is kube-openapi's path
    (``spec.replicas``; map values join with a dot; "" is the root).
    """

    kind: str  # type | required | enum | too_long | too_many | invalid | composite
    name: str
    message: str
    value: Any = None
    limit: int = 0
    allowed: tuple = ()


@dataclasses.dataclass
class _Result:
    problems: list[Problem] = dataclasses.field(default_factory=list)
    # kube-openapi's MatchCount: how many checks applied. It decides which failing
    # anyOf/oneOf branch is reported.
    matches: int = 0

    def merge(self, other: _Result) -> None:
        for problem in other.problems:
            if all(problem.message != seen.message for seen in self.problems):
                self.problems.append(problem)  # Go drops errors with the same text
        self.matches += other.matches


def _fail(*problems: Problem) -> _Result:
    return _Result(list(problems))


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # close to Go's %q


def _types(node: dict) -> list[str]:
    if node.get("x-kubernetes-int-or-string") is True:
        return ["integer", "string"]
    return [node["type"]] if node.get("type") else []


def _json_type(value: Any) -> tuple[str, str]:
    """The JSON type of a decoded value, and the format Go infers for it."""
    if isinstance(value, bool):
        return "boolean", ""
    if isinstance(value, int):
        return "integer", "int64"
    if isinstance(value, float):
        return "number", "float64"
    if isinstance(value, str):
        return "string", ""
    return ("array", "") if isinstance(value, list) else ("object", "")


def _whole(f: float) -> bool:
    """swag.IsFloat64AJSONInteger: whole within 2^53, up to a relative error of 1e-9
    against the value truncated towards zero (3.0000000000000004 is whole,
    2.9999999999999996 is not)."""
    if f != f or abs(f) > 2**53 - 1:
        return False
    if f == int(f):
        return True
    truncated = float(int(f))
    if f < 0 or truncated == 0:
        return False
    return abs(f - truncated) / (f + truncated) < 1e-9


def _in_body(kind: str, name: str, text: str, value: Any = None, limit: int = 0) -> Problem:
    """A problem worded the way kube-openapi words most: ``<name> in body <text>``."""
    return Problem(kind, name, f"{name} in body {text}", value, limit)


def _composite(name: str, text: str) -> Problem:
    """An allOf/anyOf/oneOf/not failure: no field of its own, the path is quoted."""
    return Problem("composite", name, f"{_quote(name)} {text}")


def _must_be(name: str, expected: str, got: str) -> Problem:
    return _in_body("type", name, f"must be of type {expected}: {_quote(got)}", got)


# -- the validators, in kube-openapi's order -------------------------------------------


def _check_type(value: Any, node: dict, name: str) -> _Result:
    types, fmt = _types(node), effective_format(node)
    if value is None:
        if types and not node.get("nullable"):
            return _fail(_must_be(name, ",".join(types), "null"))
        return _Result(matches=1)
    actual, actual_fmt = _json_type(value)
    lenient = (actual == "number" and "integer" in types and _whole(value)) or \
              (actual == "integer" and "number" in types)
    textual = isinstance(value, (str, list))
    if fmt and not textual and not (actual in types or actual_fmt == fmt or lenient):
        return _fail(_must_be(name, fmt, actual_fmt))
    if fmt and textual and "number" not in types and "integer" not in types:
        return _Result(matches=1)
    if actual not in types and not lenient:
        return _fail(_must_be(name, ",".join(types), actual))
    return _Result(matches=1)


def _check_junctors(value: Any, node: dict, name: str) -> _Result:
    main = _Result()
    if node.get("anyOf"):
        results = []
        for sub in node["anyOf"]:
            results.append(_check(value, sub, name))
            if not results[-1].problems:
                break
        if results[-1].problems:
            main.problems.append(_composite(name, "must validate at least one schema (anyOf)"))
        main.merge(_best(results))
    if node.get("oneOf"):
        results = [_check(value, sub, name) for sub in node["oneOf"]]
        valid = sum(1 for r in results if not r.problems)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            main.problems.append(
                _composite(name, f"must validate one and only one schema (oneOf). {found}"))
        if valid <= 1:  # the best failure, or the one success
            main.merge(_best(results))
    if node.get("allOf"):
        results = [_check(value, sub, name) for sub in node["allOf"]]
        for result in results:
            main.merge(result)
        valid = sum(1 for r in results if not r.problems)
        if valid != len(results):
            none = ". None validated" if valid == 0 else ""
            main.problems.append(_composite(name, f"must validate all the schemas (allOf){none}"))
    if isinstance(node.get("not"), dict) and not _check(value, node["not"], name).problems:
        main.problems.append(_composite(name, "must not validate the schema (not)"))
    main.matches += 1
    return main


def _best(results: list[_Result]) -> _Result:
    """The first success, else the failure where most checks applied (first on ties)."""
    best = None
    for result in results:
        if not result.problems:
            return result
        if best is None or result.matches > best.matches:
            best = result
    return best or _Result()


def _check_string(value: str, node: dict, name: str) -> _Result:
    if "maxLength" in node and len(value) > node["maxLength"]:
        text = f"should be at most {node['maxLength']} chars long"
        return _fail(_in_body("too_long", name, text, value, limit=node["maxLength"]))
    if "minLength" in node and len(value) < node["minLength"]:
        text = f"should be at least {node['minLength']} chars long"
        return _fail(_in_body("invalid", name, text, value))
    pattern = node.get("pattern")
    if pattern:
        problem = regexp_error(pattern)
        if problem or re.search(pattern, value) is None:
            shown = f"{pattern}, but pattern is invalid: {problem}" if problem else pattern
            return _fail(_in_body("invalid", name, f"should match '{shown}'", value))
    return _Result()


def _check_format(value: str, node: dict, name: str) -> _Result:
    fmt = effective_format(node)
    return _Result() if format_ok(fmt, value) else _fail(_must_be(name, fmt, value))


def _bound(value: int | float, limit: float) -> tuple[int | float, str]:
    """Go compares an int64 against int64(limit), a float64 against the float limit."""
    if isinstance(value, int):
        return int(limit), str(int(limit))
    return limit, go_float(float(limit))


def _check_number(value: int | float, node: dict, name: str) -> _Result:
    result = _Result(matches=1)
    if "multipleOf" in node:
        factor, shown = _bound(value, node["multipleOf"])
        if factor <= 0:
            result.problems.append(Problem(
                "invalid", name, f"factor MultipleOf declared for {name} must be positive: {shown}",
                factor))
        elif (value % factor != 0 if isinstance(value, int)
              else not _whole((1 / factor) * value if factor < 1 else value / factor)):
            result.problems.append(
                _in_body("invalid", name, f"should be a multiple of {shown}", value))
    for key, exclusive, words in (("minimum", "exclusiveMinimum", "greater than"),
                                  ("maximum", "exclusiveMaximum", "less than")):
        if key not in node:
            continue
        limit, shown = _bound(value, node[key])
        strict = bool(node.get(exclusive))
        beyond = value - limit if key == "maximum" else limit - value  # > 0: on the wrong side
        if beyond > 0 or (strict and beyond == 0):
            words = words if strict else f"{words} or equal to"
            result.problems.append(_in_body("invalid", name, f"should be {words} {shown}", value))
    return result


def _check_slice(value: list, node: dict, name: str) -> _Result:
    result = _Result()
    if isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            result.merge(_check(item, node["items"], f"{name}[{i}]"))
    size = len(value)
    if "minItems" in node and size < node["minItems"]:
        text = f"should have at least {node['minItems']} items"
        result.problems.append(_in_body("invalid", name, text, size))
    if "maxItems" in node and size > node["maxItems"]:
        text = f"should have at most {node['maxItems']} items"
        result.problems.append(_in_body("too_many", name, text, size, limit=node["maxItems"]))
    if node.get("uniqueItems") and len({_go_json(v) for v in value}) < size:
        result.problems.append(_in_body("invalid", name, "shouldn't contain duplicates", ""))
    result.matches += 1
    return result


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _check_enum(value: Any, node: dict, name: str) -> _Result:
    allowed = node.get("enum")
    if not allowed or (value is not None and any(_json_equal(value, e) for e in allowed)):
        return _Result()
    problem = _in_body("enum", name, f"should be one of {allowed}", value)
    return _fail(dataclasses.replace(problem, allowed=tuple(allowed)))


def _check_object(value: dict, node: dict, name: str) -> _Result:
    result, size = _Result(), len(value)
    if "minProperties" in node and size < node["minProperties"]:
        text = f"should have at least {node['minProperties']} properties"
        result.problems.append(_in_body("invalid", name, text, size))
    if "maxProperties" in node and size > node["maxProperties"]:
        text = f"should have at most {node['maxProperties']} properties"
        result.problems.append(_in_body("too_many", name, text, size, limit=node["maxProperties"]))
    props, extra = node.get("properties") or {}, node.get("additionalProperties")
    for key, item in value.items():
        if key in props:
            continue
        if extra is False:
            # The field is the object itself; only the message names the key.
            text = f"{name}.{key} in body is a forbidden property"
            result.problems.append(Problem("invalid", name, text, key))
        elif isinstance(extra, dict):
            result.merge(_check(item, extra, f"{name}.{key}"))
    for key, sub in props.items():
        if key in value:
            result.merge(_check(value[key], sub, f"{name}.{key}" if name else key))
    for key in node.get("required") or []:
        if key not in value:
            result.problems.append(_in_body("required", f"{name}.{key}", "is required"))
    return result


def _check(value: Any, node: dict, name: str) -> _Result:
    """kube-openapi's SchemaValidator.Validate for one value against one schema node."""
    result = _Result()
    if value is None:
        result.merge(_check_type(None, node, name))
        result.merge(_check_enum(None, node, name))
        return result
    validators: list[Callable[[Any, dict, str], _Result]] = []
    if _types(node) or effective_format(node):
        validators.append(_check_type)
    validators.append(_check_junctors)
    if isinstance(value, str):
        validators += [_check_string] + ([_check_format] if effective_format(node) else [])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        validators.append(_check_number)
    if isinstance(value, list):
        validators.append(_check_slice)
    validators.append(_check_enum)
    if isinstance(value, dict):
        validators.append(_check_object)
    for check in validators:
        result.merge(check(value, node, name))
        result.matches += 1
    result.matches += 1
    return result


# -- from kube-openapi errors to field errors ---------------------------------------------


def _go_json(value: Any) -> str:
    """json.Marshal of a decoded value (whole floats print without a fraction)."""
    def plain(v: Any) -> Any:
        if isinstance(v, float) and _whole(v):
            return int(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, list) else v
    return json.dumps(plain(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _to_field_error(problem: Problem, prefix: str | None) -> FieldError:
    root = prefix if prefix is not None else "<nil>"  # upstream prints a nil path as <nil>
    if problem.kind == "composite":
        return fe.invalid(root, "", problem.message)
    name = problem.name[1:] if problem.name.startswith(".") else problem.name
    field = (f"{prefix}.{name}" if prefix else name) if name else root
    if problem.kind == "required":
        return fe.required(field)
    if problem.kind == "enum":
        allowed = [v if isinstance(v, str) else _go_json(v) for v in problem.allowed]
        return fe.not_supported(field, problem.value, allowed)
    if problem.kind == "too_long":
        return fe.too_long(field, problem.limit)
    if problem.kind == "too_many":
        return fe.too_many(field, problem.value, problem.limit)
    value = "" if problem.value is None else problem.value
    if problem.kind == "type":
        return fe.type_invalid(field, value, problem.message)
    return fe.invalid(field, value, problem.message)


def validate_value(value: Any, node: dict, prefix: str | None = None) -> list[FieldError]:
    """Validate ``value`` against one raw schema node; field paths start at ``prefix``
    (None, as for a whole custom resource, prints a root-level path as ``<nil>``)."""
    return [_to_field_error(p, prefix) for p in _check(value, node, "").problems]
