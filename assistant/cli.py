"""The command line: ``assistant research|chat|threads|delete|memories|tools|ui``.

Heavy packages are imported inside the commands so ``assistant --help`` stays fast. Every
failure ends with one clear line on stderr and a non-zero exit code, never a traceback.
The terminal is a face like the browser: it draws the engine's events and answers its
approvals, knowing no tool by name.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.engine import Engine
    from assistant.events import ApprovalNeeded, Document, Event
    from assistant.transcript import Transcript

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130
OUT_FORMATS = (".md", ".html", ".pdf", ".docx")
"""What ``--out`` can write (by file extension); the same as ``tools.export.FORMATS``."""
REPORT_MAX_LINES = 200
REPORT_MAX_CHARS = 20_000
"""A report in the chat longer than this is saved to a file instead of printed in full
(``--full-reports`` prints it anyway): a few screens can be scrolled, a book cannot."""
SCISSORS = "# ------------------------ >8 ------------------------"
"""In a file opened in $EDITOR, this line and everything below it is help, ignored (git's
convention for commit messages)."""


class Interrupted(Exception):
    """Ctrl-C (or end of input where an answer was needed): ``str()`` says how to resume."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (command names and flags are part of the interface)."""
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="A chat assistant with parallel web research, verified citations and "
        "approvals that survive restarts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    research = commands.add_parser("research", help="research a topic and write a report")
    research.add_argument("topic", help="what to research")
    research.add_argument("--yes", action="store_true", help="approve the plan without asking")
    research.add_argument(
        "--out",
        type=Path,
        help="write the report here as .md, .html, .pdf or .docx, by its extension "
        "(default: Markdown on stdout)",
    )
    research.add_argument("--thread", help="thread id; run again with it to resume")
    research.add_argument(
        "--source",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a document (PDF, DOCX, Markdown, text, HTML) or a folder of them to research "
        "too; repeatable",
    )
    research.add_argument(
        "--no-web", action="store_true", help="research the --source documents only"
    )

    chat = commands.add_parser(
        "chat",
        help="chat in the terminal",
        description="Chat in the terminal (answers on stdout, progress on stderr). The "
        "conversation is also kept in the browser's history (assistant ui), and a "
        "conversation started there can be continued here with --thread.",
    )
    chat.add_argument("--thread", help="continue this thread (its id from 'assistant threads')")
    chat.add_argument(
        "--full-reports",
        action="store_true",
        help=f"print research reports in full, however long (by default a report over "
        f"{REPORT_MAX_LINES} lines or {REPORT_MAX_CHARS:,} characters is saved as a Markdown "
        "file in the current folder and only its outline is printed)",
    )

    commands.add_parser("threads", help="list saved threads, newest first")

    memories = commands.add_parser(
        "memories", help="what the assistant remembers of you across conversations"
    )
    forgetting = memories.add_mutually_exclusive_group()
    forgetting.add_argument("--forget", metavar="ID", help="forget one memory (its ID is listed)")
    forgetting.add_argument("--clear", action="store_true", help="forget every memory")

    commands.add_parser("tools", help="the tools the assistant can use, MCP servers included")

    delete = commands.add_parser("delete", help="delete a thread and everything of it")
    delete.add_argument("thread", metavar="THREAD_ID", help="the id 'assistant threads' shows")

    ui = commands.add_parser("ui", help="start the chat UI in the browser")
    ui.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    ui.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assistant`` console script."""
    args = build_parser().parse_args(argv)
    quiet = logging.StreamHandler()
    quiet.setLevel(logging.ERROR)  # bm25s sets its own logger to DEBUG when imported
    logging.basicConfig(
        level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s", handlers=[quiet]
    )
    os.umask(0o077)  # everything this process writes is for its owner only
    try:
        if args.command == "ui":
            from assistant.ui.launch import run_ui

            return run_ui(args.host, args.port)
        return asyncio.run(_dispatch(args))
    except Interrupted as exc:
        _say(f"interrupted; {exc}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _fail(exc)


def _fail(exc: BaseException) -> int:
    from assistant.errors import ConfigurationError, InputError, PlanRejected, describe
    from assistant.settings import SettingsError

    _say(f"error: {describe(exc) if not isinstance(exc, SettingsError) else exc}")
    if isinstance(exc, PlanRejected):
        return EXIT_REJECTED
    if isinstance(exc, InputError | SettingsError | ConfigurationError):
        return EXIT_USAGE
    return EXIT_ERROR


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _dispatch(args: argparse.Namespace) -> int:
    import warnings

    from assistant.engine import Engine, check_thread_id
    from assistant.errors import InputError, validate_message
    from assistant.settings import load_settings
    from assistant.tracing import setup_tracing

    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    settings = load_settings()
    uploads = []
    if args.command == "research":
        validate_message(args.topic, what="topic")
        if args.out is not None:
            _check_out(args.out)
        if args.no_web and not args.source:
            raise InputError("--no-web needs documents to research: add them with --source.")
        uploads = await _read_sources(args.source, settings)
    if getattr(args, "thread", None):
        check_thread_id(args.thread)
    tracing = setup_tracing(os.environ)  # None unless PHOENIX_COLLECTOR_ENDPOINT is set
    try:
        async with Engine.open(settings, tracing) as engine:
            if args.command == "threads":
                return await _threads(engine)
            if args.command == "memories":
                return await _memories(engine, args)
            if args.command == "tools":
                return await _tools(engine)
            if args.command == "delete":
                return await _delete(engine, args.thread)
            if args.command == "research":
                return await _research(engine, args, uploads)
            return await _chat(engine, args.thread, full_reports=args.full_reports)
    finally:
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # exports the last spans


def _check_out(path: Path) -> None:
    """Refuse an unusable ``--out`` before anything is paid for."""
    from assistant.errors import InputError

    if path.is_dir():
        raise InputError(f"--out {path} is a directory; give a file name.")
    if path.suffix.lower() not in OUT_FORMATS:
        raise InputError(
            f"--out {path}: unsupported format {path.suffix or '(no extension)'}; "
            f"use {', '.join(OUT_FORMATS)}."
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"--out {path}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"--out {path}: cannot write there (permission denied).")


async def _read_sources(paths: Sequence[Path], settings: Any) -> list[Any]:
    """The files ``--source`` names (folders: their supported files, recursively), read and
    checked before anything is paid for; ``InputError`` listing every file that cannot be
    used."""
    from assistant.attachments import ACCEPTED, Upload
    from assistant.errors import InputError
    from tools.documents import DocumentError, load_document

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ACCEPTED
            )
            if not found:
                raise InputError(
                    f"--source {path}: the folder holds no document to read "
                    f"({', '.join(ACCEPTED)})."
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"--source {path}: no such file or folder.")
    files = list(dict.fromkeys(p.resolve() for p in files))
    if len(files) > settings.max_documents:
        raise InputError(
            f"--source: {len(files)} documents, more than the limit of "
            f"{settings.max_documents} (ASSISTANT_MAX_DOCUMENTS)."
        )
    uploads, problems = [], []
    for path in files:
        try:
            if path.stat().st_size > settings.max_document_bytes:
                raise DocumentError(
                    f"{path.name} is too large (limit {settings.max_document_mb:g} MB)"
                )
            data = await asyncio.to_thread(path.read_bytes)
            await asyncio.to_thread(
                load_document, data, path.name, max_bytes=settings.max_document_bytes
            )
        except DocumentError as exc:
            problems.append(f"--source {path}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"--source {path}: cannot read it ({exc.strerror or exc})")
            continue
        uploads.append(Upload(path.name, data))
    if problems:
        raise InputError("; ".join(problems))
    return uploads


# --- threads and delete ----------------------------------------------------------------


STATUS_WORDS = {
    "running": "running",
    "waiting": "waiting for approval",
    "done": "done",
    "rejected": "rejected",
    "failed": "failed",
    "interrupted": "interrupted",
}


async def _threads(engine: Engine) -> int:
    import datetime

    from assistant.storage import LOCAL_OWNER

    threads = await engine.threads(owner=LOCAL_OWNER)
    if not threads:
        _say("no saved threads yet")
        return EXIT_OK
    rows = [("THREAD", "UPDATED", "KIND", "STATUS", "TITLE")]
    for info in threads:
        when = datetime.datetime.fromtimestamp(info.updated_at).strftime("%Y-%m-%d %H:%M")
        rows.append(
            (info.thread_id, when, info.kind.value, STATUS_WORDS[info.status.value], info.title)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[4]
        )
    return EXIT_OK


async def _delete(engine: Engine, thread: str) -> int:
    from assistant.storage import LOCAL_OWNER

    await engine.delete(thread, owner=LOCAL_OWNER)
    _say(f"deleted thread {thread} and everything of it")
    return EXIT_OK


# --- memories and tools ----------------------------------------------------------------


async def _memories(engine: Engine, args: argparse.Namespace) -> int:
    import datetime

    from assistant.errors import InputError
    from assistant.storage import LOCAL_OWNER

    if args.clear:
        count = await engine.clear_memories(owner=LOCAL_OWNER)
        _say(f"forgot {count} memor{'y' if count == 1 else 'ies'}")
        return EXIT_OK
    if args.forget:
        if not await engine.forget(args.forget, owner=LOCAL_OWNER):
            raise InputError(f"No memory {args.forget}: 'assistant memories' lists their IDs.")
        _say(f"forgot memory {args.forget}")
        return EXIT_OK
    kept = await engine.remembered(owner=LOCAL_OWNER)
    if not kept:
        _say("nothing remembered yet (say 'remember that ...' in a chat)")
        return EXIT_OK
    for memory in kept:
        when = datetime.datetime.fromtimestamp(memory.created_at).strftime("%Y-%m-%d %H:%M")
        print(f"{memory.id}  {when}  {memory.text}")
    return EXIT_OK


async def _tools(engine: Engine) -> int:
    status = await engine.tool_status()
    print("built-in:")
    for name, label in status.builtin:
        print(f"  {name:<24} {label}")
    if status.config is None:
        print("MCP servers: none (set ASSISTANT_MCP_CONFIG to a JSON file of servers)")
        return EXIT_OK
    print(f"MCP servers ({status.config}):")
    for server in status.servers:
        line = f"  {server.name:<24} {server.state} ({server.transport})"
        if server.error:
            line += f": {server.error}"
        print(line)
        for tool in server.tools:
            print(f"    {tool}")
    return EXIT_OK


# --- research --------------------------------------------------------------------------


async def _research(engine: Engine, args: argparse.Namespace, uploads: list[Any]) -> int:
    from assistant.context import Choices
    from assistant.engine import new_thread_id
    from assistant.errors import PlanRejected
    from assistant.storage import LOCAL_OWNER, ThreadKind, ThreadStatus, WrongKind

    thread = args.thread or new_thread_id()
    choices = Choices.of(approve=[] if args.yes else None)
    resume_hint = f"run the same command with --thread {thread} to resume"
    view = (
        await engine.thread(thread, owner=LOCAL_OWNER)
        if await engine.exists(thread, owner=LOCAL_OWNER)
        else None
    )
    if view is not None and view.info.kind is not ThreadKind.RESEARCH:
        raise WrongKind(thread, view.info.kind)
    result = await engine.research_result(thread, owner=LOCAL_OWNER) if view else None
    # The report is printed (or written to --out) below, not as the run draws it.
    face = _Face(_transcript(engine, thread), documents=False, auto_approve=args.yes)
    try:
        if result is not None and result.status is ThreadStatus.DONE:
            _say(f"thread {thread}: the report was already finished")
        elif result is not None and result.status is ThreadStatus.REJECTED:
            pass
        else:
            _say(f"thread {thread} ({resume_hint})")
            if view is not None and uploads:
                _say("--source ignored: this research already has its documents")
            if view is None:
                if uploads:
                    added = await engine.add_documents(
                        thread,
                        uploads,
                        owner=LOCAL_OWNER,
                        kind=ThreadKind.RESEARCH,
                        title=args.topic,
                    )
                    for item in added:
                        _say(("added " if item.error is None else "not added: ") + item.line())
                face.transcript.said(args.topic)
                events = engine.research(
                    thread, args.topic, owner=LOCAL_OWNER, choices=choices, web=not args.no_web
                )
                await _drive(engine, thread, events, choices, face)
            elif view.pending:
                _say("this research is waiting for your decision on its plan")
                await _answer(engine, thread, view.pending, choices, face)
            else:
                _say("continuing where it stopped")
                events = engine.continue_run(thread, owner=LOCAL_OWNER, choices=choices)
                await _drive(engine, thread, events, choices, face)
    except asyncio.CancelledError:
        raise Interrupted(resume_hint) from None
    result = await engine.research_result(thread, owner=LOCAL_OWNER)
    if result is None or result.status is ThreadStatus.REJECTED:
        raise PlanRejected(
            f"Thread {thread}: the plan was rejected, so nothing was searched and no "
            "report was written. Start a new research to try again."
        )
    if result.status is not ThreadStatus.DONE or not result.report:
        raise Interrupted(resume_hint)
    if args.out:
        await _write_out(engine, result, args.out)
        _say(f"report written to {args.out}")
    else:
        sys.stdout.write(result.report)
    return EXIT_OK


async def _write_out(engine: Engine, result: Any, path: Path) -> None:
    """The report, in the format ``path``'s extension names."""
    from assistant.research.report import export_key
    from assistant.storage import LOCAL_OWNER

    suffix = path.suffix.lower()
    if suffix == ".md" or not result.report_file:
        await asyncio.to_thread(path.write_text, result.report, encoding="utf-8")
        return
    stored = await engine.file(export_key(result.report_file, suffix), owner=LOCAL_OWNER)
    if stored is None:
        raise Interrupted("the report's file is missing; run the research again")
    await asyncio.to_thread(path.write_bytes, stored.data)


