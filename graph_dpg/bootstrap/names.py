"""Wiring of the name lookups: settings → the Datafordeler and CVR adapters → :class:`NameService`.

Lookups are optional: a register whose settings are absent is left out, and the service then answers
``error`` ("not configured") for its numbers without any request.
"""

from __future__ import annotations

from graph_dpg.adapters.cvr import CvrSearch
from graph_dpg.adapters.datafordeler import DatafordelerCpr
from graph_dpg.config import Settings
from graph_dpg.ports.names import NameRegister
from graph_dpg.services.names import NameService


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else None


def make_name_registers(settings: Settings) -> list[NameRegister]:
    registers: list[NameRegister] = []
    if settings.cpr_lookup_enabled:
        certificate = settings.datafordeler_certificate_path or settings.ngdp_certificate_path
        password = settings.datafordeler_certificate_password or (
            settings.ngdp_certificate_password if settings.datafordeler_certificate_path is None else None
        )
        assert certificate is not None  # settings validation requires one
        assert settings.datafordeler_token_url is not None
        assert settings.datafordeler_client_id is not None
        registers.append(
            DatafordelerCpr(
                token_url=settings.datafordeler_token_url,
                graphql_base_url=settings.datafordeler_graphql_url,
                client_id=settings.datafordeler_client_id,
                certificate_path=certificate,
                certificate_password=_secret(password),
                ca_bundle=settings.datafordeler_ca_bundle,
                sector=settings.datafordeler_sector,
                timeout_seconds=settings.name_lookup_timeout_seconds,
            )
        )
    if settings.cvr_lookup_enabled:
        assert settings.cvr_base_url is not None
        assert settings.cvr_username is not None
        registers.append(
            CvrSearch(
                base_url=settings.cvr_base_url,
                username=settings.cvr_username,
                password=_secret(settings.cvr_password) or "",
                ca_bundle=settings.cvr_ca_bundle,
                timeout_seconds=settings.name_lookup_timeout_seconds,
            )
        )
    return registers


def make_name_service(settings: Settings) -> NameService:
    return NameService(make_name_registers(settings), ttl_seconds=settings.name_cache_ttl_seconds)
