"""Browser windows over Chainlit's own protocol (``ChatClient``), for the UI tests that open
several at once on one server or on two."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fakes.brain import WORKER_PROMPT, Brain
from fakes.chat_client import ChatClient, Question, sign_in
from fakes.openai_server import ScriptedOpenAI
from fakes.ui_server import UiServer

PASSWORDS = {"alice": "secret1", "bob": "secret2"}
REFUSALS = ("busy in another window", "already answered")
"""What a window that lost the race to answer a question is told."""


@contextlib.asynccontextmanager
async def window(
    server: UiServer | str, user: str = "alice", thread_id: str = "", cookie: str = ""
) -> AsyncIterator[ChatClient]:
    """One browser window on ``server`` (or a proxy's URL), signed in as ``user``."""
    url = server if isinstance(server, str) else server.url
    cookie = cookie or await sign_in(url, user, PASSWORDS[user])
    client = await ChatClient.open(url, cookie, thread_id)
    try:
        yield client
    finally:
        await client.close()


def workers(llm: ScriptedOpenAI, since: int = 0) -> int:
    """Section prompts the model received."""
    return sum(c.request.last_user.startswith(WORKER_PROMPT) for c in llm.calls[since:])


async def approve_in_both(
    first: ChatClient, asked: Question, second: ChatClient, again: Question, llm: ScriptedOpenAI
) -> list[str]:
    """Click Approve on the same plan in both windows at once (``asked`` and ``again``: the
    question as each shows it; the model is slow, so both clicks land while the research
    runs), wait for the report in whichever window won the race, and return what the windows
    were told that refused the other click."""
    assert again.interrupt_id == asked.interrupt_id
    llm.latency = 0.3
    try:
        await asyncio.gather(first.click(asked, "approve"), second.click(again, "approve"))
        waits = [
            asyncio.create_task(c.message_containing("## Sources", within=30))
            for c in (first, second)
        ]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        next(iter(done)).result()
        await asyncio.sleep(1)  # a second run, if there were one, would have started
    finally:
        llm.latency = 0.0
    return [m for c in (first, second) for m in c.messages() if any(r in m for r in REFUSALS)]


async def approving_one_plan_in_two_windows_runs_it_once(
    one: UiServer, two: UiServer, llm: ScriptedOpenAI, brain: Brain
) -> None:
    """Research asked in a window on ``one``, its plan open in a second window on ``two``
    (the same server or another), Approve clicked in both at once: every section prompt is
    sent once, one introduction is written, and a window is told the other answered."""
    async with window(one) as first:
        await first.send("research tides")
        asked = await first.next_question()
        async with window(two, thread_id=first.thread_id) as second:
            again = await second.next_question()
            before = len(llm.calls)
            refused = await approve_in_both(first, asked, second, again, llm)
    assert workers(llm, before) == brain.sections  # every section prompt sent once
    assert len([c for c in llm.calls[before:] if c.request.schema_name == "Introduction"]) == 1
    assert refused, (first.messages(), second.messages())