# --- drawing a run ---------------------------------------------------------------------


@dataclass
class _Face:
    """How this command shows a run, and what it keeps of it."""

    transcript: Transcript
    """Records the conversation in the browser's history."""
    documents: bool = True
    """Print finished documents (a report) on stdout as they come."""
    full_reports: bool = False
    """Print every document in full, however long."""
    auto_approve: bool = False
    """Approve every question without asking (``research --yes``)."""


def _transcript(engine: Engine, thread: str) -> Transcript:
    from assistant.storage import LOCAL_OWNER
    from assistant.transcript import Transcript

    # The terminal's owner is the browser's local user (``assistant.ui.auth.LOCAL_USER``).
    return Transcript(engine.storage.history, thread, LOCAL_OWNER, _say)


async def _drive(
    engine: Engine, thread: str, events: AsyncIterator[Event], choices: Any, face: _Face
) -> None:
    """Show a run's events; answer the approvals it asks for, until none is left."""
    pending = await _show(events, face)
    if pending:
        await _answer(engine, thread, pending, choices, face)


async def _answer(
    engine: Engine, thread: str, pending: list[ApprovalNeeded], choices: Any, face: _Face
) -> None:
    from assistant import approvals
    from assistant.storage import LOCAL_OWNER

    while pending:
        answers = {
            item.interrupt_id: approvals.approve() if face.auto_approve else await _ask(item)
            for item in pending
        }
        resumed = engine.resume(thread, answers, owner=LOCAL_OWNER, choices=choices)
        pending = await _show(resumed, face)


