"""Generate content/accounts/demo_accounts.json: the demo backend's synthetic customers.

    .venv/bin/python scripts/make_demo_accounts.py          # (re)write the file
    .venv/bin/python scripts/make_demo_accounts.py --check  # exit 1 if the file is stale

Deterministic (fixed seed): the same code makes the same file, and
tests/accounts/test_demo_data.py checks the committed file is exactly what this makes.

The file never goes stale because it stores no dates. Each account has two billing years
of months by calendar month (year 0, year 1; January to December), each month
[kwh, peak_kwh, valley_kwh, "amount"]. The demo backend maps year 1 onto the calendar year
of the current bill (last month, relative to today) and year 0 onto the year before, and
shows the 13 months ending at the current bill. Because tiers restart each 1 January and
the mapping keeps calendar months, the amounts computed here with bot.billing.tariff stay
exactly right whatever today is, and the seasons stay in their months.

The showcase holder +8613800000001 (Chaoyang, zh, an electrically heated house: heavy in
winter and summer) also has `by_month`: for each calendar month of the current bill, two
years whose current month crosses a tier, so "why is my bill high" always has a tier to
name. Its current bill is unpaid. +8613800000002 is an English-speaking holder on the
time-of-use plan, current bill unpaid.
"""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.accounts.areas import load_areas  # noqa: E402
from bot.billing.tariff import Tariff, load_tariff  # noqa: E402

OUT = ROOT / "content" / "accounts" / "demo_accounts.json"
SEED = 20261101
ACCOUNTS = 300
DUE_AFTER_DAYS = 24  # a bill is issued on the 1st of the next month and due 24 days later

# How a typical Beijing home's use moves over the year (January first): heating in winter,
# air conditioning in July and August.
SEASON = [1.30, 1.20, 1.00, 0.85, 0.90, 1.15, 1.50, 1.45, 1.00, 0.85, 1.00, 1.25]
# The showcase holder heats electrically (煤改电): far heavier winters.
HEATED = [2.20, 1.90, 1.30, 0.80, 0.80, 1.20, 1.50, 1.45, 0.90, 0.80, 1.30, 2.00]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"]
EN_NAMES = [
    "Emily Carter",
    "James Miller",
    "Sophie Martin",
    "Daniel Kim",
    "Olivia Brown",
    "Lucas Schmidt",
    "Hannah Lee",
    "Noah Wilson",
]
STREETS = {
    "dongcheng": ["东直门南大街", "和平里东街", "东四十条"],
    "xicheng": ["西直门内大街", "月坛北街", "德胜门外大街"],
    "chaoyang": ["建国路", "朝阳北路", "望京西路", "霄云路"],
    "haidian": ["中关村南大街", "学院路", "万泉河路"],
    "fengtai": ["丰台北路", "南三环西路", "科学城路"],
    "tongzhou": ["新华西街", "运河东大街", "梨园北街"],
}
STREETS_EN = {
    "dongcheng": ["Dongzhimen South St", "Hepingli East St", "Dongsi Shitiao"],
    "xicheng": ["Xizhimen Inner St", "Yuetan North St", "Deshengmen Outer St"],
    "chaoyang": ["Jianguo Rd", "Chaoyang North Rd", "Wangjing West Rd", "Xiaoyun Rd"],
    "haidian": ["Zhongguancun South St", "Xueyuan Rd", "Wanquanhe Rd"],
    "fengtai": ["Fengtai North Rd", "South 3rd Ring West Rd", "Kexuecheng Rd"],
    "tongzhou": ["Xinhua West St", "Yunhe East St", "Liyuan North St"],
}


def months_of(
    profile: list[float], scale: float, rng: random.Random | None, peak_share: float
) -> list[tuple[int, int, int]]:
    """12 months of (kwh, peak, valley); `rng` None: no noise."""
    out = []
    for factor in profile:
        noise = 1.0 if rng is None else rng.uniform(0.88, 1.12)
        kwh = max(30, round(scale * factor * noise))
        peak = round(kwh * peak_share)
        out.append((kwh, peak, kwh - peak))
    return out


def priced(tariff: Tariff, plan: str, months: list[tuple[int, int, int]]) -> list[list[Any]]:
    """Each month with its bill amount, tiers counted from 1 January."""
    rows = []
    used = Decimal(0)
    for kwh, peak, valley in months:
        month = Decimal(kwh)
        if tariff.plan(plan).time_of_use:
            charge = tariff.charge(month, used, peak_kwh=Decimal(peak), valley_kwh=Decimal(valley))
        else:
            charge = tariff.charge(month, used)
        rows.append([kwh, peak, valley, str(charge.total)])
        used += month
    return rows


