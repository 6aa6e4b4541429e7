"""ConfigMaps and Secrets: the two key/value kinds that pods mount as files or env vars.

Where it sits: ``core.RULES["ConfigMap"]`` and ``core.RULES["Secret"]`` point here. By
the time these run, the Secret defaults have folded ``stringData`` into ``data``
(base64), as upstream's conversion does, so only ``data`` is checked.

What it promises: upstream's rules. Every key is a valid file name
(``[-._a-zA-Z0-9]+``, at most 253 characters), the values together stay under 1 MiB
(what etcd accepts), a key is not in both ``data`` and ``binaryData``, a typed Secret
carries the keys its type needs, and ``immutable: true`` freezes the data for good.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..fielderrors import FieldError, Path, forbidden, invalid, required, too_long
from .formats import is_config_map_key
from .meta import FIELD_IMMUTABLE

MAX_SIZE = 1024 * 1024  # MaxSecretSize: ConfigMaps are held to the same limit
_FROZEN = "field is immutable when `immutable` is set"
_DATA = Path("data")


def decoded_size(value: Any) -> int:
    """How many bytes a base64 value of ``data``/``binaryData`` stands for."""
    text = value if isinstance(value, str) else ""
    try:
        return len(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return len(text)  # not base64 at all; the decoder reports that, count it as it is


def _decode(value: Any) -> bytes | None:
    try:
        return base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except (binascii.Error, ValueError):
        return None


def _keys(mapping: dict, path: Path) -> list[FieldError]:
    return [invalid(str(path.key(key)), key, msg)
            for key in mapping for msg in is_config_map_key(key)]


# -- ConfigMap ------------------------------------------------------------------------------------


def validate_config_map(cm: dict) -> list[FieldError]:
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    errs: list[FieldError] = []
    for key in data:
        errs += [invalid(str(_DATA.key(key)), key, msg) for msg in is_config_map_key(key)]
        if key in binary:
            errs.append(invalid(str(_DATA.key(key)), key, "duplicate of key present in binaryData"))
    errs += _keys(binary, Path("binaryData"))
    size = sum(len(str(v).encode("utf-8")) for v in data.values())
    size += sum(decoded_size(v) for v in binary.values())
    if size > MAX_SIZE:
        # Upstream reports this against the object as a whole: an empty field path.
        errs.append(too_long("", MAX_SIZE))
    return errs


def validate_config_map_update(new: dict, old: dict) -> list[FieldError]:
    errs = _frozen(new, old, ("data", "binaryData"))
    return errs + validate_config_map(new)


def _frozen(new: dict, old: dict, fields: tuple[str, ...]) -> list[FieldError]:
    if old.get("immutable") is not True:
        return []
    errs = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", _FROZEN))
    errs += [forbidden(f, _FROZEN) for f in fields if (new.get(f) or None) != (old.get(f) or None)]
    return errs


# -- Secret ---------------------------------------------------------------------------------------


def validate_secret(secret: dict) -> list[FieldError]:
    data = secret.get("data") or {}
    errs = _keys(data, _DATA)
    if sum(decoded_size(v) for v in data.values()) > MAX_SIZE:
        errs.append(too_long(str(_DATA), MAX_SIZE))
    return errs + _type_requirements(secret, data)


def _type_requirements(secret: dict, data: dict) -> list[FieldError]:
    """The keys each built-in Secret type needs, so that its consumers can rely on them."""
    kind = secret.get("type") or ""
    if kind == "kubernetes.io/service-account-token":
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            annotation = Path("metadata", "annotations").key("kubernetes.io/service-account.name")
            return [required(str(annotation))]
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if kind == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if key not in data:
            return [required(str(_DATA.key(key)))]
        return _json_object(data[key], _DATA.key(key))
    elif kind == "kubernetes.io/basic-auth":
        # Either may be empty, but one of the two must be there.
        if "username" not in data and "password" not in data:
            return [required(str(_DATA.key("username"))), required(str(_DATA.key("password")))]
    elif kind == "kubernetes.io/ssh-auth":
        if not _decode(data.get("ssh-privatekey")):
            return [required(str(_DATA.key("ssh-privatekey")))]
    elif kind == "kubernetes.io/tls":
        return [required(str(_DATA.key(k))) for k in ("tls.crt", "tls.key") if k not in data]
    return []


def _json_object(value: Any, path: Path) -> list[FieldError]:
    raw = _decode(value)
    try:
        if raw is None or not isinstance(json.loads(raw), dict):
            raise ValueError("must be a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        # The contents are credentials: never echo them back.
        return [invalid(str(path), "<secret contents redacted>", str(e))]
    return []


def validate_secret_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    if (new.get("type") or "") != (old.get("type") or ""):
        errs.append(invalid("type", new.get("type") or "", FIELD_IMMUTABLE))
    errs += _frozen(new, old, ("data",))
    return errs + validate_secret(new)
