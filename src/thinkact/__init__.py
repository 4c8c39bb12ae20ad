"""thinkact: a thinking model that thinks while it acts.

Everything a user needs comes from here::

    from thinkact import Agent, AgentConfig, Budget, backend, tool

    agent = Agent(backend("embedded"), tools=[...], budget=Budget(max_steps=50))

The agent engine (``thinkact.agent``) drives any reasoning LLM through interleaved
reasoning and tool calls; the model stack (``thinkact.model``, optional torch extra)
implements the Kimi K2 architecture. The core never imports torch.
"""

from thinkact.agent.agent import Agent, RunResult
from thinkact.agent.budget import Budget
from thinkact.agent.config import AgentConfig, HeavyConfig, ToolsConfig
from thinkact.agent.context import HideToolOutputs, NoCompaction, Summarize
from thinkact.agent.heavy import Heavy, HeavyResult, Reflect, Vote
from thinkact.agent.repeat import RepeatPolicy
from thinkact.agent.verify import VerifyPolicy
from thinkact.backends.base import GenerationOptions, ModelBackend
from thinkact.backends.factory import backend
from thinkact.backends.scripted import ScriptedBackend
from thinkact.backends.spec import BackendSpec
from thinkact.events import Event, RunStatus
from thinkact.messages import Message
from thinkact.tools.base import Tool, ToolContext, ToolError
from thinkact.tools.decorator import tool
from thinkact.tools.toolset import Toolset
from thinkact.traces.sqlite import SQLiteTraceStore

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentConfig",
    "BackendSpec",
    "Budget",
    "Event",
    "GenerationOptions",
    "Heavy",
    "HeavyConfig",
    "HeavyResult",
    "HideToolOutputs",
    "Message",
    "ModelBackend",
    "NoCompaction",
    "Reflect",
    "RepeatPolicy",
    "RunResult",
    "RunStatus",
    "SQLiteTraceStore",
    "ScriptedBackend",
    "Summarize",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolsConfig",
    "Toolset",
    "VerifyPolicy",
    "Vote",
    "backend",
    "tool",
]
