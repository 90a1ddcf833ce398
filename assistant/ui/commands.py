"""The chat's commands, answered by the UI without the agent: ``/memory`` and ``/tools``.

Chainlit lists them in the composer's command menu (``set_commands``); typing ``/memory``
works too. ``/memory`` lists what is remembered of the signed-in person, each with a Forget
button, and a Forget all; ``/tools`` lists the built-in tools and the MCP servers with their
state. The buttons of a kept memory's note (Undo) and of the list go through ``Engine``.
"""

from __future__ import annotations

from typing import Any

import chainlit as cl

from assistant.engine import Engine
from assistant.errors import InputError
from assistant.text import escape, escape_code, plural
from assistant.ui.render import notice

MEMORY = "memory"
TOOLS = "tools"
COMMANDS: list[Any] = [
    {
        "id": MEMORY,
        "description": "What I remember about you, to forget any of it",
        "icon": "brain",
        "button": False,
        "persistent": False,
    },
    {
        "id": TOOLS,
        "description": "The tools I can use, MCP servers included",
        "icon": "wrench",
        "button": False,
        "persistent": False,
    },
]
FORGET_ACTION = "forget_memory"
FORGET_ALL_ACTION = "forget_all_memories"


async def announce() -> None:
    """Offer the commands in the composer."""
    await cl.context.emitter.set_commands(COMMANDS)


def command_of(message: cl.Message) -> str | None:
    """The command ``message`` is (picked from the menu, or typed as ``/name``), if any."""
    if message.command in (MEMORY, TOOLS):
        return message.command
    text = (message.content or "").strip().lower()
    return text[1:] if text in (f"/{MEMORY}", f"/{TOOLS}") else None


async def run(command: str, engine: Engine, owner: str) -> None:
    """Answer ``command`` for ``owner``."""
    if command == MEMORY:
        await show_memories(engine, owner)
    elif command == TOOLS:
        await show_tools(engine)


async def show_memories(engine: Engine, owner: str) -> None:
    """The person's memories, newest first, each with a Forget button."""
    try:
        kept = await engine.remembered(owner=owner)
    except InputError as exc:
        await notice(escape(str(exc))).send()
        return
    if not kept:
        await notice(
            "**I remember nothing about you yet.** Say *remember that …* and I will."
        ).send()
        return
    lines = [f"**What I remember about you** ({plural(len(kept), 'memory')}):", ""]
    lines += [f"{n}. {escape(m.text)}" for n, m in enumerate(kept, 1)]
    actions = [
        cl.Action(
            name=FORGET_ACTION,
            payload={"id": m.id},
            label=f"Forget {n}",
            tooltip=m.text[:80],
            icon="trash-2",
        )
        for n, m in enumerate(kept, 1)
    ]
    actions.append(cl.Action(name=FORGET_ALL_ACTION, payload={}, label="Forget all", icon="trash"))
    await notice("\n".join(lines), actions=actions).send()


async def show_tools(engine: Engine) -> None:
    """Built-in tools, then each MCP server: its state, error and tools."""
    status = await engine.tool_status()
    lines = ["**Built-in tools:** " + ", ".join(escape(label) for _, label in status.builtin)]
    if status.config is None:
        lines.append("No MCP servers are configured (`ASSISTANT_MCP_CONFIG`).")
    for server in status.servers:
        state = {"connected": "✅ connected", "failed": "⚠️ unavailable"}.get(
            server.state, server.state
        )
        line = f"**{escape(server.name)}** (MCP, {server.transport}): {state}"
        if server.error:
            line += f": {escape(server.error)}"
        if server.tools:
            line += "\n" + "\n".join(f"- `{escape_code(tool)}`" for tool in server.tools)
        lines.append(line)
    await notice("\n\n".join(lines)).send()


async def forget(action: cl.Action, engine: Engine, owner: str) -> None:
    """A Forget button: forget that memory, and say so in place of the button."""
    memory_id = str((action.payload or {}).get("id", ""))
    gone = await engine.forget(memory_id, owner=owner) if memory_id else False
    await action.remove()
    await notice("Forgotten." if gone else "That memory was already forgotten.").send()


async def forget_all(action: cl.Action, engine: Engine, owner: str) -> None:
    """The Forget all button."""
    count = await engine.clear_memories(owner=owner)
    await action.remove()
    await notice(f"Forgot {plural(count, 'memory')}.").send()
