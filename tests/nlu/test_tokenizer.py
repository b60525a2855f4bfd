from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.tokenizer import KefuJiebaTokenizer
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> KefuJiebaTokenizer:
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    config = {
        **KefuJiebaTokenizer.get_default_config(),
        "dictionary_path": str(ROOT / "data/jieba"),
    }
    return KefuJiebaTokenizer.create(
        config, storage, Resource("tokenizer"), ExecutionContext(GraphSchema({}), "test")
    )


def words(tokenizer: KefuJiebaTokenizer, text: str) -> list[str]:
    return [t.text for t in tokenizer.tokenize(Message({TEXT: text}), TEXT)]


def test_drops_whitespace_tokens_in_mixed_text(tokenizer: KefuJiebaTokenizer) -> None:
    tokens = words(tokenizer, "我的 电费 bill  太高了")
    assert "bill" in tokens
    assert all(t.strip() for t in tokens)


def test_user_dictionary_keeps_domain_terms_whole(tokenizer: KefuJiebaTokenizer) -> None:
    assert "阶梯电价" in words(tokenizer, "阶梯电价怎么算")
    assert "过户" in words(tokenizer, "房子过户了电费怎么办")
    assert "跳闸" in words(tokenizer, "家里跳闸了")


def test_offsets_point_into_the_text(tokenizer: KefuJiebaTokenizer) -> None:
    text = "hello 你好 world"
    for token in tokenizer.tokenize(Message({TEXT: text}), TEXT):
        assert text[token.start : token.end] == token.text


def test_control_characters_are_not_tokens(tokenizer: KefuJiebaTokenizer) -> None:
    assert words(tokenizer, "停电\x00\x07了\u200b") == ["停电", "了"]


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01"])
def test_empty_or_noise_still_yields_one_token(tokenizer: KefuJiebaTokenizer, text: str) -> None:
    assert len(tokenizer.tokenize(Message({TEXT: text}), TEXT)) == 1


def test_long_input_is_capped(tokenizer: KefuJiebaTokenizer) -> None:
    tokens = tokenizer.tokenize(Message({TEXT: "停电了 " * 5000}), TEXT)
    assert len(tokens) == KefuJiebaTokenizer.get_default_config()["max_tokens"]
