"""The ``assistant`` command as a person runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from assistant.settings import Settings
from fakes.brain import WORKER_PROMPT, Brain
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.conftest import assistant_command
from tests.support import both_backends, cited_numbers, query


def run(
    args: list[str],
    env: dict[str, str],
    stdin: str = "",
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*assistant_command(), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert text in errors[0]


def worker_calls(llm: ScriptedOpenAI) -> list[str]:
    return [c.request.last_user for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]


def test_help_lists_commands(cli_env: dict[str, str]) -> None:
    result = run(["--help"], cli_env)
    assert result.returncode == 0
    for command in ("research", "chat", "threads", "ui"):
        assert command in result.stdout


def test_research_yes_writes_report(
    cli_env: dict[str, str], tmp_path: Path, search: FakeSearch
) -> None:
    out = tmp_path / "report.md"
    result = run(["research", "ocean tides", "--yes", "--out", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report.startswith("# ")
    sources = [
        line for line in report.split("## Sources", 1)[1].splitlines() if line.startswith("[")
    ]
    assert sources and all(f" — {search.url}/page/" in line for line in sources)
    assert cited_numbers(report) == set(range(1, len(sources) + 1))
    assert "started 1/3: Part 1" in result.stderr
    assert "3 of 3 done: " in result.stderr


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(cli_env: dict[str, str]) -> None:
    result = run(["research", "ocean tides", "--yes"], cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.endswith("] started 1/3: Part 1") for line in lines)
    assert any(line.endswith("] 3 of 3 done: Part 3 — done (3 sources)") for line in lines) or (
        "3 of 3 done: " in result.stderr
    )
    assert "\x1b[" not in result.stderr  # no colours, no cursor movement
    assert "DEBUG" not in result.stderr  # a library's debug logging stays out of it


def test_research_to_stdout(cli_env: dict[str, str]) -> None:
    result = run(["research", "ocean tides", "--yes"], cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ") and "## Sources" in result.stdout


@pytest.mark.parametrize("topic", ["", "   ", "\x07\x08"])
def test_empty_topic_is_refused(cli_env: dict[str, str], topic: str, llm: ScriptedOpenAI) -> None:
    result = run(["research", topic, "--yes"], cli_env)
    assert_one_line_error(result, 2, "The topic is empty")
    assert llm.calls == []


def test_missing_api_key(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    result = run(["research", "tides", "--yes"], env)
    assert_one_line_error(result, 2, "OPENAI_API_KEY is not set")


def test_unreachable_model(cli_env: dict[str, str]) -> None:
    with ScriptedOpenAI() as dead:
        url = dead.base_url
    result = run(["research", "tides", "--yes"], {**cli_env, "OPENAI_BASE_URL": url})
    assert_one_line_error(result, 1, "Cannot reach the model server")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASSISTANT_MAX_PARALLEL", "abc"),
        ("ASSISTANT_APPROVE", "everything"),
        ("ASSISTANT_SEARCH_PROVIDER", "bing"),
        ("OPENAI_BASE_URL", "localhost:1"),
    ],
)
def test_invalid_setting(cli_env: dict[str, str], name: str, value: str) -> None:
    result = run(["research", "tides", "--yes"], {**cli_env, name: value})
    assert_one_line_error(result, 2, f"invalid setting {name}")


def test_rejected_plan_has_its_own_exit_code(cli_env: dict[str, str], search: FakeSearch) -> None:
    result = run(["research", "tides"], cli_env, stdin="r\nnot what I need\n")
    assert_one_line_error(result, 3, "rejected")
    assert "Part 1" in result.stderr  # the plan was shown before the question
    assert search.requests == []


def test_plan_approved_at_the_terminal(cli_env: dict[str, str]) -> None:
    result = run(["research", "tides"], cli_env, stdin="a\n")
    assert result.returncode == 0, result.stderr
    assert "## Part 3" in result.stdout


EDITED_PLAN = "Title: My tides\n## Only section\nWhat tides are.\n- moon gravity tides\n.\n"


def test_plan_edited_at_the_terminal(cli_env: dict[str, str], search: FakeSearch) -> None:
    result = run(["research", "tides"], cli_env, stdin="e\n" + EDITED_PLAN + "y\n")
    assert result.returncode == 0, result.stderr
    assert "## Only section" in result.stdout and "## Part 1" not in result.stdout
    assert [query for query, *_ in search.requests] == ["moon gravity tides"]


def test_an_edit_is_explained_shown_and_confirmed_before_it_is_sent(
    cli_env: dict[str, str], search: FakeSearch
) -> None:
    stdin = "e\n" + EDITED_PLAN + "n\n" + "a\n"  # see the edit, say no, approve the original
    result = run(["research", "tides"], cli_env, stdin=stdin)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    explained = err.index("Edit the plan in this format: a 'Title:' line")
    current = err.index("## Part 1\nAspect 1 of tides.\n- tides aspect 1", explained)
    asked_for_text = err.index("then a line with a single '.'", current)
    shown = err.index("The edited plan:\n\nTitle: My tides\n\n## Only section\n", asked_for_text)
    confirm = err.index("run this plan? [y/n]", shown)
    assert err.index("back to the question", confirm)
    assert "## Part 1" in result.stdout  # "n" sent nothing: the original plan ran
    assert sorted(query for query, *_ in search.requests) == [
        f"tides aspect {i}" for i in (1, 2, 3)
    ]


def test_an_edit_that_cannot_be_used_says_why_and_asks_again(cli_env: dict[str, str]) -> None:
    stdin = "e\nTitle: T\nstray text\n.\n" + "a\n"
    result = run(["research", "tides"], cli_env, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "could not use that edit: text before the first '## Section' heading" in result.stderr
    assert "run this plan?" not in result.stderr


def test_plan_feedback_replans(cli_env: dict[str, str], llm: ScriptedOpenAI) -> None:
    result = run(["research", "tides"], cli_env, stdin="f\nmore on history\na\n")
    assert result.returncode == 0, result.stderr
    plans = [c for c in llm.calls if c.request.schema_name == "Plan"]
    assert len(plans) == 2 and "more on history" in plans[1].request.last_user


def test_invalid_utf8_and_control_characters_in_topic(cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [
            *assistant_command(),
            "research",
            b"tides \xff\x1b[31m".decode("utf-8", "surrogateescape"),
            "--yes",
        ],
        env=cli_env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr


def test_threads_lists_runs_newest_first(cli_env: dict[str, str]) -> None:
    run(["research", "first topic", "--yes", "--thread", "t-one"], cli_env)
    run(["research", "second topic", "--yes", "--thread", "t-two"], cli_env)
    result = run(["threads"], cli_env)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["THREAD", "UPDATED", "KIND", "STATUS", "TITLE"]
    assert lines[1].startswith("t-two") and "second topic" in lines[1]
    assert lines[2].startswith("t-one")
    assert "research" in lines[1] and "done" in lines[1]
    # the columns line up
    assert lines[1].index("research") == lines[2].index("research") == lines[0].index("KIND")


def history_messages(data_dir: Path, thread: str) -> list[tuple[str, str]]:
    """The messages the browser shows when it reopens ``thread`` (its history rows)."""
    with sqlite3.connect(data_dir / "chainlit.sqlite") as db:
        rows = db.execute(
            'SELECT "type", "output" FROM steps WHERE "threadId" = ? ORDER BY "createdAt"',
            (thread,),
        ).fetchall()
        users = db.execute(
            'SELECT u."identifier" FROM threads t JOIN users u ON u."id" = t."userId" '
            'WHERE t."id" = ?',
            (thread,),
        ).fetchall()
    db.close()
    assert users == [("local",)]  # the browser's local user
    return rows


def test_research_and_chat_are_recorded_in_the_browsers_history(
    cli_env: dict[str, str], data_dir: Path, brain: Brain
) -> None:
    run(["research", "ocean tides", "--yes", "--thread", "r-hist"], cli_env)
    shown = history_messages(data_dir, "r-hist")
    assert shown[0] == ("user_message", "ocean tides")
    assert shown[1][0] == "assistant_message" and shown[1][1].startswith("# A Report")
    assert len(shown) == 2

    run(["chat", "--thread", "c-hist"], cli_env, stdin="hello\ncalculate 6*7\n")
    shown = history_messages(data_dir, "c-hist")
    assert [kind for kind, _ in shown] == ["user_message", "assistant_message"] * 2
    assert shown[0][1] == "hello" and shown[1][1] == brain.answer
    assert shown[2][1] == "calculate 6*7" and "42" in shown[3][1]


def test_invalid_thread_id(cli_env: dict[str, str]) -> None:
    result = run(["research", "tides", "--yes", "--thread", "bad\x01id"], cli_env)
    assert_one_line_error(result, 2, "Invalid thread id")


def test_chat_with_piped_stdin(cli_env: dict[str, str], brain: Brain) -> None:
    result = run(["chat", "--thread", "c1"], cli_env, stdin="hello\n\ncalculate 6*7\n")
    assert result.returncode == 0, result.stderr
    assert brain.answer in result.stdout
    assert "42" in result.stdout
    assert "→ Calculator" in result.stderr


def test_chat_approves_research_from_the_pipe(cli_env: dict[str, str]) -> None:
    result = run(["chat"], cli_env, stdin="research tides\na\n")
    assert result.returncode == 0, result.stderr
    assert "Research plan" in result.stderr and "### A Report" in result.stderr
    # the report itself is printed, in full, not a server path
    assert "# A Report" in result.stdout and "## Sources" in result.stdout
    assert "saved to" not in result.stdout


def test_chat_saves_a_long_report_and_says_where_and_how_to_print_it(
    cli_env: dict[str, str], brain: Brain, tmp_path: Path
) -> None:
    brain.section_repeat = 40  # each section says its sentences 40 times: over 20,000 characters
    folder = tmp_path / "work"
    folder.mkdir()
    result = run(["chat"], cli_env, stdin="research tides\na\n", cwd=folder)
    assert result.returncode == 0, result.stderr
    saved = folder / "a-report.md"
    report = saved.read_text()
    assert report.startswith("# A Report") and "## Sources" in report and len(report) > 20_000
    out = result.stdout
    assert "## Sources" not in out and "# A Report" in out  # the outline, not the report
    assert "Contents: Part 1 · Part 2 · Part 3" in out
    assert f"read it in a-report.md in this folder ({saved})" in out
    assert "assistant chat --full-reports" in out

    again = run(["chat"], cli_env, stdin="research tides\na\n", cwd=folder)
    assert (folder / "a-report-2.md").exists()  # never overwrites an earlier report
    assert "a-report-2.md" in again.stdout


def test_chat_full_reports_prints_a_long_report_in_full(
    cli_env: dict[str, str], brain: Brain, tmp_path: Path
) -> None:
    brain.section_repeat = 40
    result = run(["chat", "--full-reports"], cli_env, stdin="research tides\na\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "# A Report" in result.stdout and "## Sources" in result.stdout
    assert len(result.stdout) > 20_000
    assert not list(tmp_path.glob("*.md"))


def test_chat_help_documents_full_reports(cli_env: dict[str, str]) -> None:
    result = run(["chat", "--help"], cli_env)
    assert "--full-reports" in result.stdout and "200 lines" in result.stdout


def test_chat_model_error_is_one_line(cli_env: dict[str, str]) -> None:
    with ScriptedOpenAI() as dead:
        url = dead.base_url
    result = run(["chat"], {**cli_env, "OPENAI_BASE_URL": url}, stdin="hello\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Cannot reach the model server" in result.stderr


def _saved_sections(settings: Settings) -> int:
    if not settings.postgres_url and not settings.store_path.exists():
        return 0
    try:
        return int(query(settings, "store", "SELECT COUNT(*) FROM sections")[0][0])
    except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
        return 0  # the process has not created its tables yet


@both_backends
def test_kill_during_research_then_resume_redoes_nothing_finished(
    cli_env: dict[str, str], brain: Brain, llm: ScriptedOpenAI, settings: Settings, tmp_path: Path
) -> None:
    brain.sections = 4
    brain.section_delay = {"Part 3": 8.0, "Part 4": 8.0}
    env = {**cli_env, "ASSISTANT_MAX_PARALLEL": "2"}
    args = ["research", "tides", "--yes", "--thread", "crash", "--out", str(tmp_path / "r.md")]
    process = subprocess.Popen(
        [*assistant_command(), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while _saved_sections(settings) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _saved_sections(settings) == 2, "the first two sections never finished"
    time.sleep(0.5)  # let the last two workers get going
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.stderr is not None
    progress = process.stderr.read().decode()
    assert "started 3/4: Part 3" in progress and "started 4/4: Part 4" in progress
    assert "done: Part 3" not in progress  # killed while Part 3 and Part 4 were running

    brain.section_delay = {}
    llm.reset()
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    assert "4 of 4 done: " in result.stderr
    assert "kept from before 1/4: Part 1" in result.stderr
    redone = [p.split("Section: ")[1].split("\n")[0] for p in worker_calls(llm)]
    assert sorted(redone) == ["Part 3", "Part 4"]
    assert not [c for c in llm.calls if c.request.schema_name == "Plan"]
    report = (tmp_path / "r.md").read_text()
    assert all(f"## Part {i}" in report for i in range(1, 5))


def test_running_a_finished_thread_again_prints_its_report(
    cli_env: dict[str, str], llm: ScriptedOpenAI
) -> None:
    first = run(["research", "tides", "--yes", "--thread", "done"], cli_env)
    llm.reset()
    again = run(["research", "tides", "--yes", "--thread", "done"], cli_env)
    assert again.returncode == 0
    assert again.stdout == first.stdout
    assert llm.calls == []


def test_chat_survives_invalid_utf8_on_stdin(cli_env: dict[str, str], brain: Brain) -> None:
    result = subprocess.run(
        [*assistant_command(), "chat"],
        input=b"hello \xff\xfe there\n",
        env=cli_env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert brain.answer in result.stdout.decode()


# --- Ctrl-C, --out, thread kinds, delete -------------------------------------------------


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start the CLI with a pseudo-terminal as its controlling terminal; (process, master)."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        # as a shell starts a job in the foreground: Ctrl-C interrupts, even if the tests
        # were started where it is ignored (a background job of a script, nohup)
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(
        [*assistant_command(), *args],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(slave)
    return process, master


def read_until(master: int, text: str, within: float = 30) -> str:
    """Everything the terminal shows until ``text`` appears."""
    import select

    seen = b""
    deadline = time.monotonic() + within
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} never appeared; the terminal showed:\n{seen.decode()}"
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    return seen.decode(errors="replace")


def rest(master: int) -> str:
    """What the terminal shows until the process closes it."""
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def ctrl_c_after(
    process: subprocess.Popen[bytes], master: int, text: str
) -> tuple[int, str, float]:
    """Type Ctrl-C once ``text`` is on the terminal: (exit code, what was shown after it,
    seconds from the key to the exit). The terminal is closed, a process left running killed."""
    try:
        read_until(master, text)
        started = time.monotonic()
        os.write(master, b"\x03")
        code = process.wait(timeout=10)
        elapsed = time.monotonic() - started
        return code, rest(master), elapsed
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def screen_text(shown: str) -> str:
    """What a terminal showed, without its escape sequences; carriage returns as new lines."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).replace("\r", "\n")


