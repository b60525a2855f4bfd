"""How to pay: the channels and link from content/billing/payment.yml, zh and en."""

from __future__ import annotations

from bot.billing.payment import payment_info


def test_zh_with_an_account() -> None:
    info = payment_info("zh", "1100000001")
    assert info.link == "https://kefu-power.example.com/pay?account=1100000001"
    assert len(info.channels) == 4 and "客服电力" in info.channels[0]
    assert info.text.splitlines()[0] == "您的户号：1100000001"
    assert info.text.splitlines()[1] == "缴费方式："
    assert "1. 微信公众号“客服电力”：缴费→输入户号" in info.text
    assert info.text.endswith("在线缴费：https://kefu-power.example.com/pay?account=1100000001")


def test_en_without_an_account() -> None:
    info = payment_info("en")
    assert info.link == "https://kefu-power.example.com/pay"
    assert info.text.startswith("Ways to pay:\n1. WeChat")
    assert info.text.endswith("Pay online: https://kefu-power.example.com/pay")
    assert "account number:" not in info.text


def test_an_account_id_is_url_encoded_in_the_link() -> None:
    assert payment_info("en", "A 1&x").link.endswith("account=A%201%26x")
