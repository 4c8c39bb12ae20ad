"""The agent engine: interleaved reasoning and tool calls, with budgets and context control.

    agent = Agent(backend, tools=[...], budget=Budget(max_steps=50))
    async for event in agent.events("task"): ...
    result = agent.run("task")
"""

from thinkact.agent.agent import Agent, RunResult, new_run_id
from thinkact.agent.budget import Budget, Spend
from thinkact.agent.config import AgentConfig, HeavyConfig, ToolsConfig
from thinkact.agent.context import (
    ContextStrategy,
    HideToolOutputs,
    NoCompaction,
    Summarize,
    extractive_summary,
)
from thinkact.agent.context_view import ContextView
from thinkact.agent.heavy import Heavy, HeavyResult, Reflect, Vote
from thinkact.agent.repeat import RepeatPolicy
from thinkact.agent.verify import VerifyPolicy
from thinkact.backends.base import GenerationOptions

__all__ = [
    "Agent",
    "AgentConfig",
    "Budget",
    "ContextStrategy",
    "ContextView",
    "GenerationOptions",
    "Heavy",
    "HeavyConfig",
    "HeavyResult",
    "HideToolOutputs",
    "NoCompaction",
    "Reflect",
    "RepeatPolicy",
    "RunResult",
    "Spend",
    "Summarize",
    "ToolsConfig",
    "VerifyPolicy",
    "Vote",
    "extractive_summary",
    "new_run_id",
]
