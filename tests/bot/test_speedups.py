"""bot/speedups.py: the same answers as Rasa's own code, computed once."""

from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

from bot import speedups

speedups.install()
ACTION = RemoteAction("action_x", None)


def test_a_valid_action_server_response_passes() -> None:
    response = {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": []}
    assert ACTION._validate_action_result(response) is True


@pytest.mark.parametrize(
    "response",
    [{"events": "not a list"}, {"events": [{"no_event_key": 1}]}, {"responses": [1]}],
)
def test_an_invalid_response_raises_rasas_error(response: dict) -> None:
    with pytest.raises(ValidationError) as error:
        ACTION._validate_action_result(response)
    assert "Failed to validate Action server response" in error.value.message


def test_every_event_name_resolves_to_the_class_rasas_loop_finds() -> None:
    first: dict[str, type] = {}
    for cls in all_subclasses(Event):
        first.setdefault(cls.type_name, cls)
    assert len(first) > 20
    for name, cls in first.items():
        assert Event.resolve_by_type(name) is cls
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nothing", default=Event) is Event
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nothing")
