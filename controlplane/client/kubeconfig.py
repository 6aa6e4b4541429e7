"""Reading a kubeconfig into the settings one REST client needs.

Where it sits: the first step of every component that talks to the cluster. The
controller manager, the scheduler and the node agents are started with
``--kubeconfig PATH``, exactly like their upstream counterparts, and
:class:`~controlplane.client.rest.Client` is built from what this module returns.

What it understands (the fields kubectl uses, with kubectl's precedence):

* context selection: the ``context`` argument, else ``current-context``;
* cluster: ``server``, ``certificate-authority`` (a file, relative to the kubeconfig)
  or ``certificate-authority-data`` (base64 PEM), ``insecure-skip-tls-verify``;
* user: ``client-certificate``/``client-key`` or their ``-data`` forms, ``token`` or
  ``tokenFile``;
* the context's ``namespace`` (default "default").

``requests`` wants certificates as files, so ``-data`` fields are written once to a
private temporary directory (mode 0700) that lives as long as the process.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = "~/.kube/config"


class KubeconfigError(ValueError):
    """The kubeconfig is missing something the client needs; the message says what."""


@dataclasses.dataclass(frozen=True)
class ConnectionConfig:
    """How to reach and authenticate to the API server.

    ``servers`` lists every endpoint that serves the same cluster; the client uses the
    first that answers and moves on when one stops answering (three masters, no load
    balancer).
    """

    servers: tuple[str, ...]
    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    token: str | None = None
    insecure_skip_tls_verify: bool = False
    namespace: str = "default"

    @property
    def verify(self) -> bool | str:
        """The ``verify`` argument requests takes: False, a CA bundle path, or True (system CAs)."""
        if self.insecure_skip_tls_verify:
            return False
        return self.ca_file or True

    @property
    def cert(self) -> tuple[str, str] | None:
        if self.client_cert_file and self.client_key_file:
            return (self.client_cert_file, self.client_key_file)
        return None


def load_kubeconfig(path: str | os.PathLike[str] | None = None, *, context: str | None = None,
                    extra_servers: tuple[str, ...] | list[str] = ()) -> ConnectionConfig:
    """Load ``path`` (default ``$KUBECONFIG`` or ``~/.kube/config``) for ``context``.

    ``extra_servers`` are further endpoints of the same cluster, tried after the
    kubeconfig's own ``server`` when it does not answer.

    Raises :class:`KubeconfigError` when the file, the context, its cluster or its
    user are missing.
    """
    file = Path(os.path.expanduser(str(path or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
                                       or DEFAULT_PATH)))
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except OSError as e:
        raise KubeconfigError(f"cannot read kubeconfig {file}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise KubeconfigError(f"kubeconfig {file} is not valid YAML: {e}") from None
    return config_from_dict(doc, base_dir=file.parent, context=context, extra_servers=extra_servers)


def config_from_dict(doc: dict[str, Any], *, base_dir: Path, context: str | None = None,
                     extra_servers: tuple[str, ...] | list[str] = ()) -> ConnectionConfig:
    """The same as :func:`load_kubeconfig` for an already parsed document."""
    name = context or doc.get("current-context")
    if not name:
        raise KubeconfigError("the kubeconfig has no current-context; pass a context name")
    ctx = _named(doc, "contexts", "context", name)
    cluster = _named(doc, "clusters", "cluster", ctx.get("cluster"))
    user = _named(doc, "users", "user", ctx["user"]) if ctx.get("user") else {}

    server = cluster.get("server")
    if not server:
        raise KubeconfigError(f"cluster {ctx.get('cluster')!r} has no server")
    servers = tuple(dict.fromkeys([server.rstrip("/"), *(s.rstrip("/") for s in extra_servers)]))

    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _resolve(base_dir, user["tokenFile"]).read_text().strip()
    return ConnectionConfig(
        servers=servers,
        ca_file=_file_or_data(base_dir, cluster, "certificate-authority", "ca.crt"),
        client_cert_file=_file_or_data(base_dir, user, "client-certificate", "client.crt"),
        client_key_file=_file_or_data(base_dir, user, "client-key", "client.key"),
        token=token or None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=ctx.get("namespace") or "default",
    )


def _named(doc: dict[str, Any], section: str, field: str, name: str | None) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if entry.get("name") == name:
            return dict(entry.get(field) or {})
    raise KubeconfigError(f"the kubeconfig has no {field} named {name!r} (in {section})")


def _resolve(base_dir: Path, value: str) -> Path:
    # kubectl resolves relative paths against the kubeconfig's own directory.
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base_dir / p


def _file_or_data(base_dir: Path, section: dict[str, Any], field: str, filename: str) -> str | None:
    """A path for ``field``: the file it names, or a private file holding ``field-data``."""
    data = section.get(f"{field}-data")
    if data:
        try:
            pem = base64.b64decode(data, validate=True)
        except ValueError:
            raise KubeconfigError(f"{field}-data is not valid base64") from None
        return _write_private(filename, pem)
    if section.get(field):
        return str(_resolve(base_dir, section[field]))
    return None


_tmpdir: str | None = None


def _write_private(filename: str, content: bytes) -> str:
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="kubeclass-kubeconfig-")  # mkdtemp makes it 0700
        atexit.register(shutil.rmtree, _tmpdir, True)
    fd, path = tempfile.mkstemp(dir=_tmpdir, suffix="-" + filename)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return path
