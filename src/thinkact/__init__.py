"""thinkact: a thinking model that thinks while it acts.

The agent engine (``thinkact.agent``) drives any reasoning LLM through interleaved
reasoning and tool calls; the model stack (``thinkact.model``, optional torch extra)
implements the Kimi K2 architecture. The core never imports torch.
"""

__version__ = "0.1.0"
