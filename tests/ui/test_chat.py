"""The chat UI driven over its socket.io protocol, as the web page drives it.

Each test is one behaviour a person would notice: the reply streams, the plan asks for a
decision, approve/edit/reject/feedback do what they say, a reopened or restarted
conversation asks again, Stop stops the work, failures read as sentences, and one user
never sees another's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio

from assistant.text import safe_markdown
from assistant.ui.conversation import PLACEHOLDERS
from fakes.brain import Brain
from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import HttpError, ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.ui.conftest import UiServer


@contextlib.asynccontextmanager
async def chat(
    server: UiServer, user: str = "alice", *, thread_id: str = "", cookie: str = ""
) -> AsyncIterator[ChatClient]:
    """A signed-in browser session (resuming ``thread_id`` if given)."""
    cookie = cookie or await sign_in(server.url, user, {"alice": "secret1", "bob": "secret2"}[user])
    client = await ChatClient.open(server.url, cookie, thread_id)
    try:
        yield client
    finally:
        await client.close()


async def get(server: UiServer, user: str, path: str) -> httpx.Response:
    """An HTTP GET as ``user``."""
    cookie = await sign_in(server.url, user, {"alice": "secret1", "bob": "secret2"}[user])
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        return await http.get(path)


async def click_action(client: ChatClient, name: str, start: int = 0) -> None:
    """Press a message's button (Retry, Continue): Chainlit calls actions over HTTP."""
    _, action = await client.wait_for(
        lambda event, data: event == "action" and data["name"] == name, start=start
    )
    await client.call_action(action)


async def saved_thread(server: UiServer, thread_id: str, ready: str) -> dict[str, Any]:
    """The thread as the history API returns it, once a step's output contains ``ready``."""
    for _ in range(50):
        response = await get(server, "alice", f"/project/thread/{thread_id}")
        thread = response.json()
        if any(ready in (step.get("output") or "") for step in thread["steps"]):
            return dict(thread)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no step containing {ready!r} was saved")


