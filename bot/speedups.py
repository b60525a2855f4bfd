"""Two of Rasa 3.6's per-turn costs, removed without changing what Rasa does; installed
once per Rasa process by bot.rasa_server. Measured with py-spy on a loaded Rasa
(docs/performance.md):

- every action server response is checked against Rasa's JSON schema with
  `jsonschema.validate`, which first checks the schema itself against the JSON Schema
  meta-schema: a third of the process's time. The validator is now built, and the schema
  checked, once; each response is still validated against the same schema and raises
  the same ValidationError.
- every stored event is turned back into its class by `Event.resolve_by_type`, which walks
  every subclass of Event for each event of each tracker read: 6%. The name-to-class map
  is now kept, and rebuilt when a name is missing (a subclass defined later).
"""

from __future__ import annotations

from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

_original_validate: Any = None
_validator: Any = None
_events_by_name: dict[str, type[Event]] = {}


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    global _validator
    if _validator is None:
        schema = RemoteAction.action_response_format_spec()
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    if exceptions.best_match(_validator.iter_errors(result)) is None:
        return True
    # Invalid (rare): Rasa's own check raises its ValidationError with its message.
    return bool(_original_validate(self, result))


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    found = _events_by_name.get(type_name)
    if found is None:
        _events_by_name.clear()
        for cls in all_subclasses(Event):
            _events_by_name.setdefault(cls.type_name, cls)  # the first, as Rasa's loop
        found = _events_by_name.get(type_name)
    if found is not None:
        return found
    if type_name == "topic":
        return None  # as Rasa: old TopicSet events
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


def install() -> None:
    """Once per process (idempotent)."""
    global _original_validate
    if _original_validate is None:
        _original_validate = RemoteAction._validate_action_result
        RemoteAction._validate_action_result = _validate_action_result
        Event.resolve_by_type = staticmethod(_resolve_by_type)
