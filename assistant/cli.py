"""The command line: ``assistant research|chat|threads|ui``.

Heavy packages are imported inside the commands so ``assistant --help`` stays fast. Every
failure ends with one clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.engine import Engine

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130


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
    research.add_argument("--out", type=Path, help="write the report here (default: stdout)")
    research.add_argument("--thread", help="thread id; run again with it to resume")

    chat = commands.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--thread", help="continue this thread")

    commands.add_parser("threads", help="list saved threads, newest first")

    ui = commands.add_parser("ui", help="start the chat UI in the browser")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``assistant`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "ui":
            from assistant.ui.launch import run_ui

            return run_ui(args.host, args.port)
        return asyncio.run(_dispatch(args))
    except KeyboardInterrupt:
        _say("interrupted; run the same command with --thread to resume")
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
    import os
    import warnings

    from assistant.engine import Engine
    from assistant.errors import validate_message
    from assistant.settings import load_settings
    from assistant.tracing import setup_tracing

    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    settings = load_settings()
    if args.command == "research":
        validate_message(args.topic, what="topic")
    tracing = setup_tracing(os.environ)  # None unless PHOENIX_COLLECTOR_ENDPOINT is set
    try:
        async with Engine.open(settings, tracing) as engine:
            if args.command == "threads":
                return await _threads(engine)
            if args.command == "research":
                return await _research(engine, args)
            return await _chat(engine, args.thread)
    finally:
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # exports the last spans


async def _threads(engine: Engine) -> int:
    import datetime

    threads = await engine.threads()
    if not threads:
        _say("no saved threads yet")
    for info in threads:
        when = datetime.datetime.fromtimestamp(info.updated_at).strftime("%Y-%m-%d %H:%M")
        print(f"{info.thread_id}  {when}  {info.kind:<8}  {info.title}")
    return EXIT_OK


async def _research(engine: Engine, args: argparse.Namespace) -> int:
    from assistant.engine import RunConfig, new_thread_id
    from assistant.errors import PlanRejected

    thread = args.thread or new_thread_id()
    snapshot = await engine.snapshot(thread, kind="research")
    options = RunConfig(approve=[] if args.yes else ["research"])
    if snapshot.values.get("status") == "done":
        _say(f"thread {thread}: the report was already finished")
    else:
        _say(f"thread {thread} (run again with --thread {thread} to resume)")
        topic = None if snapshot.values else args.topic
        if topic is None:
            _say("resuming from the last checkpoint")
        await _drive(
            engine,
            thread,
            engine.research_run(thread, topic, options),
            "research",
            auto_approve=args.yes,
        )
    values = (await engine.snapshot(thread, kind="research")).values
    if values.get("status") == "rejected":
        raise PlanRejected("The plan was rejected: nothing was searched and no report written.")
    report = values["report"]
    if args.out:
        args.out.write_text(report, encoding="utf-8")
        _say(f"report written to {args.out} (also saved as {values['report_path']})")
    else:
        sys.stdout.write(report)
    return EXIT_OK


async def _drive(
    engine: Engine, thread: str, events: Any, kind: str, *, auto_approve: bool = False
) -> None:
    """Show a run's events, answer its approvals at the terminal, until nothing is pending."""
    from assistant import approvals

    values = (await engine.snapshot(thread, kind=kind)).values if kind == "research" else {}
    progress = _Progress({s["index"] for s in values.get("sections", [])})
    while True:
        await _show(events, progress)
        pending = await engine.pending(thread, kind=kind)
        if not pending:
            return
        answers = {}
        for approval in pending:
            answers[approval.interrupt_id] = (
                approvals.approve() if auto_approve else await _ask(approval.request)
            )
        events = engine.resume(thread, answers, kind=kind)


class _Progress:
    """Sections done of total, with seconds since the command started, for stderr."""

    def __init__(self, done: set[int] | None = None) -> None:
        self.started = time.monotonic()
        self.done: set[int] = done or set()

    def say(self, text: str) -> None:
        _say(f"[research {time.monotonic() - self.started:5.1f}s] {text}")