def crossing_years(tariff: Tariff, plan: str, month: int) -> list[list[list[Any]]]:
    """Two years for the showcase holder whose year-1 `month` (1-12) crosses a tier."""
    before = sum(HEATED[: month - 1])
    threshold = 2880 if month <= 8 else 4800
    # Where in the month the threshold falls: late in January (a single month has to
    # carry the whole of tier 1), mid-month otherwise.
    at = 0.9 if month <= 2 else 0.5
    scale = threshold / (before + at * HEATED[month - 1])
    year0 = months_of(HEATED, 280, None, 0.62)
    year1 = months_of(HEATED, scale, None, 0.62)
    years = [priced(tariff, plan, year0), priced(tariff, plan, year1)]
    used = Decimal(sum(m[0] for m in year1[: month - 1]))
    charge = tariff.charge(Decimal(year1[month - 1][0]), used)
    assert charge.tiers_entered, f"showcase month {month} crosses no tier"
    return years


def make_account(
    index: int, rng: random.Random, tariff: Tariff, areas: list[str]
) -> dict[str, Any]:
    number = index + 1
    phone = f"+86138000{number:05d}"
    # Every 40th holder has a second home: its account shares the previous holder's phone.
    if number > 2 and number % 40 == 0:
        phone = f"+86138000{number - 1:05d}"
    area = areas[index % len(areas)]
    language = "en" if rng.random() < 0.12 else "zh"
    plan = "residential_tiered_tou" if rng.random() < 0.2 else "residential_tiered"
    scale = rng.uniform(110, 420)
    peak_share = rng.uniform(0.55, 0.75)
    autopay = rng.random() < 0.45
    pay_lag = 0 if autopay else rng.randint(1, 20)
    if number == 1:
        area, language, plan, autopay, pay_lag = "chaoyang", "zh", "residential_tiered", False, 6
    elif number == 2:
        area, language, plan, autopay, pay_lag = "haidian", "en", "residential_tiered_tou", False, 3
        scale = 330
    building = rng.randint(1, 30)
    street_no = rng.randint(1, 199)
    unit = rng.randint(1, 6)
    room = rng.randint(1, 24) * 100 + rng.randint(1, 4)
    if language == "zh":
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        street = rng.choice(STREETS[area])
        address = (
            f"北京市{load_areas()[area].zh}{street}{street_no}号{building}号楼{unit}单元{room}"
        )
    else:
        name = rng.choice(EN_NAMES)
        street = rng.choice(STREETS_EN[area])
        address = (
            f"Apt {room}, Bldg {building}, {street_no} {street}, "
            f"{load_areas()[area].en} District, Beijing"
        )
    growth = rng.uniform(0.92, 1.12)
    year0 = months_of(SEASON, scale, rng, peak_share)
    year1 = months_of(SEASON, scale * growth, rng, peak_share)
    account: dict[str, Any] = {
        "id": f"1100{number:06d}",
        "phone": phone,
        "name": name,
        "address": address,
        "area": area,
        "tariff": plan,
        "language": language,
        "autopay": autopay,
        "pay_lag_days": pay_lag,
        "years": [priced(tariff, plan, year0), priced(tariff, plan, year1)],
    }
    if number == 1:
        account["by_month"] = {
            str(month): crossing_years(tariff, plan, month) for month in range(1, 13)
        }
    return account


def generate(seed: int = SEED, count: int = ACCOUNTS) -> dict[str, Any]:
    rng = random.Random(seed)
    tariff = load_tariff()
    areas = list(load_areas())
    return {
        "about": "Synthetic demo customers; generated by scripts/make_demo_accounts.py, "
        "do not edit. See bot/accounts/demo.py for how months map onto today.",
        "seed": seed,
        "due_after_days": DUE_AFTER_DAYS,
        "accounts": [make_account(i, rng, tariff, areas) for i in range(count)],
    }


def render(data: dict[str, Any]) -> str:
    """The file's text: one account per line, so a change shows as a readable diff."""
    head = {k: v for k, v in data.items() if k != "accounts"}
    lines = [json.dumps(a, ensure_ascii=False, separators=(",", ":")) for a in data["accounts"]]
    body = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return body + ',\n "accounts": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main(argv: list[str]) -> int:
    text = render(generate())
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/make_demo_accounts.py")
            return 1
        print(f"{OUT.relative_to(ROOT)} is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.encode()) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
