"""Delivery from the decode thread to an event loop's queues: one wake-up per step.

A decode step emits a token for every running request. Waking the loop once per token made
the decode thread wait for the loop's turn at the GIL once per row, every step. A
:class:`Mailbox` collects what arrives while a wake-up is pending, and inside :func:`held`
(the scheduler holds each turn) posts wake their loops once, at the block's end; the loop
takes everything in one turn while the next step computes. The rule: items reach each queue
in the order they were posted.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

_boxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Mailbox] = (
    weakref.WeakKeyDictionary())
_boxes_lock = threading.Lock()
_held = threading.local()  # .boxes: the mailboxes posted to inside held(), else absent/None


@contextmanager
def held() -> Iterator[None]:
    """Posts from this thread inside the block wake their loops once, when it ends."""
    boxes: set[Mailbox] = set()
    _held.boxes = boxes
    try:
        yield
    finally:
        _held.boxes = None
        for box in boxes:
            box.wake()


class Mailbox:
    """Items for one loop's queues, posted from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[asyncio.Queue[object], object]] = []
        self._pending = False  # a drain is scheduled and has not started

    def post(self, queue: asyncio.Queue[object], item: object) -> bool:
        """Put ``item`` on ``queue`` from another thread; False when the loop is gone."""
        with self._lock:
            self._items.append((queue, item))
        boxes: set[Mailbox] | None = getattr(_held, "boxes", None)
        if boxes is not None:
            boxes.add(self)
            return not self.loop.is_closed()
        return self.wake()

    def wake(self) -> bool:
        """Have the loop take what is posted (once per pending batch); False when it is gone."""
        with self._lock:
            if self._pending and not self.loop.is_closed():
                return True
            self._pending = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # closed: nobody is listening
            return False
        return True

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._pending = self._items, [], False
        for queue, item in items:
            queue.put_nowait(item)


def mailbox_for(loop: asyncio.AbstractEventLoop) -> Mailbox:
    """The one Mailbox of ``loop``."""
    with _boxes_lock:
        box = _boxes.get(loop)
        if box is None:
            box = _boxes[loop] = Mailbox(loop)
        return box
