"""Cue lexicons (complaint stance, outage mentions) as features and as marks on a message.

A complaint is a stance as much as a topic: anger, blame, "again", threats to go to the
media, demands for compensation. The cue words are training data (`data/nlu/cues.yml`,
Rasa lookup tables), so another company swaps them without touching code.

Rasa's `RegexFeaturizer` turns lookup tables into features, but with one word-boundary
setting for all of them: `\\b` never matches inside Chinese text, and without it the
English "rude" fires inside "prudent". This featurizer builds one pattern per table in
which Chinese cues match anywhere and Latin-script cues only as whole words, and records
which tables matched (`CUES`) for `bot.nlu.gate.ServiceGate`, which runs after the
classifiers and turns them into entities the rules can read.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.sparse_featurizer.regex_featurizer import RegexFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Message attribute (not part of the parse result): {table name: [matched text, ...]}.
CUES = "kefu_cues"


def cue_pattern(elements: list[str]) -> str:
    """One alternation: Latin-script cues as whole words, the others (Chinese) anywhere."""
    words = sorted({e.strip() for e in elements if e.strip()}, key=len, reverse=True)
    parts = []
    for word in words:
        escaped = re.escape(word).replace(r"\ ", r"\s+")
        if word.isascii():
            parts.append(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")
        else:
            parts.append(escaped)
    return "|".join(parts) if parts else r"(?!x)x"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class CueFeaturizer(RegexFeaturizer):
    """Sparse features for the lookup tables named in `lookups`; the rest are ignored."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **RegexFeaturizer.get_default_config(),
            "case_sensitive": False,
            "use_regexes": False,
            "lookups": [],
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        known_patterns: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, known_patterns)
        self._compiled = self._compile()

    def _compile(self) -> list[tuple[str, re.Pattern[str]]]:
        return [(p["name"], re.compile(p["pattern"], re.IGNORECASE)) for p in self.known_patterns]

    def train(self, training_data: TrainingData) -> Resource:
        wanted = list(self._config["lookups"])
        tables = {t["name"]: t["elements"] for t in training_data.lookup_tables}
        missing = [name for name in wanted if name not in tables]
        if missing:
            raise ValueError(f"CueFeaturizer: no lookup table named {missing} in the data")
        self.known_patterns = [{"name": n, "pattern": cue_pattern(tables[n])} for n in wanted]
        self._compiled = self._compile()
        self._persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        messages = super().process(messages)
        for message in messages:
            message.set(CUES, self.find(message.get(TEXT) or ""))
        return messages

    def find(self, text: str) -> dict[str, list[str]]:
        """The cue words of each table found in `text` (tables without a match left out)."""
        found = {}
        for name, pattern in self._compiled:
            hits = [m.group(0) for m in pattern.finditer(text)]
            if hits:
                found[name] = hits
        return found