class _Screen:
    """What the terminal has shown of the running tool work (progress on stderr)."""

    def __init__(self) -> None:
        from assistant.terminal import progress_view

        self.started = time.monotonic()
        self.activities: set[tuple[str, str]] = set()
        self.progress = progress_view(self.say)

    def say(self, text: str) -> None:
        _say(f"[{time.monotonic() - self.started:5.1f}s] {text}")


async def _show(events: AsyncIterator[Event], face: _Face) -> list[ApprovalNeeded]:
    """Draw every event; return the approvals the run stopped for.

    A live progress board is stopped before anything else is printed on stdout, before a
    question, and however the run ends (Ctrl-C included).
    """
    from assistant import events as ev
    from assistant.text import brief

    screen = _Screen()
    progress = screen.progress
    asked: list[ev.ApprovalNeeded] = []
    streamed = ""
    try:
        async for event in events:
            await face.transcript.flush()  # the engine took the person's message
            match event:
                case ev.Token(text=text):
                    progress.close()
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    streamed += text
                case ev.Answer(text=text):
                    progress.close()
                    if not streamed:
                        sys.stdout.write(text)
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    streamed = ""
                    await face.transcript.answer(text)
                case ev.ToolStarted(label=label, args=args):
                    _say(f"→ {label} {brief(str(args), 120)}")
                case ev.ToolFinished(call_id=call_id, outcome=outcome, summary=summary, undo=undo):
                    if progress.covers(call_id):
                        progress.close()
                    mark = {"done": "←", "failed": "✗", "declined": "–"}[outcome.value]
                    hint = f" (undo: assistant memories --forget {undo.key})" if undo else ""
                    _say(f"{mark} {summary}{hint}")
                case ev.Notice(text=text):
                    _say(f"! {text}")
                case ev.Activity(call_id=call_id, key=key, title=title, state=state):
                    if (call_id, key) not in screen.activities and state is ev.State.RUNNING:
                        screen.activities.add((call_id, key))
                        if not progress.covers(call_id):  # else the board shows it
                            screen.say(f"{title}…")
                case ev.Progress():
                    progress.update(event)
                case ev.Document():
                    progress.close()
                    screen.say(f"ready: {event.title}")
                    await face.transcript.document(event)
                    if face.documents:
                        await _print_document(event, full=face.full_reports)
                case ev.ApprovalNeeded():
                    progress.close()
                    asked.append(event)
    finally:
        progress.close()
    await face.transcript.flush()
    if streamed:  # the run ended before the answer was complete
        await face.transcript.answer(streamed)
    return asked


