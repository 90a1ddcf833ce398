"""One conversation in one browser session: runs the engine, answers approvals, stops.

Every run is an ``asyncio`` task kept here, so Stop can cancel it wherever it was started
(a message, a reopened thread, a Retry button); cancelling the task cancels the graph and
its in-flight model and search calls, and the checkpoints keep everything up to the last
finished step. A run goes on until no approval is pending: ask, resume, draw, repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import chainlit as cl

from assistant.engine import Engine, RunConfig
from assistant.errors import InputError, describe
from assistant.ui import approvals, settings_panel
from assistant.ui.render import TurnView

log = logging.getLogger(__name__)

CONTINUE_ACTION = "continue_run"
STOP_WAIT_S = 10.0

Work = Callable[[TurnView], Awaitable[None]]


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
        ask_within: int = approvals.ASK_TIMEOUT,
    ) -> None:
        """``values``: the chat settings panel's values for this conversation."""
        self.engine = engine
        self.thread_id = thread_id
        self.owner = owner
        self.values = values
        self.ask_within = ask_within
        self.asking = False
        self.detached = False
        self._stop_note = "Stopped."
        self._task: asyncio.Task[None] | None = None

    @property
    def options(self) -> RunConfig:
        """This conversation's per-run overrides (the settings panel)."""
        return settings_panel.run_config(self.values)

    @property
    def busy(self) -> bool:
        """A run is going on (or waiting for an approval)."""
        return self._task is not None and not self._task.done()

    async def send(self, text: str) -> None:
        """Run a turn for the person's message; returns when it is over."""
        self.detached = False
        await self._run(lambda view: self._turn(view, text), wait=True)

    def reopen(self) -> None:
        """The thread was reopened: in the background, ask a pending approval again, or
        offer to finish a run that was cut short."""
        if not self.busy:
            self._task = asyncio.create_task(
                self._in_background(self._guarded(self._reopen)), name=f"reopen {self.thread_id}"
            )

    async def continue_run(self) -> None:
        """Run the thread again from its last checkpoint (Retry, Continue), in the background."""
        self.detached = False
        await self._run(self._continue, wait=False)

    async def stop(self) -> None:
        """Cancel the running task; offer to continue if work was left unfinished."""
        task = self._task
        if task is None or task.done():
            return
        self._stop_note = "Stopped."
        if not task.cancelling():  # Chainlit's Stop has already cancelled a message's run
            task.cancel()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        try:
            unfinished = bool((await self.engine.snapshot(self.thread_id)).next)
        except Exception:
            log.exception("could not read the state of thread %s", self.thread_id)
            return
        if unfinished:
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

    async def _turn(self, view: TurnView, text: str) -> None:
        if await self.engine.pending(self.thread_id):
            await cl.Message(
                content="This conversation is still waiting for your decision, so your "
                "message was not sent. Answer below (Reject drops the request), then write again."
            ).send()
        else:
            await view.draw(self.engine.chat(self.thread_id, text, self.options, owner=self.owner))
        await self._answer_pending(view)

    async def _reopen(self, view: TurnView) -> None:
        if await self.engine.pending(self.thread_id):
            await cl.Message(content="This conversation is waiting for your decision.").send()
            await self._answer_pending(view)
        elif (await self.engine.snapshot(self.thread_id)).next:
            await cl.Message(
                content="The last request in this conversation did not finish (it was "
                "stopped, failed or the server restarted).",
                actions=[continue_button("Continue it")],
            ).send()

    async def _continue(self, view: TurnView) -> None:
        if not (await self.engine.snapshot(self.thread_id)).next:
            await cl.Message(content="Nothing is left to continue in this conversation.").send()
            return
        await view.draw(
            self.engine.continue_run(self.thread_id, options=self.options, owner=self.owner)
        )
        await self._answer_pending(view)

    async def _answer_pending(self, view: TurnView) -> None:
        """Ask each pending approval and resume with the answers, until none is left."""
        while True:
            pending = await self.engine.pending(self.thread_id)
            if not pending or self.detached:
                return
            answers: dict[str, Any] = {}
            self.asking = True
            try:
                for approval in pending:
                    answer = await approvals.ask(approval, self.ask_within)
                    if answer is None:
                        return  # nobody answered in time: it stays pending for next time
                    answers[approval.interrupt_id] = answer
            finally:
                self.asking = False
            await view.draw(
                self.engine.resume(self.thread_id, answers, options=self.options, owner=self.owner)
            )

    async def _run(self, work: Work, *, wait: bool) -> None:
        """Start ``work`` as this conversation's one task; ``wait`` for it, or not."""
        if self.busy:
            await cl.Message(
                content="Still working on the previous request: wait for it, or press Stop."
            ).send()
            return
        self._stop_note = "Stopped."
        run = self._guarded(work)
        task = asyncio.create_task(run if wait else self._in_background(run))
        self._task = task
        if wait:
            await task

    async def _guarded(self, work: Work) -> None:
        """Run ``work``; a failure becomes one readable line with a Retry button."""
        view = TurnView()
        try:
            await work(view)
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

    @staticmethod
    async def _in_background(work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` with the page showing it as busy (and the Stop button), as a message."""
        emitter = cl.context.emitter
        await emitter.task_start()
        try:
            await work
        finally:
            await emitter.task_end()
