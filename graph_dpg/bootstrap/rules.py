"""Gateway file (``graph_dpg.config``) → the pure rule engine's types and the inbound service's settings.

Kept out of ``graph_dpg.domain`` because the domain must not import the settings layer. Regular
expressions are compiled again here with the ``regex`` engine (the config layer checks them with ``re`` at
load): only ``regex`` can abandon a catastrophic match after a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph_dpg.config import Condition, GatewayConfig, Rule, Settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.domain.routing import ContactPointRoute, InboundSettings
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition, RuleDefinitionError


def _condition(rule: Rule, cond: Condition) -> RuleCondition:
    try:
        return RuleCondition.make(cond.field, cond.op, cond.value, cond.case_sensitive)
    except RuleDefinitionError as exc:
        raise ConfigError(f"rule {rule.name!r}: {exc}", [f"rules: {rule.name}: {exc}"]) from None


def rules_from_config(rules: Sequence[Rule]) -> tuple[RoutingRule, ...]:
    """The gateway file's rules as domain rules, in file order (the engine orders by priority)."""
    out: list[RoutingRule] = []
    for rule in rules:
        act = rule.actions
        out.append(
            RoutingRule(
                name=rule.name,
                priority=rule.priority,
                enabled=rule.enabled,
                match=rule.match,
                conditions=tuple(_condition(rule, c) for c in rule.conditions),
                exceptions=tuple(_condition(rule, c) for c in rule.exceptions),
                description=rule.description,
                action=RuleAction(
                    deliver_mailbox=act.deliver_to.mailbox if act.deliver_to else None,
                    deliver_folder=act.deliver_to.folder if act.deliver_to else None,
                    categories=tuple(act.categories),
                    mark_read=act.mark_read,
                    archive_to=act.archive_to,
                    stop=act.stop,
                ),
            )
        )
    return tuple(out)


_MB = 1024 * 1024


def inbound_settings(config: GatewayConfig, settings: Settings | None = None) -> InboundSettings:
    """What the composition root passes to :class:`graph_dpg.services.inbound.InboundService`."""
    return InboundSettings(
        organisation_cvr=config.organisation.cvr,
        organisation_name=config.organisation.name,
        gateway_domain=config.gateway_domain,
        main_mailbox=config.main_mailbox,
        monitoring_mailbox=config.monitoring_mailbox,
        contact_points={
            cp.id: ContactPointRoute(cp.id, cp.name, cp.mailbox, cp.folder) for cp in config.contact_points
        },
        sender_contact_points={
            box.address: frozenset(box.sender_contact_points) for box in config.function_mailboxes
        },
        rules=rules_from_config(config.rules),
        categories={key: (spec.name, spec.color) for key, spec in config.categories.items()},
        inbox_sources=tuple(config.inbox_sources()),
        rule_timeout_seconds=settings.rule_timeout_seconds if settings is not None else 5.0,
        language=settings.receipt_language if settings is not None else "da",
        fallback_after_seconds=float(settings.inbound_fallback_seconds) if settings is not None else 3600.0,
        routed_folder=settings.routed_folder
        if settings is not None and settings.routed_original == "move"
        else None,
        routed_mark=settings is not None,
        max_message_bytes=(settings.max_message_mb if settings is not None else 35) * _MB,
        mailbox_max_message_bytes={
            box.address.lower(): box.max_message_mb * _MB
            for box in config.function_mailboxes
            if box.max_message_mb is not None
        },
        forwarded_mailboxes=frozenset(
            box.address.lower() for box in config.function_mailboxes if box.digital_post_smtp is not None
        ),
        forwarded_receipt=any(box.digital_post_smtp == "rest-receipt" for box in config.function_mailboxes),
    )