async def _print_document(event: Document, *, full: bool) -> None:
    """A document on stdout: in full if short (or ``full``), else saved to a file in the
    current folder, its outline printed with where to read the rest."""
    text = event.markdown
    lines = text.count("\n") + 1
    if full or (lines <= REPORT_MAX_LINES and len(text) <= REPORT_MAX_CHARS):
        sys.stdout.write(f"\n{text}\n")
        sys.stdout.flush()
        return
    name = next((ref.name for ref in event.files if ref.name.endswith(".md")), "report.md")
    try:
        path = await asyncio.to_thread(_save_new, Path.cwd(), name, text)
    except OSError as exc:
        _say(f"could not save the report in this folder ({exc.strerror or exc}); printing it")
        sys.stdout.write(f"\n{text}\n")
        sys.stdout.flush()
        return
    sys.stdout.write(
        f"\n{_outline(text)}\n\n"
        f"The full report ({lines} lines) is too long to print here: read it in "
        f"{path.name} in this folder ({path}).\n"
        "It is also in the browser's history (assistant ui), with PDF and Word downloads.\n"
        "To print reports in full, start the chat with: assistant chat --full-reports\n"
    )
    sys.stdout.flush()


def _save_new(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to a new file ``name`` in ``folder`` (``name-2.md``... if taken)."""
    base = Path(Path(name).name)  # a bare file name, whatever the document calls itself
    for number in range(1, 1000):
        path = folder / (base.name if number == 1 else f"{base.stem}-{number}{base.suffix}")
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{folder}/{base.stem}-*{base.suffix}: too many reports here")


def _outline(markdown: str) -> str:
    """A long report's title, first paragraph and headings, for the terminal."""
    from assistant.text import brief

    blocks = [block.strip() for block in markdown.split("\n\n") if block.strip()]
    kept = blocks[:1]
    if len(blocks) > 1 and not blocks[1].startswith("#"):
        kept.append(brief(blocks[1], 600))
    headings = [b.lstrip("#").strip() for b in blocks if b.startswith("## ")]
    if headings:
        kept.append("Contents: " + " · ".join(headings))
    return "\n\n".join(kept)


# --- asking at the terminal ------------------------------------------------------------


async def _read_line(prompt: str) -> str | None:
    """Read one line (None at end of input); works with a terminal and with a pipe.

    The read blocks in a daemon thread, so Ctrl-C ends the process at once instead of
    waiting for a line that will never come.
    """
    sys.stderr.write(prompt)
    sys.stderr.flush()
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def deliver(line: str | BaseException) -> None:
        if answer.done():
            return
        if isinstance(line, BaseException):
            answer.set_exception(line)
        else:
            answer.set_result(line)

    def read() -> None:
        try:
            line: str | BaseException = sys.stdin.readline()
        except Exception as exc:
            line = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: the process is ending
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=read, daemon=True, name="stdin").start()
    line = await answer
    if prompt and not sys.stdin.isatty():
        sys.stderr.write("\n")  # piped answers are not echoed: end the prompt's line
    return None if line == "" else line.rstrip("\n")


