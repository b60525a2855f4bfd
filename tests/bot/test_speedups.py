"""bot/speedups.py: the same answers as Rasa's own code, computed once."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    Restarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.utils.common import all_subclasses

from bot import speedups
from tests.conftest import ROOT

# Rasa's own, kept before install() replaces it.
RASA_STATES = Domain.states_for_tracker_history
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


@pytest.mark.parametrize(
    ("rows", "dtypes", "density"),
    [
        (1, (np.float32, np.float32), 0.01),
        (7, (np.float32, np.float64), 0.005),
        (12, (np.int64, np.float32), 0.02),
        (3, (np.float32, np.float32), 0.0),  # a message no featurizer matched
    ],
)
def test_two_coo_matrices_join_as_scipys_hstack(
    rows: int, dtypes: tuple[type, type], density: float
) -> None:
    left = scipy.sparse.random(rows, 6936, density=density, format="coo", dtype=dtypes[0])
    right = scipy.sparse.random(rows, 175, density=0.05, format="coo", dtype=dtypes[1])
    expected = scipy.sparse.hstack([left, right])
    joined = speedups.hstack_coo(left, right)
    assert type(joined) is type(expected)
    assert joined.shape == expected.shape
    assert joined.dtype == expected.dtype
    for part in ("row", "col", "data"):
        assert getattr(joined, part).dtype == getattr(expected, part).dtype
        assert np.array_equal(getattr(joined, part), getattr(expected, part))


def test_features_combine_as_rasa_and_refuse_what_rasa_refuses() -> None:
    def features(matrix: scipy.sparse.spmatrix, origin: str) -> Features:
        return Features(matrix, "sentence", "text", origin)

    left = scipy.sparse.random(1, 50, density=0.2, format="coo", dtype=np.float32)
    right = scipy.sparse.random(1, 30, density=0.2, format="coo", dtype=np.float32)
    combined = features(left, "a")
    combined.combine_with_features(features(right, "b"))
    assert (combined.features != scipy.sparse.hstack([left, right])).nnz == 0
    other_format = features(left.tocsr(), "a")
    other_format.combine_with_features(features(right, "b"))  # Rasa's own join
    assert (other_format.features != combined.features).nnz == 0
    taller = scipy.sparse.random(2, 30, density=0.2, format="coo", dtype=np.float32)
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        features(left, "a").combine_with_features(features(taller, "b"))


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def project_dialogues(domain: Domain) -> list[tuple[list[Event], bool]]:
    """The events of every story and rule the model trains on, and of every test story
    (whole conversations, forms and fallbacks included), as Rasa's training sees them."""
    dialogues = []
    for paths in (["data/stories", "data/rules"], ["tests/stories"]):
        importer = TrainingDataImporter.load_from_dict(
            domain_path=str(ROOT / "domain.yml"),
            training_data_paths=[str(ROOT / path) for path in paths],
        )
        generator = TrainingDataGenerator(
            importer.get_stories(), domain, augmentation_factor=0, remove_duplicates=False
        )
        dialogues += [(list(t.events), t.is_rule_tracker) for t in generator.generate()]
    return dialogues


VARIANTS = [
    {},  # what the rule policy asks
    {"ignore_rule_only_turns": True, "rule_only_data": {"slots": ["language"], "loops": []}},
    {"omit_unset_slots": True},
    {"ignore_rule_only_turns": True, "rule_only_data": None, "omit_unset_slots": True},
]


def assert_as_rasa(domain: Domain, tracker: DialogueStateTracker) -> None:
    for kwargs in VARIANTS:
        ours = domain.states_for_tracker_history(tracker, **kwargs)
        assert ours == RASA_STATES(domain, tracker, **kwargs), kwargs
        # Each call gets its own dicts: a caller editing its states (the featurizers
        # delete the last user input's text or intent) cannot reach the next caller.
        for state in ours:
            for sub_state in state.values():
                sub_state.clear()
        assert domain.states_for_tracker_history(tracker, **kwargs) == RASA_STATES(
            domain, tracker, **kwargs
        )


def test_past_states_equal_rasas_after_every_event_of_every_story_and_rule(
    domain: Domain,
) -> None:
    dialogues = project_dialogues(domain)
    assert len(dialogues) > 100
    assert any(is_rule for _, is_rule in dialogues)
    checked = 0
    for events, is_rule in dialogues:
        # One tracker growing event by event, as in a conversation: the kept replay
        # is continued, and must give what a full replay gives.
        tracker = DialogueStateTracker("s", domain.slots, is_rule_tracker=is_rule)
        for event in events:
            tracker.update(event)
            assert_as_rasa(domain, tracker)
            checked += 1
    assert checked > 1000


def test_reverted_and_restarted_conversations_are_replayed_afresh(domain: Domain) -> None:
    tracker = DialogueStateTracker("s", domain.slots)
    steps: list[Event] = [
        ActionExecuted("action_listen"),
        UserUttered("停电了", {"name": "report_outage", "confidence": 1.0}),
        ActionExecuted("action_outage_status"),
        SlotSet("language", "zh"),
        ActionExecuted("action_listen"),
        UserUttered("asdf", {"name": "nlu_fallback", "confidence": 0.2}),
        UserUtteranceReverted(),  # the two-stage fallback's rephrase
        UserUttered("我要投诉", {"name": "complaint", "confidence": 1.0}),
        ActionExecuted("complaint_form"),
        ActiveLoop("complaint_form"),
        ActionExecuted("action_listen"),
        Restarted(),
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}),
    ]
    for event in steps:
        tracker.update(event)
        assert_as_rasa(domain, tracker)
