"""Jieba tokenizer that is safe for mixed Chinese/English customer text."""

from __future__ import annotations

import unicodedata
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


def _is_noise(word: str) -> bool:
    """True for tokens made only of whitespace or control/format characters.

    Jieba emits a token for every run of spaces ("电费 bill" -> "电费", " ", "bill");
    those tokens carry no meaning but shift DIET's sequence features.
    """
    return all(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in word)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class KefuJiebaTokenizer(JiebaTokenizer):
    """`JiebaTokenizer` that drops whitespace/control tokens and caps token count."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **JiebaTokenizer.get_default_config(),
            # Intent is clear from the first sentences; a 10,000-character paste
            # must not blow up the transformer's attention matrix.
            "max_tokens": 200,
        }

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = [t for t in super().tokenize(message, attribute) if not _is_noise(t.text)]
        if not tokens:
            # Featurizers expect at least one token; keep the raw text as one.
            text = message.get(attribute) or ""
            return [Token(text, 0)]
        return tokens[: self._config["max_tokens"]]