def _input_ended() -> Interrupted:
    return Interrupted(
        "the input ended while an answer was expected (approve, edit, reject or "
        "feedback); run the same command again to answer"
    )


async def _ask(approval: ApprovalNeeded) -> dict[str, Any]:
    """Ask the person to approve, edit, reject or give feedback on one action."""
    from assistant import approvals

    request = approval.request
    if request.error:
        _say(f"(the previous answer was not accepted: {request.error})")
    _say(f"\n{request.title or request.action.name}\n\n{request.action.description}\n")
    choices = {"a": "approve", "e": "edit", "r": "reject", "f": "respond"}
    names = {
        "approve": "[a]pprove",
        "edit": "[e]dit",
        "reject": "[r]eject",
        "respond": "[f]eedback",
    }
    menu = ", ".join(names[v] for v in choices.values() if v in request.allowed)
    draft: str | None = None  # the last edit, offered again if it was not used
    while True:
        line = await _read_line(f"{menu}? ")
        if line is None:
            raise _input_ended()
        choice = choices.get(line.strip().lower()[:1])
        if choice not in request.allowed:
            _say("please answer with one of the letters shown")
        elif choice == "approve":
            return approvals.approve()
        elif choice == "reject":
            reason = await _read_line("reason (optional): ")
            return approvals.reject(reason or None)
        elif choice == "respond":
            feedback = await _read_line("feedback: ")
            if feedback and feedback.strip():
                return approvals.respond(feedback.strip())
        else:
            args, draft = await _edit(request, draft)
            if args is not None:
                return approvals.edit(request.action.name, args)
            _say(f"back to the question ({menu}); [e]dit starts from your last edit")