async def _show(events: Any, progress: _Progress) -> None:
    from assistant import events as ev

    streamed = False
    async for event in events:
        match event:
            case ev.Token(text=text):
                sys.stdout.write(text)
                sys.stdout.flush()
                streamed = True
            case ev.Answer(text=text):
                if not streamed:
                    sys.stdout.write(text)
                sys.stdout.write("\n")
                sys.stdout.flush()
                streamed = False
            case ev.ToolCall(name=name, args=args):
                _say(f"→ {name}({_brief(args)})")
            case ev.ToolResult(name=name, content=content, error=error):
                _say(f"← {name}{' failed' if error else ''}: {_brief(content)}")
            case ev.PlanReady(plan=plan):
                progress.say(f"plan ready: {len(plan['sections'])} sections")
            case ev.SectionStarted(index=i, total=total, name=name):
                progress.say(f"started {i + 1}/{total}: {name}")
            case ev.SectionDone(
                index=i, total=total, name=name, status=status, error=error, resumed=resumed
            ):
                progress.done.add(i)
                note = " (kept from the interrupted run)" if resumed else ""
                failure = f" — missing: {error}" if status == "failed" else ""
                progress.say(
                    f"{len(progress.done)} of {total} sections done: {name}{note}{failure}"
                )
            case ev.ReportReady(path=path):
                progress.say(f"report assembled: {path}")


def _brief(value: Any, limit: int = 120) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _read_line(prompt: str) -> str | None:
    """Read one line (None at end of input); works with a terminal and with a pipe."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    if prompt and not sys.stdin.isatty():
        sys.stderr.write("\n")  # piped answers are not echoed: end the prompt's line
    return None if line == "" else line.rstrip("\n")


async def _ask(request: dict[str, Any]) -> dict[str, Any]:
    """Ask the person to approve, edit, reject or give feedback on one action."""
    import json

    from assistant import approvals
    from assistant.research.plan_text import plan_from_text, plan_to_text

    action = request["action_requests"][0]
    allowed = request["review_configs"][0]["allowed_decisions"]
    if request.get("error"):
        _say(f"(the previous answer was not accepted: {request['error']})")
    _say(f"\n{action.get('description') or action['name']}\n")
    choices = {"a": "approve", "e": "edit", "r": "reject", "f": "respond"}
    menu = ", ".join(
        f"[{k}]{v[1:] if v != 'respond' else 'eedback'}" for k, v in choices.items() if v in allowed
    )
    while True:
        line = await _read_line(f"{menu}? ")
        if line is None:
            raise KeyboardInterrupt
        choice = choices.get(line.strip().lower()[:1])
        if choice == "approve":
            return approvals.approve()
        if choice == "reject":
            reason = await _read_line("reason (optional): ")
            return approvals.reject(reason or None)
        if choice == "respond":
            feedback = await _read_line("feedback: ")
            if feedback and feedback.strip():
                return approvals.respond(feedback.strip())
        elif choice == "edit":
            try:
                if action["name"] == "research":
                    text = await _edit_text(plan_to_text(action["args"]))
                    args = {**action["args"], **plan_from_text(text)}
                else:
                    line = await _read_line("new arguments as JSON: ")
                    args = json.loads(line or "")
                return approvals.edit(action["name"], args)
            except ValueError as exc:
                _say(f"could not use that edit: {exc}")
        else:
            _say("please answer with one of the letters shown")


async def _edit_text(text: str) -> str:
    """Edit ``text`` in $EDITOR on a terminal, or read it from stdin up to a lone '.'."""
    if sys.stdin.isatty():
        return await asyncio.to_thread(_edit_in_editor, text)
    _say(text)
    _say("Type the edited plan in the same format, then a line with a single '.':")
    lines: list[str] = []
    while (line := await _read_line("")) is not None and line.strip() != ".":
        lines.append(line)
    return "\n".join(lines)


def _edit_in_editor(text: str) -> str:
    import os
    import shlex
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("w+", suffix=".md", delete=False) as handle:
        handle.write(text)
    path = Path(handle.name)
    try:
        subprocess.run([*shlex.split(os.environ.get("EDITOR", "vi")), str(path)], check=False)
        return path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)


async def _chat(engine: Engine, thread: str | None) -> int:
    from assistant.engine import new_thread_id
    from assistant.errors import InputError, describe

    thread = thread or new_thread_id()
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")  # undecodable bytes must not end the chat
    _say(f"thread {thread} — type a message; end with Ctrl-D")
    failed = False
    if await engine.pending(thread):
        _say("this thread has an approval waiting from an earlier session")
        await _drive(engine, thread, _nothing(), "chat")
    elif (await engine.snapshot(thread)).next:
        _say("the last turn of this thread was interrupted; finishing it")
        await _drive(engine, thread, engine.continue_run(thread), "chat")
    interactive = sys.stdin.isatty()
    while (line := await _read_line("you> " if interactive else "")) is not None:
        if not line.strip():
            if interactive:
                _say("(empty message: type something)")
            continue
        try:
            await _drive(engine, thread, engine.chat(thread, line), "chat")
            failed = False
        except InputError as exc:
            _say(f"error: {exc}")
            failed = True
        except Exception as exc:
            _say(f"error: {describe(exc)}")
            failed = True
    return EXIT_ERROR if failed else EXIT_OK


async def _nothing() -> Any:
    return
    yield
