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

    Jieba emits a token for every run of spaces ("电费 bill" -> "电费", " ", "bill") and
    for each control or format character (NUL, zero-width space). They are not words: the
    char n-gram CountVectorsFeaturizer would learn n-grams of them (its `char_wb` analyzer
    splits only on whitespace), and they would take token positions in the sequence
    features that a transformer or entity recognition would read if config.yml enabled them.
    """
    return all(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in word)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class KefuJiebaTokenizer(JiebaTokenizer):
    """`JiebaTokenizer` that drops whitespace/control tokens and caps token count."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **JiebaTokenizer.get_default_config(),
            # Intent is clear from the first sentences. config.yml runs DIET without
            # transformer layers, so what a pasted page of text costs is featurizing
            # every one of its tokens on every turn: cap it.
            "max_tokens": 200,
        }

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        tokens = [t for t in super().tokenize(message, attribute) if not _is_noise(t.text)]
        if not tokens:
            # Featurizers expect at least one token; keep the raw text as one.
            text = message.get(attribute) or ""
            return [Token(text, 0)]
        return tokens[: self._config["max_tokens"]]
