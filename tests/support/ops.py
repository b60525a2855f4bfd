"""Reading what the processes expose for operations: /healthz, /readyz and the Prometheus
text of /metrics, parsed as Prometheus parses it (tests/ops)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import METRICS_TOKEN


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, token: str | None = None, method: str = "GET", body: Any = None) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return Answer(response.status, response.read(), response.headers["Content-Type"])
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read(), e.headers.get("Content-Type", ""))


@dataclass
class Scrape:
    """One /metrics answer: every sample, and each family's HELP text."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    help: dict[str, str]

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    @property
    def names(self) -> set[str]:
        """Sample names as PromQL sees them (`kefu_turns_total`, `..._bucket`)."""
        return {name for name, _ in self.samples}


def scrape(metrics_url: str, token: str = METRICS_TOKEN) -> Scrape:
    answer = get(metrics_url, token)
    assert answer.status == 200, answer.body[:300]
    assert answer.content_type.startswith("text/plain"), answer.content_type
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    helps: dict[str, str] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        helps[family.name] = family.documentation
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(samples, helps)
