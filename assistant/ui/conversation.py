"""One conversation in one browser session: runs the engine, answers approvals, stops.

Every run is an ``asyncio`` task kept here, so Stop can cancel it wherever it was started
(a message, a reopened thread, a Retry button); cancelling the task cancels the graph and
its in-flight model and search calls, and the checkpoints keep everything up to the last
finished step. A run goes on until no approval is pending: ask, resume, draw, repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import chainlit as cl

from assistant.engine import Engine, RunConfig
from assistant.errors import InputError, describe
from assistant.events import Event
from assistant.ui import approvals, settings_panel
from assistant.ui.render import TurnView

log = logging.getLogger(__name__)

CONTINUE_ACTION = "continue_run"
STOP_WAIT_S = 10.0


def continue_button(label: str) -> cl.Action:
    """A button that continues the thread's unfinished run from its last checkpoint."""
    return cl.Action(name=CONTINUE_ACTION, payload={}, label=label, icon="rotate-ccw")


class Conversation:
    """The thread (``thread_id`` is both Chainlit's and LangGraph's) and its running task."""

    def __init__(
        self,
        engine: Engine,
        thread_id: str,
        owner: str | None,
        values: dict[str, Any],
        ask_timeout: float = approvals.ASK_TIMEOUT,
    ) -> None:
        """``values``: the chat settings panel's values for this conversation."""
        self.engine = engine
        self.thread_id = thread_id
        self.owner = owner
        self.values = values
        self.ask_timeout = ask_timeout
        self.asking = False
        self.detached = False
        self._stop_note = "Stopped."
        self._task: asyncio.Task[None] | None = None

    @property
    def options(self) -> RunConfig:
        """This conversation's per-run overrides."""
        return settings_panel.run_config(self.values)

    @property
    def busy(self) -> bool:
        """A run is going on (or waiting for an approval)."""
        return self._task is not None and not self._task.done()

    async def send(self, text: str) -> None:
        """Run a turn for the person's message; returns when it is over."""
        events = self.engine.chat(self.thread_id, text, self.options, owner=self.owner)
        await self._start(self._drive(events), wait=True)

    async def resume(self) -> None:
        """On reopening: show a pending approval again, or offer to finish an unfinished run."""
        if await self.engine.pending(self.thread_id):
            await cl.Message(content="This conversation is waiting for your decision.").send()
            await self._start(self._drive(None), wait=False)
        elif (await self.engine.snapshot(self.thread_id)).next:
            await cl.Message(
                content="The last request in this conversation did not finish (it was "
                "stopped, failed or the server restarted).",
                actions=[continue_button("Continue it")],
            ).send()

    async def continue_run(self) -> None:
        """Start the unfinished run again from its last checkpoint (in the background)."""
        if not (await self.engine.snapshot(self.thread_id)).next:
            await cl.Message(content="Nothing is left to continue in this conversation.").send()
            return
        events = self.engine.continue_run(self.thread_id, options=self.options)
        await self._start(self._drive(events), wait=False)

    async def stop(self) -> None:
        """Cancel the running task; offer to continue if work was left unfinished."""
        task = self._task
        if task is None or task.done():
            return
        self._stop_note = "Stopped."
        if not task.cancelling():  # Chainlit's Stop may already have cancelled it
            task.cancel()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if (await self.engine.snapshot(self.thread_id)).next:
            await cl.Message(
                content="Stopped. Everything up to the last finished step is kept: send a "
                "new message, or continue where it stopped.",
                actions=[continue_button("Continue")],
            ).send()

    def detach(self) -> None:
        """The browser went away: stop waiting for an answer it cannot give.

        A run that is working goes on (its messages are saved); a question is cancelled
        and stays pending in the checkpoint, to be asked again when the thread is reopened.
        """
        self.detached = True
        if self.asking and self._task is not None:
            self._stop_note = "Waiting for your decision: it is asked again when you come back."
            self._task.cancel()

    async def _start(self, work: Coroutine[Any, Any, None], *, wait: bool) -> None:
        if self.busy:
            work.close()
            await cl.Message(
                content="Still working on the previous request: wait for it, or press Stop."
            ).send()
            return
        task = asyncio.create_task(work, name=f"run {self.thread_id}")
        self._task = task
        if wait:
            await task

    async def _drive(self, events: AsyncIterator[Event] | None) -> None:
        """Draw ``events``, then ask each pending approval and resume, until none is left."""
        view = TurnView()
        try:
            while True:
                if events is not None:
                    await view.draw(events)
                pending = await self.engine.pending(self.thread_id)
                if not pending or self.detached:
                    return
                answers: dict[str, Any] = {}
                self.asking = True
                try:
                    for approval in pending:
                        answer = await approvals.ask(approval, self.ask_timeout)
                        if answer is None:
                            return  # nobody answered: it stays pending for next time
                        answers[approval.interrupt_id] = answer
                finally:
                    self.asking = False
                events = self.engine.resume(self.thread_id, answers, options=self.options)
        except asyncio.CancelledError:
            await view.abort(self._stop_note)
            raise
        except InputError as exc:
            await view.abort("Not run.")
            await cl.Message(content=f"⚠️ {exc}").send()
        except Exception as exc:
            log.exception("run failed on thread %s", self.thread_id)
            await view.abort("Failed.")
            await cl.Message(
                content=f"⚠️ {describe(exc)}", actions=[continue_button("Retry")]
            ).send()
