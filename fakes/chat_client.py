"""A test client for the running Chainlit app: HTTP sign-in, then its socket.io protocol.

It records every event the server emits, and turns each ``ask`` (a socket.io call that
the server awaits) into an ``Ask`` the test answers, like a person clicking a button.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

Event = tuple[str, Any]
SHOWN = ("assistant_message", "system_message")
"""The app's messages: answers and documents, and questions, notes and progress."""


async def sign_in(base_url: str, username: str, password: str) -> str:
    """``POST /login``; return the ``Cookie`` header value carrying the access token."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/login", data={"username": username, "password": password})
        response.raise_for_status()
        token = response.cookies.get("access_token")
    assert token, "no access_token cookie after sign-in"
    return f"access_token={token}"


@dataclass
class Question:
    """A question the app showed: its message and its buttons."""

    interrupt_id: str
    message_id: str
    actions: list[dict[str, Any]]

    def action(self, decision: str) -> dict[str, Any]:
        """The button for ``decision`` (approve, edit, reject, respond)."""
        for action in self.actions:
            if action["payload"].get("decision") == decision:
                return action
        raise AssertionError(f"no {decision!r} button among {self.labels}")

    @property
    def labels(self) -> list[str]:
        """The buttons' labels, in order."""
        order = ["approve", "edit", "reject", "respond"]
        return [
            a["label"]
            for a in sorted(self.actions, key=lambda a: order.index(a["payload"]["decision"]))
        ]


@dataclass
class Ask:
    """A question the app is waiting on: answer it once."""

    message: dict[str, Any]
    spec: dict[str, Any]
    actions: list[dict[str, Any]]
    reply: asyncio.Future[Any] = field(repr=False)

    def action(self, decision: str) -> dict[str, Any]:
        """The button whose payload decision is ``decision``."""
        for action in self.actions:
            if action["payload"].get("decision") == decision or action["name"] == decision:
                return action
        raise AssertionError(f"no {decision!r} button among {[a['name'] for a in self.actions]}")

    def click(self, decision: str) -> None:
        """Press a button of an action question."""
        assert self.spec["type"] == "action", self.spec
        self.reply.set_result(self.action(decision))

    def say(self, text: str, thread_id: str) -> None:
        """Answer a text question."""
        assert self.spec["type"] == "text", self.spec
        self.reply.set_result(user_message(text, thread_id))


def user_message(text: str, thread_id: str) -> dict[str, Any]:
    """A ``user_message`` step as the web app sends it."""
    return {
        "id": str(uuid.uuid4()),
        "threadId": thread_id,
        "type": "user_message",
        "name": "User",
        "output": text,
        "createdAt": datetime.datetime.now(datetime.UTC).isoformat(),
    }


def session_auth(session_id: str, thread_id: str = "") -> dict[str, str]:
    """The socket.io ``auth`` the web app connects with (``thread_id``: a thread to resume)."""
    return {
        "sessionId": session_id,
        "clientType": "webapp",
        "threadId": thread_id,
        "userEnv": "{}",
        "chatProfile": "",
    }


def ends_turn(name: str, data: Any, message_id: str) -> bool:
    """Whether event ``name`` with ``data`` says the app's handler for message
    ``message_id`` has returned: its run step is updated with its end."""
    return (
        name == "update_message"
        and isinstance(data, dict)
        and data.get("type") == "run"
        and data.get("parentId") == message_id
    )


