"""Named OpenAI-compatible providers: where they live and what their defaults are.

Thinking models want temperature 1.0 (Moonshot's recommendation for K2 Thinking); prices are
USD per million tokens where publicly listed, used only for the optional cost budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkact.messages import Price


@dataclass(frozen=True)
class ProviderPreset:
    name: str
    base_url: str | None
    api_key_env: str | None
    default_model: str | None
    context_window: int
    requires_key: bool = True
    temperature: float | None = None
    max_tokens: int | None = None
    price: Price | None = None
    reasoning_field: str = "reasoning_content"
    k2_call_ids: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)


K2_THINKING = "moonshotai/Kimi-K2-Thinking"

PRESETS: dict[str, ProviderPreset] = {
    p.name: p
    for p in [
        ProviderPreset(
            "moonshot", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", "kimi-k2-thinking",
            262144, temperature=1.0, max_tokens=32768,
            price=Price(0.60, 2.50, cached_input_per_m=0.15),  # third-party listing
        ),
        ProviderPreset("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4.1-mini",
                       1047576),
        # Self-hosted K2: history call ids are normalised client-side (Moonshot's API does it
        # server-side), per MoonshotAI/K2-Vendor-Verifier's advice.
        ProviderPreset("vllm", "http://localhost:8000/v1", "VLLM_API_KEY", K2_THINKING, 262144,
                       requires_key=False, temperature=1.0, k2_call_ids=True),
        ProviderPreset("sglang", "http://localhost:30000/v1", "SGLANG_API_KEY", K2_THINKING,
                       262144, requires_key=False, temperature=1.0, k2_call_ids=True),
        ProviderPreset("ollama", "http://localhost:11434/v1", None, "qwen3", 32768,
                       requires_key=False, temperature=1.0),
        ProviderPreset("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                       "moonshotai/kimi-k2-thinking", 262144, temperature=1.0,
                       reasoning_field="reasoning"),
        ProviderPreset("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
                       "deepseek-reasoner", 131072),
        # An unknown server: its window is asked for; failing that, assume a small one.
        ProviderPreset("custom", None, None, None, 8192, requires_key=False),
    ]
}
