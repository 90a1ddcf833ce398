"""The turn queue: turns compute in order of arrival and give their place up while they
wait for something outside (the model, a tool); an engine's chat turns use it."""

from __future__ import annotations

import asyncio

import pytest

from assistant.engine import Engine, new_thread_id
from assistant.turn_queue import TurnQueue, waiting
from fakes.openai_server import ScriptedOpenAI


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_turns_compute_in_order_of_arrival_and_queue_again_after_a_wait() -> None:
    queue = TurnQueue(width=1)
    log: list[str] = []
    answer = asyncio.Event()

    async def turn(name: str, waits: bool) -> None:
        async with queue.turn():
            log.append(f"{name} starts")
            if waits:
                async with waiting():  # the model: the next turn computes meanwhile
                    await answer.wait()
                log.append(f"{name} answered")
            await asyncio.sleep(0)  # an await of its own: nobody else gets in
            log.append(f"{name} ends")

    first = asyncio.create_task(turn("a", waits=True))
    await _settle()
    rest = [asyncio.create_task(turn(name, waits=False)) for name in ("b", "c")]
    await _settle()
    assert log == ["a starts", "b starts", "b ends", "c starts", "c ends"]
    late = asyncio.create_task(turn("d", waits=False))
    await _settle()
    answer.set()  # "a" queues again behind "d", which was served meanwhile
    await asyncio.gather(first, *rest, late)
    assert log[5:] == ["d starts", "d ends", "a answered", "a ends"]
    assert (queue._free, queue.waiting_turns) == (1, 0)


async def test_a_turn_waiting_on_several_things_at_once_gives_its_place_up_once() -> None:
    queue = TurnQueue(width=1)
    done = asyncio.Event()

    async def call(seconds: float) -> None:
        async with waiting():
            await asyncio.sleep(seconds)

    async def parallel_tools() -> None:
        async with queue.turn():
            await asyncio.gather(call(0.01), call(0.03))
            done.set()

    async def other() -> str:
        async with queue.turn():
            return "served while the tools ran"

    tools = asyncio.create_task(parallel_tools())
    await _settle()
    assert await asyncio.wait_for(other(), 1) == "served while the tools ran"
    assert not done.is_set()
    await tools
    assert (queue._free, queue.waiting_turns) == (1, 0)


async def test_a_failed_wait_or_a_stopped_turn_never_loses_a_place() -> None:
    queue = TurnQueue(width=1)

    async def failing() -> None:
        async with queue.turn(), waiting():
            raise ConnectionError("the model went away")

    with pytest.raises(ConnectionError):
        await failing()
    assert queue._free == 1

    hold = asyncio.Event()

    async def holder() -> None:
        async with queue.turn():
            await hold.wait()

    async def queued() -> None:
        async with queue.turn():
            pass

    first = asyncio.create_task(holder())
    await _settle()
    stopped = asyncio.create_task(queued())
    await _settle()
    assert queue.waiting_turns == 1
    stopped.cancel()  # the person pressed Stop while the turn waited for its place
    with pytest.raises(asyncio.CancelledError):
        await stopped
    hold.set()
    await first
    assert (queue._free, queue.waiting_turns) == (1, 0)
    await asyncio.wait_for(queued(), 1)


async def test_a_place_held_past_the_limit_goes_to_the_next_turn() -> None:
    """A wait nobody marked as outside (a pool exhausted, a slow disk) holds the others
    back for the limit at most."""
    queue = TurnQueue(width=1, hold_limit=0.05)
    stuck = asyncio.Event()

    async def unmarked_wait() -> None:
        async with queue.turn():
            await stuck.wait()

    first = asyncio.create_task(unmarked_wait())
    await _settle()

    async def next_turn() -> str:
        async with queue.turn():
            return "served"

    assert await asyncio.wait_for(next_turn(), 1) == "served"
    stuck.set()
    await first
    assert (queue._free, queue.waiting_turns) == (1, 0)


async def test_a_lull_comes_when_no_turn_computes_or_after_its_limit() -> None:
    """Work that can wait runs while the turns wait for the model, not before them."""
    queue = TurnQueue(width=2)
    await asyncio.wait_for(queue.lull(60), 1)  # nothing to wait for
    answer, done = asyncio.Event(), asyncio.Event()
    log: list[str] = []

    async def turn(name: str) -> None:
        async with queue.turn():
            log.append(f"{name} computes")
            async with waiting():
                await answer.wait()
            log.append(f"{name} ends")
            await done.wait()

    async def history_write() -> None:
        await queue.lull(60)
        log.append("written")

    turns = [asyncio.create_task(turn(name)) for name in ("a", "b", "c")]
    write = asyncio.create_task(history_write())
    await _settle()  # all three computed and wait for the model: that is a lull
    assert log == ["a computes", "b computes", "c computes", "written"]
    await write
    answer.set()
    await _settle()  # two turns hold their places again, one is queued for one
    assert queue.waiting_turns == 1
    late = asyncio.create_task(history_write())
    await _settle()
    assert not late.done()
    done.set()
    await asyncio.gather(*turns)
    await asyncio.wait_for(late, 1)
    assert log[-1] == "written"
    async with queue.turn():  # never quiet: the limit
        await asyncio.wait_for(queue.lull(0.05), 1)
        assert queue._lulls == []  # nothing left behind by a lull that timed out


async def test_outside_a_turn_waiting_changes_nothing_and_turns_nest() -> None:
    queue = TurnQueue(width=1)
    async with waiting():
        pass
    async with queue.turn(), queue.turn():  # the outer turn's place: no deadlock on itself
        assert queue._free == 0
    assert queue._free == 1


async def test_chat_turns_give_their_place_up_while_the_model_answers(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    """Through the real model client: with one place, three turns sent at once still
    wait for the model together, each request sent while the others' are out."""
    llm.latency = 0.3
    engine.queue = TurnQueue(width=1)

    async def chat(text: str) -> None:
        async for _ in engine.chat(new_thread_id(), text, owner="alice"):
            pass

    await asyncio.gather(*(chat(text) for text in ("a", "b", "c")))
    calls = sorted(llm.calls, key=lambda call: call.started)
    assert len(calls) == 3
    assert max(call.started for call in calls) < min(call.finished for call in calls)
    assert (engine.queue._free, engine.queue.waiting_turns) == (1, 0)
