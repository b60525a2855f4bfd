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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
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


def install() -> None:
    """Once per process (idempotent)."""
    global _original_validate, _original_combine_sparse
    if _original_validate is None:
        _original_validate = RemoteAction._validate_action_result
        RemoteAction._validate_action_result = _validate_action_result
        Event.resolve_by_type = staticmethod(_resolve_by_type)
        _original_combine_sparse = Features._combine_sparse_features
        Features._combine_sparse_features = _combine_sparse_features
