"""What every provisioning module shares: declared arguments and the `Result`.

Data flow (B): executor ─▶ **module** (check → apply → Result{changed, diff}) ─▶ transport.
A module class declares its arguments in `ARGS`; unknown or missing arguments are an
`ArgumentError` with one line saying which, raised both when the playbook is loaded
(`check_names`) and, after templating, when the task runs (`validate`).

A module's `run()` reads the current state through the transport, decides whether
anything must change, and puts every side effect behind `if changed and not
self.check_mode`. It returns a `Result`; `data` carries extra facts for `register`
and for the executor (e.g. `path` of the file written, `stdout` of a command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from provision.remotefs import parse_mode
from provision.transport import CommandError, Transport, Unreachable

TRUE = {"yes", "true", "on", "1"}
FALSE = {"no", "false", "off", "0"}


@dataclass
class Result:
    changed: bool
    msg: str = ""
    diff: str | None = None
    failed: bool = False
    data: dict[str, Any] = field(default_factory=dict)


class ArgumentError(ValueError):
    """A task gave a module arguments it does not take, or left out one it needs."""


@dataclass(frozen=True)
class Arg:
    type: str = "str"  # str | int | float | bool | list | path | mode | raw
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


def _convert(module: str, name: str, spec: Arg, value: Any) -> Any:
    where = f"{module}: argument {name!r}"
    if spec.type == "raw":
        return value
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in TRUE | FALSE:
            return str(value).lower() in TRUE
        raise ArgumentError(f"{where} must be a boolean, got {value!r}")
    if spec.type in ("int", "float"):
        try:
            return int(value) if spec.type == "int" else float(value)
        except (TypeError, ValueError):
            raise ArgumentError(f"{where} must be a number, got {value!r}") from None
    if spec.type == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ArgumentError(f"{where} must be a list, got {value!r}")
        return [str(v) for v in value]
    if spec.type == "mode":
        try:
            return parse_mode(value)
        except ValueError as exc:
            raise ArgumentError(f"{where}: {exc}") from None
    if isinstance(value, (dict, list)):
        raise ArgumentError(f"{where} must be a string, got {type(value).__name__}")
    text = str(value)
    if spec.type == "path" and not text.startswith("/"):
        raise ArgumentError(f"{where} must be an absolute path, got {text!r}")
    if spec.choices and text not in spec.choices:
        raise ArgumentError(f"{where} must be one of {', '.join(spec.choices)}; got {text!r}")
    return text


class Module:
    NAME: ClassVar[str] = ""
    ARGS: ClassVar[dict[str, Arg]] = {}
    FREE_FORM: ClassVar[str | None] = None  # the argument a bare string fills (`command: ls`)
    ONE_OF: ClassVar[tuple[str, ...]] = ()  # exactly one of these must be given

    def __init__(
        self, transport: Transport, args: dict[str, Any], check_mode: bool = False,
        facts: dict[str, Any] | None = None, *,
        variables: dict[str, Any] | None = None, base_dir: Path | None = None,
        role_dir: Path | None = None,
    ) -> None:
        self.t = transport
        self.args = self.validate(args)
        self.check_mode = check_mode
        self.facts = facts if facts is not None else {}
        self.variables = variables or {}
        self.base_dir = base_dir or Path.cwd()
        self.role_dir = role_dir

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        """The task's module value as an argument dict (a bare string fills FREE_FORM)."""
        if raw is None:
            return {}
        if isinstance(raw, str) and cls.FREE_FORM:
            return {cls.FREE_FORM: raw}
        if not isinstance(raw, dict):
            raise ArgumentError(f"{cls.NAME}: arguments must be a mapping, got {raw!r}")
        return dict(raw)

    @classmethod
    def check_names(cls, args: dict[str, Any]) -> None:
        unknown = sorted(set(args) - set(cls.ARGS))
        if unknown:
            raise ArgumentError(
                f"{cls.NAME}: unknown argument {unknown[0]!r} "
                f"(takes: {', '.join(sorted(cls.ARGS))})"
            )
        missing = [n for n, spec in cls.ARGS.items() if spec.required and n not in args]
        if missing:
            raise ArgumentError(f"{cls.NAME}: missing required argument {missing[0]!r}")
        given = [n for n in cls.ONE_OF if args.get(n) is not None]
        if cls.ONE_OF and len(given) != 1:
            raise ArgumentError(f"{cls.NAME}: give exactly one of {', '.join(cls.ONE_OF)}")

    @classmethod
    def validate(cls, args: dict[str, Any]) -> dict[str, Any]:
        cls.check_names(args)
        out = {}
        for name, spec in cls.ARGS.items():
            value = args.get(name)
            out[name] = spec.default if value is None else _convert(cls.NAME, name, spec, value)
        return out

    def run(self) -> Result:
        raise NotImplementedError

    def resolve_src(self, src: str) -> Path:
        """A controller-side source path: absolute; else, for a role's task, in the role's
        templates/ (first for `template`) or files/ (first for `copy`); else relative to the
        playbook's directory, then its templates/ and files/, as Ansible lays them out."""
        path = Path(src)
        if path.is_absolute():
            return path
        candidates = []
        if self.role_dir is not None:
            order = ("templates", "files") if self.NAME == "template" else ("files", "templates")
            candidates += [self.role_dir / sub / src for sub in order]
        candidates += [self.base_dir / src, self.base_dir / "templates" / src,
                       self.base_dir / "files" / src]
        for candidate in candidates:
            if candidate.exists():
                return candidate
        where = f"{self.role_dir}/{{templates,files}}, " if self.role_dir else ""
        raise FileNotFoundError(f"{src} (looked in {where}{self.base_dir} and its templates/, "
                                "files/)")


def run_module(module_cls: type[Module], transport: Transport, args: dict[str, Any],
               check_mode: bool = False, facts: dict[str, Any] | None = None,
               **context: Any) -> Result:
    """Run one module; anything it raises becomes a failed Result except `Unreachable`,
    which the executor must see to mark the host unreachable."""
    try:
        return module_cls(transport, args, check_mode, facts, **context).run()
    except Unreachable:
        raise
    except (ArgumentError, CommandError) as exc:
        return Result(changed=False, msg=str(exc), failed=True)
    except OSError as exc:
        return Result(changed=False, msg=f"{type(exc).__name__}: {exc}", failed=True)