async def _edit(request: Any, draft: str | None) -> tuple[dict[str, Any] | None, str]:
    """Let the person edit the request's arguments as text, show the result and have them
    confirm it. ``(arguments, text)``, or ``(None, text)`` to go back to the question."""
    from assistant import editing

    what = editing.NOUNS[request.edit_format]
    _say(f"\n{editing.HELP[request.edit_format]}")
    text = await _edit_text(draft if draft is not None else editing.to_text(request), request)
    try:
        args = editing.from_text(request, text)
    except ValueError as exc:
        _say(f"could not use that edit: {exc}")
        return None, text
    _say(f"\nThe edited {what}:\n\n{editing.to_text(request, args).rstrip()}\n")
    while True:
        line = await _read_line(f"{editing.CONFIRM[request.edit_format]} [y/n] ")
        if line is None:
            raise _input_ended()
        answer = line.strip().lower()[:1]
        if answer == "y":
            return args, text
        if answer == "n":
            return None, text
        _say("please answer y or n")


async def _edit_text(text: str, request: Any) -> str:
    """Edit ``text`` in $EDITOR on a terminal, or read it from stdin up to a lone '.'."""
    from assistant import editing

    if sys.stdin.isatty():
        editor = os.environ.get("EDITOR", "vi")
        _say(
            f"Opening it in {editor} (set $EDITOR to choose another editor): save and quit "
            "to go on; the help at the bottom of the file is ignored."
        )
        help_text = "\n".join(f"# {line}" for line in _wrap(editing.HELP[request.edit_format]))
        edited = await asyncio.to_thread(
            _edit_in_editor,
            f"{text.rstrip()}\n\n{SCISSORS}\n# Everything from the line above down is "
            f"ignored.\n{help_text}\n",
            editor,
        )
        return edited.split(SCISSORS, 1)[0]
    _say(f"\n{text.rstrip()}\n")
    _say("Type the edited text in the same format, then a line with a single '.':")
    lines: list[str] = []
    while (line := await _read_line("")) is not None and line.strip() != ".":
        lines.append(line)
    return "\n".join(lines)


