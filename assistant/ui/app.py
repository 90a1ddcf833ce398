"""The Chainlit app: lifecycle hooks and chat handlers, each a few lines over the modules.

Started by ``assistant ui`` (see ``launch.py``). One ``Runtime`` (engine, stores) per
server process lives from ``on_app_startup`` to ``on_app_shutdown``; one ``Conversation``
per browser session lives in Chainlit's user session. The LangGraph thread id is the
Chainlit thread id.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import chainlit as cl
from chainlit.data.base import BaseDataLayer
from chainlit.server import app as server
from chainlit.types import ThreadDict
from starlette.datastructures import Headers

from assistant.settings import load_settings
from assistant.ui import auth, chainlit_fixes, runtime, settings_panel
from assistant.ui.conversation import CONTINUE_ACTION, Conversation
from assistant.ui.files import download_route, install_route

CONVERSATION = "conversation"

# The engine's structured-output models trigger this harmless pydantic warning (as in the CLI).
warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
chainlit_fixes.apply()


@cl.on_app_startup
async def open_runtime() -> None:
    """Open the engine and the history store for this server process."""
    opened = await runtime.Runtime.open(load_settings())
    runtime.attach(server, opened)
    install_route(server, download_route(opened.files))


@cl.on_app_shutdown
async def close_runtime() -> None:
    """Close the engine (its SQLite connections would otherwise keep the process alive)."""
    opened = runtime.detach(server)
    if opened is not None:
        await opened.close()


@cl.data_layer
def data_layer() -> BaseDataLayer:
    """Chainlit's history: SQLite under ASSISTANT_DATA_DIR (built once, on first use)."""
    return runtime.history(load_settings())


def _register_sign_in(users: dict[str, str]) -> None:
    """Password accounts when ASSISTANT_USERS is set, else the local user, automatically."""
    if users:

        @cl.password_auth_callback
        async def sign_in(username: str, password: str) -> cl.User | None:
            if auth.check_password(users, username, password):
                return cl.User(identifier=username, metadata={"provider": "password"})
            return None

    else:

        @cl.header_auth_callback
        async def local_user(headers: Headers) -> cl.User:
            return cl.User(identifier=auth.LOCAL_USER, metadata={"provider": "local"})


_register_sign_in(auth.parse_users(os.environ.get(auth.USERS_ENV)))


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
    if not isinstance(conversation, Conversation):
        opened = runtime.current(server)
        session = cl.context.session
        values = settings_panel.merged(opened.settings, session.chat_settings)
        owner = session.user.identifier if session.user else None
        conversation = Conversation(opened.engine, session.thread_id, owner, values)
        cl.user_session.set(CONVERSATION, conversation)
    return conversation


async def _show_settings(conversation: Conversation) -> None:
    settings = runtime.current(server).settings
    conversation.values = await settings_panel.show(settings, conversation.values)


@cl.on_chat_start
async def chat_start() -> None:
    """A new conversation: show the settings panel."""
    await _show_settings(_conversation())


@cl.on_chat_resume
async def chat_resume(thread: ThreadDict) -> None:
    """A reopened conversation (reload, history, restart): restore it, re-ask what is pending.

    Chainlit restored the panel's values from the thread, and sends the thread's messages
    after this returns: the pending approval is shown from the conversation's own task.
    """
    conversation = _conversation()  # Chainlit set the session's thread id to thread["id"]
    await _show_settings(conversation)
    conversation.reopen()


@cl.on_message
async def message(message: cl.Message) -> None:
    """The person's message: one turn, streamed, with its approvals."""
    await _conversation().send(message.content)


@cl.on_settings_update
async def settings_update(values: dict[str, Any]) -> None:
    """The settings panel changed: applies to this conversation's next runs."""
    conversation = _conversation()
    conversation.values = settings_panel.merged(runtime.current(server).settings, values)


@cl.on_stop
async def stop() -> None:
    """The Stop button: cancel the running graph, including in-flight model and search calls."""
    await _conversation().stop()


@cl.on_chat_end
async def chat_end() -> None:
    """The browser disconnected: do not keep a question waiting for it."""
    conversation = cl.user_session.get(CONVERSATION)
    if isinstance(conversation, Conversation):
        conversation.detach()


@cl.action_callback(CONTINUE_ACTION)
async def continue_run(action: cl.Action) -> None:
    """Retry / Continue: run the thread again from its last checkpoint."""
    await action.remove()
    await _conversation().continue_run()
