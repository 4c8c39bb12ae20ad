"""The decode thread's deliveries to an event loop: in order per queue, one wake-up of the
loop for a burst, and a clear False once the loop is gone."""

from __future__ import annotations

import asyncio
import threading

from thinkact.backends.local_mailbox import held, mailbox_for


async def test_a_burst_from_another_thread_arrives_in_order_with_one_wakeup() -> None:
    loop = asyncio.get_running_loop()
    box = mailbox_for(loop)
    assert mailbox_for(loop) is box
    queues: list[asyncio.Queue[object]] = [asyncio.Queue() for _ in range(3)]
    wakeups = 0
    real = loop.call_soon_threadsafe

    def counting(*args: object) -> asyncio.Handle:
        nonlocal wakeups
        wakeups += 1
        return real(*args)  # type: ignore[arg-type]

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        def burst() -> None:  # a decode step: one token for each of three rows, 50 steps
            for step in range(50):
                for k, q in enumerate(queues):
                    assert box.post(q, (k, step))

        thread = threading.Thread(target=burst)
        thread.start()
        thread.join()  # blocks the loop: the whole burst is posted before any drain runs
        assert wakeups == 1
        got: list[list[object]] = [[], [], []]
        for k, q in enumerate(queues):
            while len(got[k]) < 50:
                got[k].append(await q.get())
        thread = threading.Thread(target=burst)  # again, now that the first was drained
        thread.start()
        thread.join()
        assert wakeups == 2
        assert [await queues[0].get() for _ in range(50)] == [(0, s) for s in range(50)]
    finally:
        del loop.call_soon_threadsafe
    assert got == [[(k, s) for s in range(50)] for k in range(3)]


def test_posting_to_a_closed_loop_says_so() -> None:
    loop = asyncio.new_event_loop()
    box = mailbox_for(loop)
    queue: asyncio.Queue[object] = asyncio.Queue()
    assert box.post(queue, 1)  # scheduled, never drained
    loop.close()
    assert not box.post(queue, 2)


async def test_posts_inside_held_wake_the_loop_once_at_the_end() -> None:
    loop = asyncio.get_running_loop()
    box = mailbox_for(loop)
    queue: asyncio.Queue[object] = asyncio.Queue()
    drained: list[int] = []

    def step() -> None:
        with held():
            for k in range(5):
                assert box.post(queue, k)
                drained.append(queue.qsize())  # nothing delivered inside the block

    thread = threading.Thread(target=step)
    thread.start()
    while thread.is_alive():  # the loop keeps running while the thread posts
        await asyncio.sleep(0.001)
    assert drained == [0] * 5
    assert [await queue.get() for _ in range(5)] == list(range(5))
