"""How a streamed answer reaches the page: every piece made safe, in order, and none held
back for long (``TurnView`` with a recording stand-in for Chainlit's message)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from assistant.events import Answer, Token
from assistant.text import safe_markdown
from assistant.ui import render


class Page:
    """What the stand-in messages did, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def message(self, content: str = "", **_: Any) -> Any:
        page = self

        class Message:
            def __init__(self) -> None:
                self.content = content

            async def stream_token(self, piece: str) -> None:
                self.content += piece
                page.log.append(("token", piece))

            async def update(self) -> None:
                page.log.append(("update", self.content))

            async def send(self) -> None:
                page.log.append(("send", self.content))

        return Message()


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Page:
    page = Page()
    monkeypatch.setattr(render.cl, "Message", page.message)
    return page


def slow_check(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Making the text safe takes ``seconds`` (as it does for a long answer)."""

    def slow(text: str) -> str:
        time.sleep(seconds)
        return safe_markdown(text)

    monkeypatch.setattr(render, "safe_markdown", slow)


async def test_pieces_a_model_sends_slower_than_the_page_repaints_go_out_one_by_one(
    page: Page,
) -> None:
    view = render.TurnView("thread", questions=None)
    for piece in ["Here ", "is ", "my ", "answer."]:
        await view.show(Token(piece))
        await asyncio.sleep(render.SHOW_EVERY_S + 0.01)
    assert page.log == [
        ("token", "Here "),
        ("token", "is "),
        ("token", "my "),
        ("token", "answer."),
    ]
    await view.show(Answer("Here is my answer."))
    assert page.log[-1] == ("send", "Here is my answer.")


async def test_pieces_sent_faster_go_out_together(page: Page) -> None:
    view = render.TurnView("thread", questions=None)
    for piece in ["Here ", "is ", "my ", "answer."]:
        await view.show(Token(piece))
        await asyncio.sleep(0.001)
    assert page.log == [("token", "Here ")]
    await asyncio.sleep(render.SHOW_EVERY_S)
    assert page.log == [("token", "Here "), ("token", "is my answer.")]


async def test_pieces_held_while_the_check_is_costly_are_shown_after_a_pause(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_check(monkeypatch, 0.005)  # next check 20 x 5 ms = 0.1 s later
    view = render.TurnView("thread", questions=None)
    await view.show(Token("First "))
    await view.show(Token("then "))
    await view.show(Token("more"))
    assert page.log == [("token", "First ")]  # the other two wait for the next check
    await asyncio.sleep(0.3)  # the model pauses: they are shown anyway
    assert page.log == [("token", "First "), ("token", "then more")]
    await view.end_answer()
    assert page.log[-1] == ("send", "First then more")


async def test_an_answer_ending_while_pieces_are_held_is_sent_whole_once(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_check(monkeypatch, 0.005)
    view = render.TurnView("thread", questions=None)
    await view.show(Token("A "))
    await view.show(Token("![x](http://evil.example/x.png) "))
    await view.show(Answer("A ![x](http://evil.example/x.png) done"))
    await asyncio.sleep(0.3)  # the held pieces' timer does not show them again
    assert page.log == [("token", "A "), ("send", "A [image: x] done")]


async def test_a_held_piece_that_cannot_be_shown_is_logged_and_the_answer_still_ends_whole(
    page: Page, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    view = render.TurnView("thread", questions=None)
    await view.show(Token("First "))
    message = view.answer
    assert message is not None

    async def broken(piece: str) -> None:
        raise ConnectionError("the socket closed")

    monkeypatch.setattr(message, "stream_token", broken)
    await view.show(Token("then more"))
    await asyncio.sleep(render.SHOW_EVERY_S + 0.05)
    assert "could not show a streamed piece" in caplog.text
    await view.end_answer()
    assert page.log == [("token", "First "), ("send", "First then more")]
