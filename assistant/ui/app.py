"""The Chainlit app: lifecycle hooks and chat handlers, each a few lines over the modules.

Started by ``assistant ui`` (see ``launch.py``). One ``Runtime`` (engine, accounts) per
server process lives from ``on_app_startup`` to ``on_app_shutdown``; one ``Conversation``
per browser session lives in Chainlit's user session. The LangGraph thread id is the
Chainlit thread id; the owner of every thread is the signed-in user.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import chainlit as cl
from chainlit.data import get_data_layer
from chainlit.data.base import BaseDataLayer
from chainlit.server import app as server
from chainlit.types import ThreadDict
from fastapi import Request, Response
from starlette.datastructures import Headers

from assistant.events import Undo
from assistant.settings import load_settings
from assistant.ui import (
    auth,
    chainlit_fixes,
    commands,
    editor,
    launch,
    page,
    runtime,
    security,
    settings_panel,
    uploads,
)
from assistant.ui.approvals import ACTION as APPROVAL_ACTION
from assistant.ui.approvals import payload_of
from assistant.ui.conversation import CONTINUE_ACTION, Conversation
from assistant.ui.files import download_route, install_route
from assistant.ui.not_found import thread_page_route
from assistant.ui.render import UNDO_ACTION, notice

CONVERSATION = "conversation"

# The engine's structured-output models trigger this harmless pydantic warning (as in the CLI).
warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
chainlit_fixes.apply()

SETTINGS = load_settings()
uploads.configure(SETTINGS)
USERS = auth.parse_users(os.environ.get(auth.USERS_ENV))

server.add_middleware(
    security.SecurityMiddleware,
    policy=security.Policy(
        users=frozenset(USERS),
        local_user=auth.LOCAL_USER,
        allowed_origins=frozenset(SETTINGS.allowed_origins),
        secret=os.environ.get("CHAINLIT_AUTH_SECRET", ""),
    ),
    auth_store=lambda scope: _auth_store(),
)


def _auth_store() -> Any:
    try:
        return runtime.current(server).auth
    except RuntimeError:  # before start-up finished: nothing to check against yet
        return None


@cl.on_app_startup
async def open_runtime() -> None:
    """Open the engine for this server process; without it the server is no use, so a
    failure (the database refused or went away since ``assistant ui`` checked it) ends
    the process with one line."""
    try:
        opened = await runtime.Runtime.open(load_settings(), USERS)
    except Exception as exc:
        launch.exit_at_start(exc)
    runtime.attach(server, opened)
    install_route(server, download_route(lambda: runtime.current(server).engine))
    install_route(server, thread_page_route())
    runtime.settle_heap()


@cl.on_app_shutdown
async def close_runtime() -> None:
    """Write the history still queued, then close the engine (its database connections
    would otherwise keep the process alive)."""
    await runtime.shut_down(server, get_data_layer())


@cl.data_layer
def data_layer() -> BaseDataLayer:
    """Chainlit's history on the history database (built once, on first use)."""
    return runtime.history(server, load_settings())


def _register_sign_in(users: dict[str, str]) -> None:
    """Password accounts when ASSISTANT_USERS is set, else the local user, automatically.

    Each sign-in opens a server-side session; its id rides in the signed token, which the
    security middleware accepts only while the session is live.
    """
    if users:

        @cl.password_auth_callback
        async def sign_in(username: str, password: str) -> cl.User | None:
            if not auth.check_password(users, username, password):
                return None
            sid = await runtime.current(server).auth.open_session(username)
            return cl.User(
                identifier=username, metadata={"provider": "password", security.SESSION_KEY: sid}
            )

    else:

        @cl.header_auth_callback
        async def local_user(headers: Headers) -> cl.User:
            sid = await runtime.current(server).auth.open_session(auth.LOCAL_USER)
            return cl.User(
                identifier=auth.LOCAL_USER,
                metadata={"provider": "local", security.SESSION_KEY: sid},
            )


_register_sign_in(USERS)


@cl.on_logout
async def sign_out(request: Request, response: Response) -> None:
    """Logging out ends the session on the server: the old token stops working at once."""
    token = request.cookies.get(security.AUTH_COOKIE)
    secret = os.environ.get("CHAINLIT_AUTH_SECRET", "")
    sid = security.session_id(token, secret) if token else None
    if sid:
        await runtime.current(server).auth.revoke(sid)


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """Example requests on the empty chat screen."""
    return [
        cl.Starter(
            label="Research a topic",
            message="Research how ocean tides work and what drives spring and neap tides",
            icon="/public/icons/research.svg",
        ),
        cl.Starter(
            label="Quick web lookup",
            message="Search the web for the latest stable Python release",
            icon="/public/icons/search.svg",
        ),
        cl.Starter(
            label="Exact arithmetic",
            message="Calculate (1.07 ^ 30 - 1) * 2500",
            icon="/public/icons/calculate.svg",
        ),
        cl.Starter(
            label="Write a text",
            message="Write a short, friendly email inviting the team to a Friday demo",
            icon="/public/icons/write.svg",
        ),
    ]


