from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bot.clients.llm import LLM
from bot.clients.llm_metrics import LLMUsageCollector
from tests.fakes.anthropic import FakeAnthropic, text


def test_usage_is_exposed(llm: LLM, fake_anthropic: FakeAnthropic) -> None:
    registry = CollectorRegistry()
    registry.register(LLMUsageCollector(llm))
    fake_anthropic.script(text("ok"))
    llm.complete("s", [{"role": "user", "content": "password=hunter2 ghp_" + "a" * 36}], 10)
    out = generate_latest(registry).decode()
    assert 'copilot_llm_calls_total{model="claude-test"} 1.0' in out
    assert 'copilot_llm_redactions_total{kind="password"} 1.0' in out
    assert 'copilot_llm_redactions_total{kind="github_token"} 1.0' in out
    tokens = [
        line for line in out.splitlines() if line.startswith("copilot_llm_input_tokens_total")
    ]
    assert float(tokens[0].split()[-1]) > 0
