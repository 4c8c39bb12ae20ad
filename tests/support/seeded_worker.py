"""A seeded scripted model and a Ray eval worker that uses it (the heavy fan-out tests).

The model's answer follows the call's seed and the task, so the trajectories of one item
differ (each has its own seed) while the same seed always gives the same answer. The worker
notes, in the file ``$THINKACT_TEST_TRAJECTORY_LOG``, which process ran each trajectory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from thinkact.backends.base import GenerationOptions
from thinkact.backends.scripted import ScriptedBackend
from thinkact.eval.ray_executor import EvalWorker
from thinkact.events import BackendEvent
from thinkact.messages import Message
from thinkact.tools.base import ToolSpec


def seeded_answer(task: str, seed: int | None) -> str:
    return "42" if ((seed or 0) + len(task)) % 3 else "7"


class SeededBackend(ScriptedBackend):
    def __init__(self) -> None:
        super().__init__(lambda messages: Message(role="assistant", content=""), record=False)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                     options: GenerationOptions) -> AsyncIterator[BackendEvent]:
        task = next(str(m.content) for m in messages if m.role == "user")
        turn = Message(role="assistant", reasoning="Thinking.",
                       content=f"It is {seeded_answer(task, options.seed)}.")
        async for event in ScriptedBackend([turn], record=False).stream(messages, tools,
                                                                        options):
            yield event


class SeededWorker(EvalWorker):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.backend = SeededBackend()

    def trajectory(self, index: int, epoch: int, run_id: str, k: int) -> bytes:
        with open(os.environ["THINKACT_TEST_TRAJECTORY_LOG"], "a") as log:
            log.write(f"{run_id}.{k} {os.getpid()}\n")
        return super().trajectory(index, epoch, run_id, k)
