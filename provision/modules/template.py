"""template: render a Jinja2 template on the controller, then converge it like `copy`.

Data flow (B): executor (variables + facts) ─▶ **template module** ─▶ copy's
`ensure_content` ─▶ transport ─▶ host. Rendering uses StrictUndefined, so a misspelt
variable fails the task with its name instead of writing an empty string into a config
file. The host sees only the rendered bytes; it needs no Jinja2.
"""

from __future__ import annotations

import jinja2

from provision.modules.base import Arg, Module, Result
from provision.modules.copy import FILE_ARGS, ensure_content


class Template(Module):
    NAME = "template"
    ARGS = {**FILE_ARGS, "src": Arg(required=True)}

    def run(self) -> Result:
        src = self.resolve_src(self.args["src"])
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(src.parent)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        try:
            text = env.get_template(src.name).render(self.variables)
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{src.name}:{line}" if line else src.name
            return Result(False, f"template {where}: {exc}", failed=True)
        return ensure_content(self, text.encode())
