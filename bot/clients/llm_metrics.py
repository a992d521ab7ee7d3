"""Prometheus view of an LLM client's usage counters, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.clients.llm import LLM


class LLMUsageCollector(Collector):
    """`registry.register(LLMUsageCollector(llm))` exposes calls, failures, tokens, redactions."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def collect(self) -> Iterator[Metric]:
        usage = self.llm.usage.snapshot()
        model = self.llm.model
        for name, doc, value in (
            ("copilot_llm_calls", "Successful model calls", usage.calls),
            ("copilot_llm_failures", "Model calls given up after retries", usage.failures),
            (
                "copilot_llm_input_tokens",
                "Input tokens billed (response usage)",
                usage.input_tokens,
            ),
            ("copilot_llm_output_tokens", "Output tokens billed", usage.output_tokens),
        ):
            family = CounterMetricFamily(name, doc, labels=["model"])
            family.add_metric([model], value)
            yield family
        redactions = CounterMetricFamily(
            "copilot_llm_redactions", "Secrets redacted before sending", labels=["kind"]
        )
        for kind, count in sorted(usage.redactions.items()):
            redactions.add_metric([kind], count)
        yield redactions
