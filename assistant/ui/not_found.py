"""A conversation's address, answered before Chainlit's page: a plain "not found" for a
conversation that does not exist, was deleted, or belongs to another account.

Chainlit's page would try to reopen it anyway: its socket refuses another account's
conversation and the page shows "Could not reach the server" with a send button that never
enables; a deleted one gives "Couldn't resume chat". Here the server answers the address
itself, with a 404 page saying so and a way back to a new chat. Whose conversation it is
comes from Chainlit's history (the same check its socket makes). Not signed in, the page is
Chainlit's as usual: it asks to sign in first. A conversation that cannot be reopened from
inside the page (deleted in another window) is loaded anew by the page script
(``page.open_thread``), which lands here.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from chainlit.auth.cookie import get_token_from_cookies
from chainlit.auth.jwt import decode_jwt
from chainlit.data import get_data_layer
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

log = logging.getLogger(__name__)

PATH = "/thread/{thread_id}"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conversation not found · Assistant</title>
<link rel="icon" href="/favicon">
<style>
  body {{ margin: 0; min-height: 100vh; display: flex; align-items: center;
         justify-content: center; background: #fafafa; color: #18181b;
         font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
  main {{ max-width: 28rem; padding: 2rem; text-align: center; }}
  img {{ height: 40px; margin-bottom: 1.5rem; }}
  h1 {{ font-size: 1.4rem; margin: 0 0 .75rem; }}
  p {{ margin: 0 0 1rem; color: #52525b; }}
  a.button {{ display: inline-block; margin-top: .5rem; padding: .6rem 1.2rem;
             border-radius: .5rem; background: #f50a66; color: #fff;
             text-decoration: none; font-weight: 600; }}
  a.button:focus-visible {{ outline: 3px solid #18181b; outline-offset: 2px; }}
</style>
</head>
<body>
<main id="not-found">
  <img src="/logo?theme=light" alt="Assistant">
  <h1>This conversation can't be opened</h1>
  <p>It does not exist, it was deleted, or it belongs to another account.</p>
  {who}
  <a class="button" href="/">Start a new chat</a>
</main>
</body>
</html>
"""


def not_found_page(identifier: str) -> str:
    """The page, naming who is signed in (the likely reason: another account)."""
    who = f"<p>You are signed in as <strong>{html.escape(identifier)}</strong>.</p>"
    return PAGE.format(who=who)


async def _owner(thread_id: str) -> str | None:
    """Who owns ``thread_id`` in Chainlit's history (None: no such conversation)."""
    data_layer = get_data_layer()
    if data_layer is None:
        return None
    thread: Any = await data_layer.get_thread(thread_id)
    return str(thread.get("userIdentifier") or "") if thread else None


def thread_page_route() -> APIRoute:
    """``GET /thread/{id}``: Chainlit's page for the signed-in person's own conversation,
    else the "not found" page (404)."""
    from chainlit.server import serve  # Chainlit's page for every other address

    async def thread_page(thread_id: str, request: Request) -> Response:
        token = get_token_from_cookies(dict(request.cookies))
        try:
            identifier = decode_jwt(token).identifier if token else None
        except Exception:  # not a token of ours: Chainlit's page asks to sign in
            identifier = None
        if identifier is None:
            return await serve(request)
        if await _owner(thread_id) == identifier:
            return await serve(request)
        log.info("conversation %s is not %s's: answered not found", thread_id, identifier)
        return HTMLResponse(not_found_page(identifier), status_code=404)

    return APIRoute(PATH, thread_page, methods=["GET"], include_in_schema=False)
