"""Authentication: who is calling. (Authorization, RBAC, comes in a later issue.)

Where it sits: runs before every request (``app.py``), after TLS. Two ways in, as in
kube-apiserver:

* a client certificate signed by the cluster CA: the subject's CN is the user name,
  its O entries are the groups;
* a bearer token listed in the static token file (``--token-auth-file`` format:
  ``token,user,uid,"group1,group2"``).

Everyone authenticated also belongs to ``system:authenticated``. Health and version
are public; everything else without valid credentials is ``401 Unauthorized``.
For now every authenticated user may do everything (the README says so).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""


def parse_token_file(text: str) -> dict[str, User]:
    tokens = {}
    for row in csv.reader(io.StringIO(text)):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 3:
            raise ValueError(f"token file line needs token,user,uid[,groups]: {row!r}")
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        tokens[row[0].strip()] = User(row[1].strip(), groups, row[2].strip())
    return tokens


class Authenticator:
    def __init__(self, tokens: dict[str, User]) -> None:
        self.tokens = tokens

    def authenticate(self, environ: dict[str, Any], authorization: str | None) -> User | None:
        """The caller, or None when the request carries no valid credentials."""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            user = self.tokens.get(token.strip())
            return _authenticated(user) if user else None
        sock = environ.get("gunicorn.socket")
        cert = sock.getpeercert() if hasattr(sock, "getpeercert") else None
        if cert:  # present only when it verified against the cluster CA (CERT_OPTIONAL)
            return _authenticated(_user_from_cert(cert))
        return None


def _user_from_cert(cert: dict[str, Any]) -> User:
    name, groups = "", []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    return User(name, tuple(groups))


def _authenticated(user: User) -> User:
    if "system:authenticated" in user.groups:
        return user
    return dataclasses.replace(user, groups=(*user.groups, "system:authenticated"))