async def test_a_message_gets_a_streamed_reply(server: UiServer, ui_llm: ScriptedOpenAI) -> None:
    ui_llm.chunk_interval = 0.05  # pieces further apart than the page's repaints
    try:
        async with chat(server) as client:
            await client.send("hello")
            _, start = await client.wait_for(lambda event, _: event == "stream_start")
            answer = await client.message_containing("Here is my answer.")
            await client.wait_for(lambda event, _: event == "first_interaction")
    finally:
        ui_llm.chunk_interval = 0.0
    pieces = [
        d["token"] for e, d in client.events if e == "stream_token" and d["id"] == start["id"]
    ]
    assert answer == "Here is my answer."
    assert start["output"] + "".join(pieces) == answer
    assert len(pieces) >= 2
    # The LangGraph thread id is the Chainlit thread id.
    with contextlib.closing(sqlite3.connect(server.data_dir / "checkpoints.sqlite")) as db:
        threads = {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert client.thread_id in threads


async def test_a_long_answer_streams_whole_and_safe_in_fewer_pieces(
    server: UiServer, ui_llm: ScriptedOpenAI, ui_brain: Brain
) -> None:
    """Making the streamed text safe reads all of it, so a long answer is checked now and
    then, not for every piece the model sends: it still arrives whole, and the page never
    holds a complete image, even for a moment."""
    image = "![chart](http://127.0.0.1:9/leak.png)"
    text = "The tide rises twice a day, see [NOAA](https://noaa.gov). " * 300 + f"{image} end."
    ui_brain.answer, ui_llm.chunk_size = text, 16
    # Pieces 1 ms apart, like a fast model: the answer streams for about a second. With
    # none between them the whole answer can arrive while its first piece is being sent,
    # and it then goes out once, whole, with nothing left to stream.
    ui_llm.chunk_interval = 0.001
    try:
        async with chat(server) as client:
            await client.send("hello")
            answer = await client.message_containing(" end.", within=60)
    finally:
        ui_brain.answer = "Here is my answer."
        ui_llm.chunk_size, ui_llm.chunk_interval = 4, 0.0
    assert answer == safe_markdown(text)
    assert image not in answer
    page: dict[str, str] = {}  # what the page holds of each message, event by event
    pieces = 0
    for name, data in client.events:
        if name in ("stream_start", "new_message", "update_message"):
            page[data["id"]] = data.get("output") or ""
        elif name == "stream_token":
            page[data["id"]] += data["token"]
            pieces += 1
        assert not any(image in text for text in page.values()), name
    assert 0 < pieces < len(text) / 16 / 4


async def test_research_shows_the_plan_and_waits_for_a_decision(server: UiServer) -> None:
    async with chat(server) as client:
        await client.send("research tides")
        question = await client.next_question()
        assert question.labels == ["Approve", "Edit", "Reject", "Feedback"]
        plan = client.question_messages()[question.message_id]
        assert plan.startswith("**Research plan**")
        for n in (1, 2, 3):
            assert f"**Part {n}**" in plan
            assert f"`tides aspect {n}`" in plan
        assert not any(s["name"].startswith("Section") for s in client.steps().values())


async def test_approve_gives_the_report_with_sources_and_a_download(
    server: UiServer, ui_search: FakeSearch
) -> None:
    async with chat(server) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        report = await client.message_containing("## Sources", within=30)
        _, attached = await client.wait_for(
            lambda event, data: event == "element" and data["name"].endswith(".md")
        )
        await client.message_containing("Done.", within=30)
    assert report.startswith("# A Report")
    page = f"{ui_search.url}/page/tides-aspect-1/1"
    assert f"1. [Tides Aspect 1 — source 1]({page})" in report
    assert f"[\\[1\\]]({page})" in report  # citations link
    assert attached["name"] == "a-report.md"
    assert attached["url"].startswith("/assistant/files/")
    # the question shows what was decided, and lost its buttons
    assert any("**Approved.**" in text for text in client.question_messages().values())
    assert any(name == "remove_action" for name, _ in client.events)


async def test_steps_are_saved_with_their_output(server: UiServer) -> None:
    async with chat(server) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        await client.message_containing("Done.", within=30)
        live = {step["id"]: step["output"] for step in client.steps().values()}
    thread = await saved_thread(server, client.thread_id, "Report ready:")
    saved = {s["id"]: s for s in thread["steps"] if s["type"] == "tool"}
    assert set(saved) == set(live)
    assert all(saved[i]["output"] == live[i] for i in live), "a step's last output was lost"
    names = sorted(s["name"] for s in saved.values())
    assert names == [
        "Plan",
        "Research",
        *[f"Section {n} of 3: Part {n}" for n in (1, 2, 3)],
        "Writing the report",
    ]
    research = next(s for s in saved.values() if s["name"] == "Research")
    assert research["output"].startswith("Report ready:")
    for worker in (s for s in saved.values() if s["name"].startswith("Section")):
        assert "Written from 3 sources" in worker["output"]
        assert worker["parentId"] == research["id"]


async def test_the_report_file_downloads_after_a_reload_for_its_owner_only(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        await client.message_containing("Done.", within=30)
    thread = await saved_thread(server, client.thread_id, "Report ready:")
    for _ in range(50):  # the attachments' rows are written in the background too
        if len(thread["elements"]) == 3:
            break
        await asyncio.sleep(0.1)
        thread = await saved_thread(server, client.thread_id, "Report ready:")
    elements = {e["name"]: e for e in thread["elements"]}
    assert set(elements) == {"a-report.md", "a-report.pdf", "a-report.docx"}
    for name, element in elements.items():
        assert element["url"].startswith("/assistant/files/")
        owner = await get(server, "alice", element["url"])
        assert owner.status_code == 200
        assert "attachment" in owner.headers["content-disposition"]
        assert name in owner.headers["content-disposition"]
        assert (await get(server, "bob", element["url"])).status_code == 404
    markdown = await get(server, "alice", elements["a-report.md"]["url"])
    assert markdown.text.startswith("# A Report")
    pdf = await get(server, "alice", elements["a-report.pdf"]["url"])
    assert pdf.content.startswith(b"%PDF-") and pdf.headers["content-type"] == "application/pdf"
    docx = await get(server, "alice", elements["a-report.docx"]["url"])
    assert docx.content.startswith(b"PK")  # a Word file is a ZIP archive


async def test_reject_runs_nothing(server: UiServer, ui_search: FakeSearch) -> None:
    searches = len(ui_search.requests)
    async with chat(server) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "reject")
        done = await client.message_containing("Done.", within=30)
        assert "rejected" in done
        assert not any("## Sources" in m for m in client.messages())
        research = next(s for s in client.steps().values() if s["name"] == "Research")
        assert "nothing was searched" in research["output"]
        assert research["isError"] is False  # a rejection is not an error
    assert len(ui_search.requests) == searches


EDITED_ARGS = {
    "title": "Tides, edited",
    "sections": [
        {
            "name": "Moon pull",
            "description": "How the moon's gravity raises the tides.",
            "queries": ["moon gravity tides"],
        },
        {
            "name": "Sun role",
            "description": "What the sun adds: spring and neap tides.",
            "queries": ["sun spring neap tides"],
        },
    ],
}


async def test_edit_opens_a_form_in_the_question_and_save_runs_the_edited_plan(
    server: UiServer, ui_search: FakeSearch
) -> None:
    searches = len(ui_search.requests)
    async with chat(server) as client:
        await client.send("research tides")
        question = await client.next_question()
        await client.click(question, "edit")
        form = await client.editor()
        assert form["forId"] == question.message_id  # inside the question, not a new message
        props = form["props"]
        assert props["interruptId"] == question.interrupt_id
        assert props["args"]["title"] == "A Report"
        assert [s["name"] for s in props["args"]["sections"]] == ["Part 1", "Part 2", "Part 3"]
        sections = props["schema"]["properties"]["sections"]
        assert sections["type"] == "array" and sections["items"]["type"] == "object"
        assert "$ref" not in str(props["schema"])  # resolved for the form
        removed = {d["id"] for n, d in client.events if n == "remove_action"}
        assert {a["id"] for a in question.actions} <= removed  # the buttons gave way to the form
        assert "Change it below" in client.question_messages()[question.message_id]

        assert await client.save_edit(question.interrupt_id, EDITED_ARGS) == {
            "success": True,
            "response": {},
        }
        report = await client.message_containing("## Sources", within=30)
        assert any(n == "remove_element" and d["id"] == form["id"] for n, d in client.events)
        answered = client.question_messages()[question.message_id]
    assert report.startswith("# Tides, edited")  # the person's title wins
    assert "## Moon pull" in report
    assert "## Sun role" in report
    assert "Part 1" not in report
    queries = {query for query, _, _ in ui_search.requests[searches:]}
    assert queries == {"moon gravity tides", "sun spring neap tides"}
    # the question shows what was approved: the edited plan, not the old one
    assert "**Approved with your changes.**" in answered
    assert "Tides, edited" in answered and "**Moon pull**" in answered
    assert "Part 1" not in answered


async def test_an_edit_the_engine_refuses_reopens_the_form_with_the_reason_at_its_field(
    server: UiServer, ui_search: FakeSearch
) -> None:
    searches = len(ui_search.requests)
    wrong = {**EDITED_ARGS, "sections": [{**EDITED_ARGS["sections"][0], "queries": []}]}
    async with chat(server) as client:
        await client.send("research tides")
        question = await client.next_question()
        await client.click(question, "edit")
        first = await client.editor()
        at = len(client.events)
        await client.save_edit(question.interrupt_id, wrong)
        again = await client.editor(start=at)
        assert again["id"] != first["id"]
        props = again["props"]
        assert props["interruptId"] != question.interrupt_id  # the engine asked again
        assert props["errorAt"] == ["sections", 0, "queries"]
        assert props["error"] == "needs at least one search query"
        assert props["args"] == wrong  # the person's draft, not the old plan
        first_question = client.question_messages()[question.message_id]
        assert "Not used: needs at least one search query" in first_question
        assert "Approved" not in first_question
        await client.save_edit(props["interruptId"], EDITED_ARGS)
        report = await client.message_containing("## Sources", within=30)
    assert report.startswith("# Tides, edited")
    assert len(ui_search.requests) - searches == 2


async def test_cancel_closes_the_form_and_gives_the_buttons_back(server: UiServer) -> None:
    async with chat(server) as client:
        await client.send("research tides")
        question = await client.next_question()
        await client.click(question, "edit")
        form = await client.editor()
        assert client.placeholders()[-1] == PLACEHOLDERS["question"]
        await client.cancel_edit(question.interrupt_id)
        again = await client.next_question()
        assert again.interrupt_id == question.interrupt_id
        assert again.labels == ["Approve", "Edit", "Reject", "Feedback"]
        assert any(n == "remove_element" and d["id"] == form["id"] for n, d in client.events)
        assert client.question_messages()[question.message_id].startswith("**Research plan**")
        # a Save from a form left open elsewhere does nothing once the question is answered
        await client.click(again, "approve")
        await client.message_containing("## Sources", within=30)
        stale = await client.save_edit(question.interrupt_id, EDITED_ARGS)
        assert "no longer open" in stale["response"]["refused"]


async def test_while_a_question_is_open_the_chat_box_says_typing_is_feedback(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        await client.placeholder_becomes(None)  # a new chat: Chainlit's own words
        await client.send("research tides")
        question = await client.next_question()
        await client.placeholder_becomes(PLACEHOLDERS["question"])
        await client.click(question, "respond")
        await client.placeholder_becomes(PLACEHOLDERS["respond"])
        await client.send("cancel")
        await client.message_containing("Back to the question above.")
        await client.placeholder_becomes(PLACEHOLDERS["question"])
        await client.click(question, "reject")
        await client.message_containing("Done.", within=30)
        await client.placeholder_becomes(None)
    async with chat(server, thread_id=client.thread_id) as again:  # reopened: nothing open
        await again.wait_for(lambda event, _: event == "resume_thread")
        await again.placeholder_becomes(None)


async def test_feedback_makes_a_new_plan(server: UiServer, ui_brain: Brain) -> None:
    seen = len(ui_brain.seen_feedback)
    async with chat(server) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "respond")
        await client.message_containing("What should change?")
        await client.send("Focus on the moon, please.")
        second = await client.next_question()
        assert client.question_messages()[second.message_id].startswith(
            "**Research plan (revision 2)**"
        )
        await client.click(second, "reject")
        await client.message_containing("Done.", within=30)
        assert len(client.question_messages()) == 2
    assert "Focus on the moon, please." in ui_brain.seen_feedback[seen]


async def test_a_message_sent_while_a_plan_waits_is_feedback_on_it(
    server: UiServer, ui_brain: Brain
) -> None:
    seen = len(ui_brain.seen_feedback)
    async with chat(server) as client:
        await client.send("research tides")
        first = await client.next_question()
        await client.send("only the moon, please")
        second = await client.next_question()
        assert second.interrupt_id != first.interrupt_id
        assert "only the moon, please" in ui_brain.seen_feedback[seen]
        assert "Sent back with your feedback" in client.question_messages()[first.message_id]


async def test_reconnecting_shows_the_pending_question_once(server: UiServer) -> None:
    async with chat(server) as first:
        await first.send("research tides")
        asked = await first.next_question()
    await saved_thread(server, first.thread_id, "Research plan")  # saved in the background
    for _ in range(2):  # reopening twice adds no copies to the history
        async with chat(server, thread_id=first.thread_id) as again:
            question = await again.next_question()
            assert question.interrupt_id == asked.interrupt_id
            assert question.message_id == asked.message_id
    thread = await saved_thread(server, first.thread_id, "Research plan")
    plans = [s for s in thread["steps"] if (s.get("output") or "").startswith("**Research plan")]
    assert len(plans) == 1
    async with chat(server, thread_id=first.thread_id) as again:
        await again.click(await again.next_question(), "approve")
        await again.message_containing("## Sources", within=30)


async def test_a_pending_approval_survives_a_server_restart(
    server: UiServer, ui_search: FakeSearch
) -> None:
    cookie = await sign_in(server.url, "alice", "secret1")
    async with chat(server, cookie=cookie) as first:
        await first.send("research tides")
        await first.next_question()
    await saved_thread(server, first.thread_id, "Research plan")
    server.kill()
    server.start()
    # The same sign-in still works: the auth secret and the session are in the data directory.
    async with chat(server, cookie=cookie, thread_id=first.thread_id) as again:
        await again.click(await again.next_question(), "approve")
        report = await again.message_containing("## Sources", within=30)
    assert f"{ui_search.url}/page/tides-aspect-3/1" in report


async def test_a_conversations_address_is_not_found_unless_it_is_yours(server: UiServer) -> None:
    async with chat(server, "alice") as client:
        await client.turn("hello")
    address = f"/thread/{client.thread_id}"
    own = await get(server, "alice", address)
    assert own.status_code == 200 and '<div id="root">' in own.text  # Chainlit's page
    for user, path in (("bob", address), ("alice", "/thread/no-such-thread")):
        refused = await get(server, user, path)
        assert refused.status_code == 404
        assert "This conversation can't be opened" in refused.text
        assert f"signed in as <strong>{user}</strong>" in refused.text
        assert '<a class="button" href="/">Start a new chat</a>' in refused.text
        assert "Here is my answer" not in refused.text
    async with httpx.AsyncClient(base_url=server.url) as http:  # not signed in yet
        anonymous = await http.get(address)
    assert anonymous.status_code == 200 and '<div id="root">' in anonymous.text


async def test_a_conversation_deleted_since_the_page_listed_it_is_opened_anew(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        await client.turn("hello")
    await saved_thread(server, client.thread_id, "Here is my answer.")
    cookie = await sign_in(server.url, "alice", "secret1")
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        deleted = await http.request(
            "DELETE", "/project/thread", json={"threadId": client.thread_id}
        )
    assert deleted.status_code == 200
    async with chat(server, thread_id=client.thread_id, cookie=cookie) as again:
        _, data = await again.wait_for(
            lambda event, data: event == "window_message" and "open" in data.get("assistant", {})
        )
    # the page loads the address itself, where the server says it is gone
    assert data["assistant"]["open"] == f"/thread/{client.thread_id}"


async def test_only_answers_and_documents_can_be_rated(server: UiServer) -> None:
    """Chainlit offers its thumbs only on assistant messages: questions, notes and the
    progress message are system messages."""
    async with chat(server) as client:
        await client.send("research tides")
        question = await client.next_question()
        await client.click(question, "approve")
        await client.message_containing("Done.", within=30)
        kinds = {
            data["id"]: (data["type"], data.get("output") or "")
            for name, data in client.events
            if name in ("new_message", "update_message") and data["type"].endswith("_message")
        }
    by_kind: dict[str, list[str]] = {}
    for kind, text in kinds.values():
        by_kind.setdefault(kind, []).append(text)
    assert any(t.startswith("**Research plan**") for t in by_kind["system_message"])
    assert any(t.startswith("**Researching: A Report**") for t in by_kind["system_message"])
    assert any(t.startswith("# A Report") for t in by_kind["assistant_message"])
    assert any(t.startswith("Done.") for t in by_kind["assistant_message"])
    assert not any("Research plan" in t for t in by_kind["assistant_message"])


async def test_bob_cannot_open_alices_thread(server: UiServer) -> None:
    async with chat(server, "alice") as client:
        await client.turn("hello")
    thread_id = client.thread_id
    assert thread_id  # an empty id would ask for /project/thread/, the page route
    assert (await get(server, "alice", f"/project/thread/{thread_id}")).status_code == 200
    assert (await get(server, "bob", f"/project/thread/{thread_id}")).status_code in (401, 403)
    assert (await get(server, "bob", "/project/thread/no-such-thread")).status_code == 404
    with pytest.raises(socketio.exceptions.ConnectionError):
        async with chat(server, "bob", thread_id=thread_id):
            pass
    cookie = await sign_in(server.url, "bob", "secret2")
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        listed = await http.post(
            "/project/threads", json={"pagination": {"first": 50}, "filter": {}}
        )
    assert thread_id not in {t["id"] for t in listed.json()["data"]}


async def test_stop_cancels_the_research_and_continue_finishes_it(
    server: UiServer, ui_brain: Brain, ui_llm: ScriptedOpenAI
) -> None:
    # Part 2 is slow enough that Stop lands before it ends even on a loaded machine.
    ui_brain.section_delay = {"Part 2": 6.0}
    try:
        async with chat(server) as client:
            await client.send("research tides")
            await client.click(await client.next_question(), "approve")
            # Parts 1 and 3 are fast and may finish in either order: Stop once both have
            await client.message_containing("2 of 3 done", within=30)
            stopped_at = len(client.events)
            await client.stop()
            await asyncio.sleep(0.5)
            notes = [m for m in client.messages() if "stopped" in m.lower() and "**" not in m]
            assert len(notes) == 1, notes  # one message on Stop, not two
            assert not any("Task manually stopped" in m for m in client.messages())
            board = next(m for m in client.messages() if m.startswith("**Researching"))
            assert "**Part 2** · stopped" in board  # the slow one, cut short
            assert "3 of 3 done" not in board
            names = {step["name"] for step in client.steps().values()}
            assert "Section 2 of 3: Part 2 (stopped)" in names  # not shown as finished
            assert "Section 1 of 3: Part 1" in names
            await asyncio.sleep(6.5)  # longer than the slow section would have taken
            assert not any("## Sources" in m for m in client.messages())
            ui_brain.section_delay = {}
            continued_at = len(client.events)
            await click_action(client, "continue_run", stopped_at)
            report = await client.message_containing("## Sources", within=30, start=continued_at)
            assert "## Part 2" in report
            board = next(m for m in client.messages() if m.startswith("**Researching"))
            assert "3 of 3 done" in board and "kept from before" in board
            # The page shows the continued run as busy until it ends, as for a message.
            await client.wait_for(lambda event, _: event == "task_end", start=continued_at)
            await client.turn("hello")
            assert client.messages()[-1] == "Here is my answer."
    finally:
        ui_brain.section_delay = {}


@pytest.mark.parametrize(
    ("status", "says"),
    [(503, "The model server failed (503)"), (429, "rate-limiting requests (429)")],
)
async def test_a_model_failure_reads_as_a_sentence_and_retry_recovers(
    server: UiServer, ui_llm: ScriptedOpenAI, status: int, says: str
) -> None:
    ui_llm.enqueue(HttpError(status, "Scripted failure"))
    async with chat(server) as client:
        await client.send("hello")
        failure = await client.message_containing("⚠️")
        assert says in failure
        assert "Traceback" not in failure
        await click_action(client, "continue_run")
        await client.message_containing("Here is my answer.")


async def test_a_rate_limited_search_shows_on_the_sections_and_in_the_report(
    server: UiServer, ui_search: FakeSearch
) -> None:
    ui_search.mode = "ratelimit"
    try:
        async with chat(server) as client:
            await client.send("research tides")
            await client.click(await client.next_question(), "approve")
            report = await client.message_containing("## Sources", within=30)
            workers = [s for s in client.steps().values() if s["name"].startswith("Section")]
    finally:
        ui_search.mode = "ok"
    assert len(workers) == 3
    for worker in workers:
        assert "Could not be written:" in worker["output"]
        assert "rate-limited" in worker["output"]
        assert worker["isError"] is True
    assert "This section is missing" in report


async def test_settings_panel_asks_before_calculate_and_edit_opens_its_form(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        _, panel = await client.wait_for(lambda event, _: event == "chat_settings")
        values = {widget["id"]: widget["initial"] for widget in panel}
        assert values["approve_research"] is True
        assert values["approve_calculate"] is False
        await client.sio.emit("chat_settings_change", {**values, "approve_calculate": True})
        await client.send("calculate 6 * 7")
        question = await client.next_question()
        request = client.question_messages()[question.message_id]
        assert "**Calculator**" in request
        assert '"expression": "6 * 7"' in request
        await client.click(question, "edit")
        form = await client.editor()  # a form from the tool's own argument schema
        assert form["props"]["schema"]["properties"]["expression"]["type"] == "string"
        assert form["props"]["args"] == {"expression": "6 * 7"}
        await client.save_edit(question.interrupt_id, {"expression": "6 * 8"})
        await client.message_containing("Done. 6 * 8 = 48")
        (calculation,) = [s for s in client.steps().values() if s["name"] == "Calculator"]
        assert calculation["output"] == "6 * 8 = 48"


async def test_a_message_sent_right_after_reopening_is_not_called_another_windows_run(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        await client.turn("hello")
    async with chat(server, thread_id=client.thread_id) as again:
        await again.turn("and again")  # sent at once, while the reopen is still being drawn
        await asyncio.sleep(0.5)
        assert not any("working in another window" in text for text in again.messages())
