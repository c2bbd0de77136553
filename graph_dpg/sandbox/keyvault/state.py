"""What the Key Vault emulator holds: secrets with their versions, who may read them, what was asked."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class SecretVersion:
    """One version of a secret (the REST API's SecretBundle without id/kid, which depend on the URL)."""

    version: str
    value: str
    content_type: str | None
    enabled: bool = True
    created: int = 0
    not_before: int | None = None
    expires: int | None = None
    managed: bool = False  # True for a certificate's secret (Key Vault manages its lifetime)


@dataclass
class VaultState:
    """Secrets by name (versions oldest first; the last is the current one) and the access rules.

    ``token``: the one bearer token accepted (401 with the challenge otherwise). ``forbidden``: every
    authenticated request is refused with 403 (the identity lacks a role on the vault); ``forbidden_names``:
    only these secrets are refused. ``tenant_id`` goes into the challenge's authorization URI.
    """

    token: str = "keyvault-token"  # noqa: S105 - the emulator's fake token
    tenant_id: str = "00000000-0000-0000-0000-000000000000"
    resource: str = "https://vault.azure.net"
    forbidden: bool = False
    forbidden_names: set[str] = field(default_factory=set)
    unavailable: bool = False  # every request answers 503 (a vault that is down)
    page_size: int = 25
    secrets: dict[str, list[SecretVersion]] = field(default_factory=dict)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, path, had a token)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        managed: bool = True,
        enabled: bool = True,
        created: int | None = None,
    ) -> SecretVersion:
        """Add a new current version of ``name`` (as importing or renewing a certificate does)."""
        with self._lock:
            versions = self.secrets.setdefault(name, [])
            stamp = created if created is not None else int(time.time())
            if versions and stamp <= versions[-1].created:
                stamp = versions[-1].created + 1  # versions keep their order in the listing
            added = SecretVersion(uuid.uuid4().hex, value, content_type, enabled, stamp, managed=managed)
            versions.append(added)
            return added

    def current(self, name: str) -> SecretVersion | None:
        with self._lock:
            versions = self.secrets.get(name)
            return versions[-1] if versions else None

    def version(self, name: str, version: str) -> SecretVersion | None:
        with self._lock:
            for item in self.secrets.get(name, ()):
                if item.version == version:
                    return item
            return None

    def versions(self, name: str) -> list[SecretVersion] | None:
        with self._lock:
            found = self.secrets.get(name)
            return list(found) if found is not None else None

    def log(self, method: str, path: str, had_token: bool) -> None:
        with self._lock:
            self.requests.append((method, path, had_token))
