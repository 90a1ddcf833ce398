"""What the server asks of the page beyond Chainlit's own events, through one small script.

``public/assistant.js`` (loaded by ``[UI] custom_js``) acts on window messages the server
sends with Chainlit's ``send_window_message``: Chainlit posts them to the page's parent,
which is the page itself since framing is forbidden (``frame-ancestors 'none'``). Each is
``{"assistant": {...}}`` with one instruction:

- ``placeholder``: what the chat box says while empty (None: Chainlit's own words);
- ``follow``: scroll to the newest content and keep following it (a button started work,
  as Chainlit does when a message is sent);
- ``reveal``: scroll a message to the top of the view (a finished document);
- ``open``: load a conversation's page anew (one that could not be reopened here; the
  server's page then says why).

Chainlit echoes every window message back to the server, where nothing listens for it.
"""

from __future__ import annotations

from typing import Any

import chainlit as cl

KEY = "assistant"


async def _send(**instruction: Any) -> None:
    await cl.send_window_message({KEY: instruction})


async def placeholder(text: str | None) -> None:
    """Set the chat box's placeholder (None: Chainlit's default)."""
    await _send(placeholder=text)


async def follow() -> None:
    """Scroll to the newest content and keep following it."""
    await _send(follow=True)


async def reveal(message_id: str) -> None:
    """Scroll message ``message_id`` to the top of the view."""
    await _send(reveal=message_id)


async def open_thread(thread_id: str) -> None:
    """Load the page of conversation ``thread_id`` anew."""
    await _send(open=f"/thread/{thread_id}")