@pytest.mark.parametrize(
    ("args", "prompt"),
    [(["research", "tides", "--thread", "pty-plan"], "pprove"), (["chat"], "you> ")],
    ids=["plan-prompt", "chat-prompt"],
)
def test_one_ctrl_c_at_a_prompt_ends_the_process(
    cli_env: dict[str, str], args: list[str], prompt: str
) -> None:
    process, master = on_a_terminal(args, {**cli_env, "TERM": "dumb"})
    code, shown, elapsed = ctrl_c_after(process, master, prompt)
    assert code == 130
    assert elapsed < 3
    assert "Traceback" not in shown
    interrupted = [line for line in shown.splitlines() if "interrupted" in line]
    assert len(interrupted) == 1, shown
    assert "--thread" in interrupted[0]


def test_research_progress_is_a_live_board_on_a_terminal(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    process, master = on_a_terminal(["research", "ocean tides", "--yes"], env)
    try:
        shown = rest(master)
        code = process.wait(timeout=30)
    finally:
        os.close(master)
    assert code == 0, shown
    assert "\x1b[2K" in shown and "\x1b[1A" in shown  # redrawn in place
    assert "started 1/3" not in shown  # no plain lines on a terminal
    plain = screen_text(shown)
    last = plain[plain.rindex("Researching: A Report") :]
    assert last.startswith("Researching: A Report · 3 of 3 done · 0:0")
    assert re.search(r"^3\. ✓ Part 3 +done +0:0\d  3 sources$", last, re.M), last
    assert "Report ready: 3 sections of 3" in last
    assert "## Sources" in plain  # the report, once the board is done
    assert plain.index("ready: A Report") > plain.rindex("3 of 3 done")


def test_ctrl_c_during_the_live_board_stops_it_cleanly(
    cli_env: dict[str, str], brain: Brain
) -> None:
    brain.section_delay = {f"Part {i}": 20.0 for i in (1, 2, 3)}
    env = {**cli_env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    process, master = on_a_terminal(["research", "tides", "--yes", "--thread", "live-stop"], env)
    # "writing": the workers are waiting for the model
    code, shown, _ = ctrl_c_after(process, master, "writing")
    assert code == 130
    plain = screen_text(shown)
    last = plain[plain.rindex("Researching: A Report") :]
    assert re.search(r"^1\. ■ Part 1 +stopped", last, re.M), last
    assert "\x1b[?25h" in shown  # the cursor is back
    interrupted = [line for line in plain.splitlines() if "interrupted" in line]
    assert len(interrupted) == 1 and "--thread live-stop" in interrupted[0]
    assert interrupted[0].startswith("interrupted")  # on a line of its own, below the board
    assert "Traceback" not in plain


FAKE_EDITOR = """
import pathlib, sys
path = pathlib.Path(sys.argv[1])
text = path.read_text()
head, scissors, help_text = text.partition("# ------------------------ >8 ---")
assert "## Part 1" in head and "Edit the plan in this format" in help_text, text
edited = "Title: My tides\\n## Only section\\nWhat tides are.\\n- moon gravity tides\\n"
path.write_text(edited + "\\n" + scissors + help_text)  # the help stays: it must be ignored
"""


def test_edit_in_the_editor_on_a_terminal(
    cli_env: dict[str, str], tmp_path: Path, search: FakeSearch
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(FAKE_EDITOR)
    env = {**cli_env, "TERM": "dumb", "EDITOR": f"{sys.executable} {editor}"}
    process, master = on_a_terminal(["research", "tides", "--thread", "pty-edit"], env)
    try:
        read_until(master, "pprove")
        os.write(master, b"e\n")
        asked = read_until(master, "run this plan? [y/n]")
        os.write(master, b"y\n")
        shown = asked + rest(master)
        code = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert code == 0, shown
    explained = shown.index("Edit the plan in this format")
    opened = shown.index(f"Opening it in {sys.executable} {editor}", explained)
    edited = shown.index("The edited plan:", opened)
    assert "## Only section" in shown[edited:] and "Everything from the line" not in shown[edited:]
    assert [query for query, *_ in search.requests] == ["moon gravity tides"]


def test_out_is_checked_before_anything_is_paid_for(
    cli_env: dict[str, str], llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    for out, says in [
        (tmp_path / "missing-folder" / "r.md", "does not exist"),
        (tmp_path, "is a directory"),
        (tmp_path / "report.xls", "unsupported format .xls"),
    ]:
        result = run(["research", "tides", "--yes", "--out", str(out)], cli_env)
        assert_one_line_error(result, 2, says)
    assert llm.calls == []


def test_a_chat_thread_used_for_research_is_refused_in_one_line(cli_env: dict[str, str]) -> None:
    run(["chat", "--thread", "c-kind"], cli_env, stdin="hello\n")
    result = run(["research", "tides", "--yes", "--thread", "c-kind"], cli_env)
    assert_one_line_error(result, 2, "is a chat thread")
    assert "assistant chat --thread c-kind" in result.stderr
    run(["research", "tides", "--yes", "--thread", "r-kind"], cli_env)
    result = run(["chat", "--thread", "r-kind"], cli_env, stdin="hello\n")
    assert_one_line_error(result, 2, "is a research thread")


def test_delete_removes_a_thread(cli_env: dict[str, str], data_dir: Path) -> None:
    run(["research", "tides", "--yes", "--thread", "gone"], cli_env)
    result = run(["delete", "gone"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "deleted thread gone" in result.stderr
    assert "gone" not in run(["threads"], cli_env).stdout
    with sqlite3.connect(data_dir / "checkpoints.sqlite") as db:
        assert db.execute(
            "SELECT COUNT(*) FROM checkpoints WHERE thread_id = 'gone'"
        ).fetchone() == (0,)
    again = run(["research", "tides", "--yes", "--thread", "gone"], cli_env)
    assert_one_line_error(again, 2, "No conversation gone")
    missing = run(["delete", "never-was"], cli_env)
    assert_one_line_error(missing, 2, "No conversation never-was")


def test_end_of_input_at_the_plan_prompt_says_an_answer_was_expected(
    cli_env: dict[str, str],
) -> None:
    result = run(["research", "tides", "--thread", "eof"], cli_env, stdin="")
    assert result.returncode == 130
    assert "an answer was expected" in result.stderr
    assert "Traceback" not in result.stderr


# --- documents and formats ------------------------------------------------------------------


def test_research_documents_alone_from_files_and_a_folder_into_word(
    cli_env: dict[str, str], tmp_path: Path, search: FakeSearch, llm: ScriptedOpenAI
) -> None:
    import io

    from docx import Document as DocxDocument

    from fakes.files import make_docx, make_pdf

    folder = tmp_path / "papers"
    (folder / "deeper").mkdir(parents=True)
    (folder / "tides.pdf").write_bytes(make_pdf(["Tidal range is the height between tides."]))
    (folder / "deeper" / "neap.docx").write_bytes(make_docx(["Neap tides come at quarter moons."]))
    (folder / "ignored.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nSpring tides come at new and full moon.\n")
    out = tmp_path / "report.docx"

    result = run(
        ["research", "tides", "--yes", "--no-web", "--source", str(notes),
         "--source", str(folder), "--out", str(out)],
        cli_env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "added notes.md: " in result.stderr and "added tides.pdf: 1 page" in result.stderr
    assert "added neap.docx: " in result.stderr and "ignored.png" not in result.stderr
    assert search.requests == []
    assert all("(from the person's document)" in p for p in worker_calls(llm))
    word = DocxDocument(io.BytesIO(out.read_bytes()))
    lines = [p.text for p in word.paragraphs]
    sources = lines[lines.index("Sources") + 1 :]
    assert sources[0].startswith("[1] ") and not any("http" in line for line in sources)
    assert {line.split(" ", 1)[1] for line in sources if line.startswith("[")} <= {
        "notes.md",
        "tides.pdf, page 1",
        "neap.docx",
    }


@pytest.mark.parametrize("suffix", [".pdf", ".html"])
def test_out_writes_the_format_its_extension_names(
    cli_env: dict[str, str], tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"report{suffix}"
    result = run(["research", "ocean tides", "--yes", "--out", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    if suffix == ".pdf":
        import io

        from pypdf import PdfReader

        text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
        assert "A Report" in text and "Sources" in text
    else:
        assert data.startswith(b"<!DOCTYPE html>") and b"<h2>Sources</h2>" in data


def test_unusable_sources_are_refused_before_anything_is_paid_for(
    cli_env: dict[str, str], llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"not a pdf")
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, says in [
        (["--no-web"], "--no-web needs documents"),
        (["--source", str(tmp_path / "missing.md")], "no such file or folder"),
        (["--source", str(fake)], "fake.pdf is damaged or not really a PDF file"),
        (["--source", str(empty)], "holds no document to read"),
    ]:
        result = run(["research", "tides", "--yes", *args], cli_env)
        assert_one_line_error(result, 2, says)
    assert llm.calls == []


# --- memories and tools ---------------------------------------------------------------------


def test_memories_are_listed_forgotten_and_cleared(cli_env: dict[str, str]) -> None:
    for fact in ("I prefer reports in French", "my name is Ada"):
        said = run(["chat"], cli_env, stdin=f"remember that {fact}\n")
        assert said.returncode == 0, said.stderr
        assert f"← Remembered: {fact} (undo: assistant memories --forget " in said.stderr
    listed = run(["memories"], cli_env)
    lines = listed.stdout.splitlines()
    assert [line.split("  ", 2)[2] for line in lines] == [
        "my name is Ada",
        "I prefer reports in French",
    ]  # newest first
    ada = lines[0].split()[0]
    assert run(["memories", "--forget", ada], cli_env).returncode == 0
    assert "my name is Ada" not in run(["memories"], cli_env).stdout
    assert_one_line_error(run(["memories", "--forget", ada], cli_env), 2, f"No memory {ada}")
    cleared = run(["memories", "--clear"], cli_env)
    assert cleared.returncode == 0 and "forgot 1 memory" in cleared.stderr
    assert "nothing remembered yet" in run(["memories"], cli_env).stderr


def test_memories_when_memory_is_off(cli_env: dict[str, str]) -> None:
    result = run(["memories"], {**cli_env, "ASSISTANT_MEMORY": "off"})
    assert_one_line_error(result, 2, "ASSISTANT_MEMORY=off")


def test_tools_lists_builtin_tools_and_mcp_servers(cli_env: dict[str, str], tmp_path: Path) -> None:
    import json
    import sys

    fake = str(Path(__file__).resolve().parent.parent / "fakes" / "mcp_stdio_server.py")
    config = tmp_path / "mcp.json"
    servers = {
        "fake": {"command": sys.executable, "args": [fake]},
        "broken": {"command": sys.executable, "args": [fake, "--exit", "no key"]},
    }
    config.write_text(json.dumps({"mcpServers": servers}))
    plain = run(["tools"], cli_env)
    assert "research" in plain.stdout and "MCP servers: none" in plain.stdout
    result = run(["tools"], {**cli_env, "ASSISTANT_MCP_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "fake                     connected (stdio)" in out
    assert "    fake__echo" in out
    assert "broken                   failed (stdio): could not start" in out
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert_one_line_error(
        run(["tools"], {**cli_env, "ASSISTANT_MCP_CONFIG": str(bad)}), 2, "ASSISTANT_MCP_CONFIG"
    )
