"""The intents and FAQ keys every channel, story and test may rely on
(docs/architecture.md, "Contracts")."""

from __future__ import annotations

CONTRACT_INTENTS = {
    "greet", "goodbye", "thank", "affirm", "deny", "report_outage", "ask_outage_info",
    "ask_bill", "pay_bill", "complain", "human_handoff", "check_ticket", "subscribe",
    "unsubscribe", "rate", "out_of_scope",
}  # fmt: skip
FAQ_KEYS = {
    "business_hours", "tiered_pricing", "time_of_use", "new_connection", "account_transfer",
    "meter_reading", "meter_accuracy", "e_invoice", "reconnection", "outage_compensation",
    "electrical_safety", "capacity_increase", "hotline", "ev_charger", "solar_pv", "privacy",
}  # fmt: skip
