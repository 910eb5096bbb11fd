"""SNMPv3 credentials from a credentials file, beside those named by environment variables.

The file is YAML that only its owner can read (mode 0600 or stricter; anything looser is
refused before it is parsed). Its path comes from the playbook's
``probes.snmp.credentials_file`` or, when that is unset, from ``$SENTINEL_CREDENTIALS``::

    version: 1
    snmp_v3:
      - user: sentinel-ro
        auth_protocol: SHA-256
        auth_key: "correct horse battery"
        priv_protocol: AES
        priv_key: "staple grape kettle"

Passphrases become :class:`pydantic.SecretStr` at once. Errors name the file, line and field
but never echo a value: pydantic's messages (which quote the input) are not used as they are.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from sentinel.errors import InputError, PlaybookError, SourceLocation
from sentinel.probe_options import (
    PASSPHRASE_MAX,
    PASSPHRASE_MIN,
    AuthProtocol,
    PrivProtocol,
    ResolvedV3,
    SnmpProbeConfig,
    SnmpV3Credential,
    resolve_v3,
)
from sentinel.yamlio import LocatedDocument, load_yaml

CREDENTIALS_ENV = "SENTINEL_CREDENTIALS"
MAX_FILE_BYTES = 1 << 20  # a credentials file is a few lines; refuse to read a large file
Passphrase = Annotated[SecretStr, Field(min_length=PASSPHRASE_MIN, max_length=PASSPHRASE_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FileV3Credential(_Strict):
    """One USM user with its passphrases."""

    user: Annotated[str, Field(min_length=1, max_length=32)]
    auth_protocol: AuthProtocol = "SHA-256"
    auth_key: Passphrase | None = None
    priv_protocol: PrivProtocol = "AES"
    priv_key: Passphrase | None = None

    @model_validator(mode="after")
    def _privacy_needs_auth(self) -> FileV3Credential:
        if self.priv_key is not None and self.auth_key is None:
            raise ValueError("privacy needs authentication (set auth_key)")
        return self


class CredentialsFile(_Strict):
    """The whole credentials file."""

    version: Literal[1]
    snmp_v3: tuple[FileV3Credential, ...] = ()


def credentials_path(configured: str | None) -> Path | None:
    """The playbook's path if it names one, else ``$SENTINEL_CREDENTIALS``, else None."""
    given = configured or os.environ.get(CREDENTIALS_ENV)
    return Path(given).expanduser() if given else None


def check_private(path: Path, *, what: str = "credentials file",
                  error: type[InputError] = PlaybookError,
                  max_bytes: int = MAX_FILE_BYTES) -> None:
    """Refuse a file of secrets that is missing, not regular, too large, or readable or
    writable by anyone but its owner (mode 0600 or stricter), before a byte of it is read.
    ``what`` names the file in the message (the credentials file, the Elasticsearch config)."""
    where = SourceLocation(str(path))
    try:
        info = path.stat()
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", where) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} is not a regular file", where)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise error(f"{what} has mode {mode:04o}; it must be 0600 or stricter "
                    f"(chmod 600 {path})", where)
    if info.st_size > max_bytes:
        raise error(f"{what} is over {max_bytes} bytes", where)


def load_credentials(path: Path) -> tuple[CredentialsFile, LocatedDocument]:
    """The validated file and its located text (to place later errors); errors carry no
    value from the file."""
    check_private(path)
    doc = load_yaml(path, PlaybookError)
    try:
        return CredentialsFile.model_validate(doc.data), doc
    except ValidationError as exc:
        raise _located(doc, exc) from None


def _located(doc: LocatedDocument, exc: ValidationError) -> PlaybookError:
    first = exc.errors(include_input=False, include_url=False)[0]
    loc = tuple(first["loc"])
    if first["type"] == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}"
    elif first["type"] == "missing":
        message = f"missing required field {loc[-1]!r}"
    else:
        message = first["msg"].removeprefix("Value error, ")  # pydantic's text, never the input
    return PlaybookError(message, doc.locate(loc, ".".join(str(p) for p in loc) or None))


def _from_file(path: Path, taken: set[str]) -> list[ResolvedV3]:
    loaded, doc = load_credentials(path)
    in_playbook = set(taken)
    resolved = []
    for index, entry in enumerate(loaded.snmp_v3):
        if entry.user in taken:
            where = "the playbook's probes.snmp.v3" if entry.user in in_playbook else "this file"
            raise PlaybookError(f"user {entry.user!r} is also in {where}",
                                doc.locate(("snmp_v3", index, "user")))
        taken.add(entry.user)
        names = SnmpV3Credential(user=entry.user, auth_protocol=entry.auth_protocol,
                                 priv_protocol=entry.priv_protocol)
        resolved.append(ResolvedV3(names, entry.auth_key, entry.priv_key))
    return resolved


def snmp_credentials(config: SnmpProbeConfig, *, strict: bool = True) -> tuple[ResolvedV3, ...]:
    """The playbook's environment-backed users, then the credentials file's users.

    ``strict`` applies to unset environment variables (see
    :func:`~sentinel.probe_options.resolve_v3`); a credentials file that cannot be used is
    always an error, raised before anything is sent.
    """
    from_env = resolve_v3(config.v3, strict=strict)
    path = credentials_path(config.credentials_file)
    if path is None:
        return from_env
    return (*from_env, *_from_file(path, {c.user for c in from_env}))