class ChatClient:
    """One browser session, over socket.io."""

    def __init__(self, base_url: str, cookie: str) -> None:
        """Use ``await ChatClient.open(...)``."""
        self.base_url = base_url
        self.cookie = cookie
        self.session_id = str(uuid.uuid4())
        self.thread_id = ""
        self.events: list[Event] = []
        self.asks: asyncio.Queue[Ask] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._actions: dict[str, dict[str, Any]] = {}
        self._questions_seen = 0
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.on("ask", self._ask)

    @classmethod
    async def open(cls, base_url: str, cookie: str, thread_id: str = "") -> ChatClient:
        """Connect (resuming ``thread_id`` if given) and wait for the session to start."""
        client = cls(base_url, cookie)
        await client.connect(thread_id)
        return client

    async def connect(self, thread_id: str = "") -> None:
        """Connect a session; with ``thread_id`` Chainlit runs ``on_chat_resume``."""
        await self.sio.connect(
            self.base_url,
            socketio_path="/ws/socket.io",
            headers={"Cookie": self.cookie},
            auth=session_auth(self.session_id, thread_id),
            transports=["websocket"],
            wait_timeout=10,
        )
        await self.sio.emit("connection_successful")
        self.thread_id = thread_id

    async def close(self) -> None:
        """Disconnect."""
        await self.sio.disconnect()

    async def upload(self, name: str, data: bytes, mime: str) -> httpx.Response:
        """Upload a file the way the browser's attach button does (``POST /project/file``);
        the response's JSON ``id`` goes into the next message's ``files``."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            return await http.post(
                "/project/file",
                params={"session_id": self.session_id},
                files={"file": (name, data, mime)},
                headers={"Cookie": self.cookie, "Origin": self.base_url},
            )

    async def send(self, text: str, files: Sequence[str] = ()) -> str:
        """Send a chat message (with the uploaded ``files``, by id); return its id. The app
        names the thread (``thread_id``)."""
        message = user_message(text, self.thread_id)
        references = [{"id": file_id} for file_id in files]
        await self.sio.emit("client_message", {"message": message, "fileReferences": references})
        return str(message["id"])

    async def turn(self, text: str, within: float = 30, files: Sequence[str] = ()) -> None:
        """Send ``text`` and wait until the app's message handler has finished with it."""
        await self.finished(await self.send(text, files), within)

    async def finished(self, message_id: str, within: float = 30) -> None:
        """Wait until the app's handler for message ``message_id`` has returned.

        Also until the thread id is known: socket.io runs each event's handler as its own
        task, so ``first_interaction`` may be recorded after later events.
        """
        await self.wait_for(lambda name, data: ends_turn(name, data, message_id), within)
        if not self.thread_id:
            await self.wait_for(lambda name, _: name == "first_interaction", within)

    async def stop(self, within: float = 20) -> None:
        """Press Stop and wait until the run says it stopped."""
        pressed_at = len(self.events)
        await self.sio.emit("stop")
        await self.message_containing("Stopped.", within=within, start=pressed_at)

    async def next_question(self, within: float = 20, start: int | None = None) -> Question:
        """The next question with buttons shown after event ``start`` (default: the last
        one asked for), once all its buttons have arrived."""
        begin = self._questions_seen if start is None else start
        _, first = await self.wait_for(
            lambda name, data: name == "action" and data["name"] == "approval", within, begin
        )
        interrupt_id = first["payload"]["interrupt_id"]
        await asyncio.sleep(0.2)  # the other buttons of the same message follow at once
        actions = {
            data["id"]: data
            for name, data in self.events[begin:]
            if name == "action"
            and data["name"] == "approval"
            and data["payload"]["interrupt_id"] == interrupt_id
        }
        self._questions_seen = (
            max(
                i
                for i, (name, data) in enumerate(self.events)
                if name == "action" and data["id"] in actions
            )
            + 1
        )
        if not self.thread_id:
            await self.wait_for(lambda name, _: name == "first_interaction", within)
        return Question(interrupt_id, str(first["forId"]), list(actions.values()))

    async def click(self, question: Question, decision: str) -> Any:
        """Press one of a question's buttons (Chainlit calls actions over HTTP)."""
        return await self.call_action(question.action(decision))

    async def call_action(self, action: dict[str, Any]) -> Any:
        """POST an action as the page does."""
        async with httpx.AsyncClient(base_url=self.base_url, headers={"Cookie": self.cookie}) as h:
            response = await h.post(
                "/project/action", json={"sessionId": self.session_id, "action": action}
            )
        response.raise_for_status()
        return response.json()

    async def editor(self, within: float = 20, start: int = 0) -> dict[str, Any]:
        """The next arguments form shown (a custom element): its id, forId and props."""
        _, data = await self.wait_for(
            lambda name, data: name == "element" and data.get("name") == "ArgsEditor",
            within,
            start,
        )
        return dict(data)

    async def save_edit(self, interrupt_id: str, args: dict[str, Any]) -> Any:
        """Press the form's Save with ``args``, as the form does (an action over HTTP)."""
        payload = {"interrupt_id": interrupt_id, "args": args}
        return await self.call_action({"name": "approval_edit", "payload": payload})

    async def cancel_edit(self, interrupt_id: str) -> Any:
        """Press the form's Cancel."""
        payload = {"interrupt_id": interrupt_id, "cancel": True}
        return await self.call_action({"name": "approval_edit", "payload": payload})

    def placeholders(self) -> list[str | None]:
        """What the app asked the chat box to say, in order (None: Chainlit's own)."""
        return [
            data["assistant"]["placeholder"]
            for name, data in self.events
            if name == "window_message"
            and isinstance(data, dict)
            and "placeholder" in data.get("assistant", {})
        ]

    async def placeholder_becomes(self, text: str | None, within: float = 10) -> None:
        """Wait until the app's last word on the chat box's placeholder is ``text``."""
        await self.wait_for(
            lambda *_: bool(self.placeholders()) and self.placeholders()[-1] == text, within
        )

    def question_messages(self) -> dict[str, str]:
        """Every question message's last content, by message id."""
        ids = {
            data["forId"]
            for name, data in self.events
            if name == "action" and data["name"] == "approval"
        }
        return {i: text for i, text in self._latest().items() if i in ids}

    def _latest(self) -> dict[str, str]:
        latest: dict[str, str] = {}
        for name, data in self.events:
            if name in ("new_message", "update_message") and data.get("type") in SHOWN:
                latest[data["id"]] = data.get("output") or ""
        return latest

    async def next_ask(self, within: float = 20) -> Ask:
        """The next question the app asks (once the thread id is known, see ``finished``)."""
        ask = await asyncio.wait_for(self.asks.get(), within)
        if not self.thread_id:
            await self.wait_for(lambda name, _: name == "first_interaction", within)
        return ask

    async def wait_for(
        self, predicate: Callable[[str, Any], bool], within: float = 20, start: int = 0
    ) -> Event:
        """The first event (from index ``start``) matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for name, data in self.events[start:]:
                if predicate(name, data):
                    return name, data
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                names = [name for name, _ in self.events[-20:]]
                raise AssertionError(f"no matching event in {within}s; last events: {names}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def message_containing(self, text: str, within: float = 20, start: int = 0) -> str:
        """The content of the first assistant message (new or updated) containing ``text``."""
        _, data = await self.wait_for(
            lambda name, data: (
                name in ("new_message", "update_message")
                and data.get("type") in SHOWN
                and text in (data.get("output") or "")
            ),
            within,
            start,
        )
        return str(data["output"])

    def messages(self) -> list[str]:
        """Every assistant message's content so far (last version of each)."""
        latest: dict[str, str] = {}
        for name, data in self.events:
            if name in ("new_message", "update_message") and data.get("type") in SHOWN:
                latest[data["id"]] = data.get("output") or ""
        return list(latest.values())

    def steps(self) -> dict[str, dict[str, Any]]:
        """Every tool step's last version, by id."""
        latest: dict[str, dict[str, Any]] = {}
        for name, data in self.events:
            if name in ("new_message", "update_message") and data.get("type") == "tool":
                latest[data["id"]] = data
        return latest

    async def _record(self, name: str, data: Any = None) -> None:
        if name == "action":
            self._actions[data["id"]] = data
        elif name == "first_interaction":
            self.thread_id = data["thread_id"]
        self.events.append((name, data))
        self._changed.set()

    async def _ask(self, data: dict[str, Any]) -> Any:
        spec = data["spec"]
        actions = [self._actions[key] for key in spec.get("keys") or [] if key in self._actions]
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.events.append(("ask", data))
        self._changed.set()
        await self.asks.put(Ask(data["msg"], spec, actions, reply))
        return await reply