def _wrap(text: str, width: int = 78) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def _edit_in_editor(text: str, editor: str) -> str:
    import shlex
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w+", suffix=".md", delete=False) as handle:
        handle.write(text)
    path = Path(handle.name)
    try:
        subprocess.run([*shlex.split(editor), str(path)], check=False)
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


# --- chat ------------------------------------------------------------------------------


async def _chat(engine: Engine, thread: str | None, *, full_reports: bool = False) -> int:
    from assistant.engine import new_thread_id
    from assistant.errors import AssistantError, InputError, describe
    from assistant.storage import LOCAL_OWNER, AlreadyDecided, ThreadBusy, ThreadKind, WrongKind

    refused = (ThreadBusy, AlreadyDecided, InputError)  # the run changed nothing
    thread = thread or new_thread_id()
    hint = f"continue with 'assistant chat --thread {thread}'"
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")  # undecodable bytes must not end the chat
    _say(f"thread {thread} — type a message; end with Ctrl-D")
    face = _Face(_transcript(engine, thread), full_reports=full_reports)
    failed = False
    try:
        if await engine.exists(thread, owner=LOCAL_OWNER):
            view = await engine.thread(thread, owner=LOCAL_OWNER)
            if view.info.kind is not ThreadKind.CHAT:
                raise WrongKind(thread, view.info.kind)
            if view.pending:
                _say("this thread has an approval waiting from an earlier session")
                await _answer(engine, thread, view.pending, None, face)
            elif view.unfinished:
                _say("the last turn of this thread was interrupted; finishing it")
                events = engine.continue_run(thread, owner=LOCAL_OWNER)
                await _drive(engine, thread, events, None, face)
        interactive = sys.stdin.isatty()
        while (line := await _read_line("you> " if interactive else "")) is not None:
            if not line.strip():
                if interactive:
                    _say("(empty message: type something)")
                continue
            face.transcript.said(line)
            try:
                events = engine.chat(thread, line, owner=LOCAL_OWNER)
                await _drive(engine, thread, events, None, face)
                failed = False
            except Interrupted:
                raise
            except Exception as exc:
                if isinstance(exc, refused):
                    face.transcript.drop()
                else:
                    await face.transcript.flush()  # the agent has it: so does the history
                _say(f"error: {exc if isinstance(exc, AssistantError) else describe(exc)}")
                failed = True
    except asyncio.CancelledError:
        raise Interrupted(hint) from None
    return EXIT_ERROR if failed else EXIT_OK
