"""Playbook options of the ssh and snmp probe kinds (``probes: {ssh: ..., snmp: ...}``).

Secrets never live in a playbook: an SNMPv3 credential names the *environment variables*
that hold its passphrases (``auth_key_env``, ``priv_key_env``), or the users come from a
credentials file (:mod:`sentinel.credentials`). They are read only when the scan is
planned, into :class:`pydantic.SecretStr` values whose ``repr`` and ``str`` are masked, so
a logged probe or a rendered exception cannot show them.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sentinel.errors import PlaybookError

AuthProtocol = Literal["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"]
PrivProtocol = Literal["DES", "3DES", "AES", "AES-192", "AES-256"]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SshProbeConfig(_Strict):
    """Identification and KEXINIT of each SSH port; never logs in."""

    ports: tuple[Port, ...] = (22,)
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


class SnmpV3Credential(_Strict):
    """One USM user; the passphrases come from the named environment variables."""

    user: Annotated[str, Field(min_length=1, max_length=32)]
    auth_protocol: AuthProtocol | None = "SHA-256"
    auth_key_env: EnvName | None = None
    priv_protocol: PrivProtocol | None = "AES"
    priv_key_env: EnvName | None = None

    @property
    def level(self) -> str:
        """The USM security level this credential is configured for."""
        if self.auth_key_env is None:
            return "noAuthNoPriv"
        return "authPriv" if self.priv_key_env else "authNoPriv"


class SnmpProbeConfig(_Strict):
    """v1/v2c default-community check, v3 discovery and v3 reads with supplied users."""

    port: Port = 161
    # None: the short default list in probes/snmp.yml; at most 8 either way (never guessing).
    communities: Annotated[tuple[str, ...], Field(max_length=8)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    retries: Annotated[int, Field(ge=0, le=3)] = 0
    budget_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    v3: tuple[SnmpV3Credential, ...] = ()
    # A YAML file of v3 users and passphrases, mode 0600 (sentinel/credentials.py); unset:
    # $SENTINEL_CREDENTIALS, if set.
    credentials_file: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class ResolvedV3:
    """A credential with its passphrases read from the environment (masked everywhere)."""

    __slots__ = ("auth_key", "auth_protocol", "missing", "priv_key", "priv_protocol", "user")

    def __init__(self, credential: SnmpV3Credential, auth_key: SecretStr | None,
                 priv_key: SecretStr | None, missing: str | None = None) -> None:
        self.user = credential.user
        self.missing = missing  # why the credential cannot be used (names only, no values)
        self.auth_protocol = credential.auth_protocol if auth_key else None
        self.priv_protocol = credential.priv_protocol if priv_key else None
        self.auth_key = auth_key
        self.priv_key = priv_key

    @property
    def level(self) -> str:
        if self.auth_key is None:
            return "noAuthNoPriv"
        return "authPriv" if self.priv_key else "authNoPriv"

    def __repr__(self) -> str:
        return f"ResolvedV3(user={self.user!r}, level={self.level!r})"


# RFC 3414 2.6: a passphrase is at least 8 octets; longer than 256 characters is a mistake
# (the credentials file holds its passphrases to the same bounds).
PASSPHRASE_MIN = 8
PASSPHRASE_MAX = 256


def _secret(name: str | None, where: str) -> SecretStr | None:
    """The passphrase in environment variable ``name``, masked at once. Every error names the
    variable and says what is wrong with its value, never the value (nor a piece of it)."""
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise PlaybookError(f"{where}: environment variable {name} is not set or empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PlaybookError(f"{where}: environment variable {name} is not UTF-8 text") from None
    if len(value) < PASSPHRASE_MIN:
        raise PlaybookError(f"{where}: environment variable {name} holds a passphrase shorter "
                            f"than {PASSPHRASE_MIN} characters (RFC 3414)")
    if len(value) > PASSPHRASE_MAX:
        raise PlaybookError(f"{where}: environment variable {name} holds a passphrase longer "
                            f"than {PASSPHRASE_MAX} characters")
    return SecretStr(value)


def resolve_v3(credentials: tuple[SnmpV3Credential, ...], *,
               strict: bool = True) -> tuple[ResolvedV3, ...]:
    """Read each credential's passphrases from the environment.

    With ``strict`` a missing variable, or a passphrase too short or too long, is a
    :class:`PlaybookError` naming the variable; without it (a scan, where one bad variable
    must not stop every other probe) the credential is kept, marked unusable, and the snmp
    probe records why (names only: the value never reaches a message, a log or the store).
    """
    resolved = []
    for index, credential in enumerate(credentials):
        where = f"probes.snmp.v3[{index}]"
        if credential.priv_key_env is not None and credential.auth_key_env is None:
            raise PlaybookError(f"{where}: privacy needs authentication (set auth_key_env)")
        try:
            auth = _secret(credential.auth_key_env, f"{where}.auth_key_env")
            priv = _secret(credential.priv_key_env, f"{where}.priv_key_env")
        except PlaybookError as exc:
            if strict:
                raise
            resolved.append(ResolvedV3(credential, None, None, missing=exc.message))
            continue
        resolved.append(ResolvedV3(credential, auth, priv))
    return tuple(resolved)
