"""The process's own metrics (counters and histograms), in prometheus_client's default
registry: each process kind increments those of its work, and `/metrics` serves them.

Every label has a bounded set of values: unknown channels and actions are counted as
"other" and "unknown", and the known combinations are created at import, so a series
exists (at 0) before its first event and `rate()` and alerts see it from the first scrape
(`prime`, per process kind: a desk shows no bot turns at 0).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

# `<name>_created` series double every counter and nobody here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Input channels by their Rasa name (`InputChannel.name()`); anything else is "other".
CHANNELS = ("socketio", "sms", "rest")
TURN_OUTCOMES = ("ok", "error", "timeout")
NLU_OUTCOMES = ("understood", "nlu_fallback", "out_of_scope", "external")
ACTION_OUTCOMES = ("ok", "rejected", "not_found", "error")
REDIS_COMPONENTS = ("turn", "broker", "scrape", "readyz")
OUTBOX_STATUSES = ("sent", "delivered", "failed", "skipped", "expired")
SLA_KINDS = ("first_response", "resolve")

TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
ACTION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TURNS = Counter(
    "kefu_turns",
    "User messages the bot handled (Rasa), by input channel and outcome (ok, error, timeout)",
    ["channel", "outcome"],
)
TURN_SECONDS = Histogram(
    "kefu_turn_duration_seconds",
    "Seconds from a user message reaching Rasa to the end of the bot's turn, by input channel",
    ["channel"],
    buckets=TURN_BUCKETS,
)
NLU_MESSAGES = Counter(
    "kefu_nlu_messages",
    "User messages by what NLU made of them (Rasa): understood, nlu_fallback (too unsure), "
    "out_of_scope, external (an EXTERNAL_ intent the desk triggered)",
    ["channel", "outcome"],
)
REDIS_ERRORS = Counter(
    "kefu_redis_errors",
    "Redis errors this process met, by where: a bot turn, the event broker, a /metrics "
    "scrape, a /readyz check",
    ["component"],
)
ACTION_CALLS = Counter(
    "kefu_action_calls",
    "Custom action calls (action server), by action and outcome (ok, rejected, not_found, error)",
    ["action", "outcome"],
)
ACTION_SECONDS = Histogram(
    "kefu_action_duration_seconds",
    "Seconds the action server took to run a custom action, by action",
    ["action"],
    buckets=ACTION_BUCKETS,
)
OUTBOX_FINISHED = Counter(
    "kefu_outbox_messages",
    "SMS outbox messages leaving the queue (desk senders), by status: sent (to Twilio), "
    "delivered (local sink), failed, skipped, expired",
    ["status"],
)
SLA_BREACHES = Counter(
    "kefu_sla_breaches",
    "Ticket SLA deadlines missed and escalated by this desk's SLA monitor (sum over desks), "
    "by deadline kind",
    ["kind"],
)
BROKER_DROPPED = Counter(
    "kefu_broker_dropped_events",
    "Tracker events the event broker dropped (Rasa): its buffer filled while Redis was unreachable",
)


def channel_label(name: str | None) -> str:
    return name if name in CHANNELS else "other"


def prime(kind: str) -> None:
    """Creates the known series of a process kind ("desk", "rasa", "actions") at 0."""
    for component in REDIS_COMPONENTS:
        REDIS_ERRORS.labels(component)
    if kind == "rasa":
        for channel in (*CHANNELS, "other"):
            TURN_SECONDS.labels(channel)
            for outcome in TURN_OUTCOMES:
                TURNS.labels(channel, outcome)
            for outcome in NLU_OUTCOMES:
                NLU_MESSAGES.labels(channel, outcome)
    elif kind == "desk":
        for status in OUTBOX_STATUSES:
            OUTBOX_FINISHED.labels(status)
        for kind_ in SLA_KINDS:
            SLA_BREACHES.labels(kind_)
