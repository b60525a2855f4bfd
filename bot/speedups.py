"""Rasa 3.6's per-turn costs, removed without changing what Rasa does; installed
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
- every NLU classifier joins the featurizers' sparse matrices of the message with
  `scipy.sparse.hstack`, whose general block path costs about 100 µs a join, some twenty
  joins a turn. Two COO matrices side by side are now joined directly: the same matrix
  (entries, order, dtypes, shape), a quarter of the time. Anything else is Rasa's join.
- every policy, for every action it predicts, turns the conversation into its past states
  (`Domain.states_for_tracker_history`) by replaying all its events into a fresh tracker:
  the memoization and rule policies do it two or three times per prediction, two or three
  predictions a turn, each over the whole conversation. The replay is now kept on the
  tracker and continued with the events added since; the states are computed as Rasa
  computes them, from fresh copies, so no caller sees another's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.core import constants
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.utils.common import all_subclasses
from scipy.sparse import coo_matrix
from scipy.sparse._sputils import get_index_dtype, upcast

_original_validate: Any = None
_original_combine_sparse: Any = None
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


def hstack_coo(left: coo_matrix, right: coo_matrix) -> coo_matrix:
    """`scipy.sparse.hstack([left, right])` for two COO matrices with as many rows: the
    entries of `left`, then those of `right` shifted right, as scipy's block path lays them."""
    shape = (left.shape[0], left.shape[1] + right.shape[1])
    index = get_index_dtype(maxval=max(shape))
    data = np.concatenate((left.data, right.data)).astype(
        upcast(left.dtype, right.dtype), copy=False
    )
    row = np.concatenate((left.row, right.row)).astype(index, copy=False)
    col = np.concatenate(
        (left.col.astype(index, copy=False), right.col.astype(index) + left.shape[1])
    )
    return coo_matrix((data, (row, col)), shape=shape)


def _combine_sparse_features(self: Features, additional: Features) -> None:
    mine, theirs = self.features, additional.features
    if not (
        type(mine) is coo_matrix and type(theirs) is coo_matrix and mine.shape[0] == theirs.shape[0]
    ):
        _original_combine_sparse(self, additional)  # other formats, or Rasa's error
        return
    self.features = hstack_coo(mine, theirs)
    self._cached_fingerprint = None


@dataclass
class _Turn:
    """The replay tracker just before one ActionExecuted: what the state fold reads."""

    state: State  # get_active_state; its PREVIOUS_ACTION is `latest_action` (one object)
    latest_action: dict[str, Any] | None
    hide_rule_turn: bool
    followup_action: str | None
    latest_action_name: str | None
    active_loop_name: str | None


@dataclass
class _Replay:
    tracker: DialogueStateTracker  # the applied events so far, replayed
    events: list[Event] = field(default_factory=list)
    turns: list[_Turn] = field(default_factory=list)


_REPLAYS = "_kefu_replays"  # tracker attribute: {(domain id, omit_unset_slots): _Replay}


def _turn(domain: Domain, tracker: DialogueStateTracker, hide: bool, omit: bool) -> _Turn:
    return _Turn(
        domain.get_active_state(tracker, omit_unset_slots=omit),
        tracker.latest_action,
        hide,
        tracker.followup_action,
        tracker.latest_action_name,
        tracker.active_loop_name,
    )


def _fresh(turn: _Turn) -> tuple[State, dict[str, Any] | None]:
    """A copy as a new replay would have made it: new sub-state dicts (their values are
    strings and tuples), the previous action shared between the state and the turn."""
    action = dict(turn.latest_action) if turn.latest_action is not None else None
    state: State = {}
    for key, sub_state in turn.state.items():
        if key == constants.PREVIOUS_ACTION and sub_state is turn.latest_action:
            state[key] = action
        else:
            state[key] = dict(sub_state)
    return state, action


def _replayed(
    domain: Domain, tracker: DialogueStateTracker, omit: bool
) -> tuple[list[_Turn], _Turn]:
    """Rasa's `generate_all_prior_trackers`, kept: the turns before each ActionExecuted,
    and the state after the last event."""
    applied = tracker.applied_events()
    replays: dict[tuple[int, bool], _Replay] = tracker.__dict__.setdefault(_REPLAYS, {})
    key = (id(domain), omit)
    replay = replays.get(key)
    if (
        replay is None
        or len(replay.events) > len(applied)
        or any(old is not new for old, new in zip(replay.events, applied, strict=False))
    ):
        replay = replays[key] = _Replay(tracker.init_copy())
    for event in applied[len(replay.events) :]:
        if isinstance(event, ActionExecuted):
            replay.turns.append(_turn(domain, replay.tracker, event.hide_rule_turn, omit))
        replay.tracker.update(event)
        replay.events.append(event)
    return replay.turns, _turn(domain, replay.tracker, False, omit)


def _states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """Rasa 3.6's `Domain.states_for_tracker_history`, line for line, over kept turns."""
    turns, last = _replayed(self, tracker, omit_unset_slots)
    states: list[State] = []
    last_ml_action_sub_state = None
    turn_was_hidden = False
    for turn in [*turns, last]:
        state, latest_action = _fresh(turn)
        if ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = latest_action
            if not turn.followup_action and not turn.latest_action_name == turn.active_loop_name:
                turn_was_hidden = turn.hide_rule_turn
            if turn_was_hidden:
                continue
            self._remove_rule_only_features(state, rule_only_data)
            if states:
                self._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[constants.PREVIOUS_ACTION] = last_ml_action_sub_state
        states.append(self._clean_state(state))
    return states


def install() -> None:
    """Once per process (idempotent)."""
    global _original_validate, _original_combine_sparse
    if _original_validate is None:
        _original_validate = RemoteAction._validate_action_result
        RemoteAction._validate_action_result = _validate_action_result
        Event.resolve_by_type = staticmethod(_resolve_by_type)
        _original_combine_sparse = Features._combine_sparse_features
        Features._combine_sparse_features = _combine_sparse_features
        Domain.states_for_tracker_history = _states_for_tracker_history