def _conversation() -> Conversation:
    """This session's conversation, created on first use (a message may beat on_chat_start).

    The LangGraph thread id is Chainlit's thread id: the new one, or the one resumed.
    """
    conversation = cl.user_session.get(CONVERSATION)
    if isinstance(conversation, Conversation):
        return conversation
    opened = runtime.current(server)
    session = cl.context.session
    # Resuming a thread replaces the user session: a message sent at once may have made
    # this session's conversation already, and be running in it.
    conversation = opened.windows.get(session.id)
    if not isinstance(conversation, Conversation):
        values = settings_panel.merged(
            opened.settings, list(opened.engine.labels), session.chat_settings
        )
        owner = session.user.identifier if session.user else auth.LOCAL_USER
        conversation = Conversation(opened.engine, session.thread_id, owner, values)
        opened.windows[session.id] = conversation
    cl.user_session.set(CONVERSATION, conversation)
    return conversation


async def _show_settings(conversation: Conversation) -> None:
    opened = runtime.current(server)
    conversation.values = await settings_panel.show(
        opened.settings, opened.engine.labels, conversation.values
    )


@cl.on_chat_start
async def chat_start() -> None:
    """A new conversation: show the settings panel.

    Chainlit also starts a chat when it could not reopen the one asked for (deleted since
    the page listed it): the page is then sent to that address, where the server says so.
    """
    missing = cl.context.session.thread_id_to_resume
    if missing:
        await page.open_thread(missing)
        return
    conversation = _conversation()
    await _show_settings(conversation)
    await commands.announce()
    await conversation.update_placeholder()


@cl.on_chat_resume
async def chat_resume(thread: ThreadDict) -> None:
    """A reopened conversation (reload, history, restart): its open questions, once.

    Chainlit restored the panel's values from the thread and sends the thread's messages
    after this returns; the questions are shown from a task of their own, after them.
    """
    conversation = _conversation()  # Chainlit set the session's thread id to thread["id"]
    await _show_settings(conversation)
    await commands.announce()
    await conversation.run_soon(conversation.reopen)


@cl.on_message
async def message(message: cl.Message) -> None:
    """The person's message."""
    await _conversation().send(message)


@cl.on_settings_update
async def settings_update(values: dict[str, Any]) -> None:
    """The settings panel changed: applies to this conversation's next runs."""
    opened = runtime.current(server)
    conversation = _conversation()
    conversation.values = settings_panel.merged(opened.settings, list(opened.engine.labels), values)


@cl.on_stop
async def stop() -> None:
    """The Stop button: cancel the running graph, including in-flight model and search calls."""
    await _conversation().stop()


@cl.action_callback(APPROVAL_ACTION)
async def approval(action: cl.Action) -> None:
    """A question's button (Approve, Edit, Reject, Feedback)."""
    try:
        interrupt_id, decision = payload_of(action)
    except ValueError:
        return
    await _conversation().decide(interrupt_id, decision)


@cl.action_callback(editor.ACTION)
async def edit(action: cl.Action) -> dict[str, str]:
    """The arguments form's Save or Cancel; answers why it was refused, if it was."""
    try:
        interrupt_id, args = editor.parse(action)
    except ValueError as exc:
        return {"refused": str(exc)}
    refused = await _conversation().edit(interrupt_id, args)
    return {"refused": refused} if refused else {}


@cl.action_callback(UNDO_ACTION)
async def undo(action: cl.Action) -> None:
    """Undo under a kept memory's note: forget it again."""
    payload = action.payload or {}
    conversation = _conversation()
    done = await conversation.engine.undo(
        Undo(str(payload.get("kind", "")), str(payload.get("key", ""))), owner=conversation.owner
    )
    await action.remove()
    await notice(
        "Undone: I forgot it." if done else "Nothing to undo: it was already forgotten."
    ).send()


@cl.action_callback(commands.FORGET_ACTION)
async def forget_memory(action: cl.Action) -> None:
    """A memory's Forget button (``/memory``)."""
    conversation = _conversation()
    await commands.forget(action, conversation.engine, conversation.owner)


@cl.action_callback(commands.FORGET_ALL_ACTION)
async def forget_all_memories(action: cl.Action) -> None:
    """Forget all (``/memory``)."""
    conversation = _conversation()
    await commands.forget_all(action, conversation.engine, conversation.owner)


@cl.action_callback(CONTINUE_ACTION)
async def continue_run(action: cl.Action) -> None:
    """Retry / Continue: run the thread again from its last checkpoint."""
    await action.remove()
    await _conversation().continue_run()
