"""The operator's MCP config file: the desktop clients' JSON format, checked and expanded."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Transport = Literal["stdio", "streamable_http"]

DEFAULT_CALL_TIMEOUT = 30.0

_TRANSPORTS: dict[str, Transport] = {
    "stdio": "stdio",
    "streamable_http": "streamable_http",
    "streamable-http": "streamable_http",
    "streamablehttp": "streamable_http",
    "http": "streamable_http",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MCPConfigError(ValueError):
    """The MCP config is unusable; ``str()`` is one line naming the file and the problem."""


class _Invalid(Exception):
    """A problem in one server's entry, before the file and server names are added."""


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server as the operator configured it."""

    name: str
    transport: Transport
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    approve: bool = True
    timeout: float = DEFAULT_CALL_TIMEOUT
    tools: tuple[str, ...] | None = None


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> list[ServerConfig]:
    """Read an ``{"mcpServers": {...}}`` file; raise ``MCPConfigError`` if it is unusable.

    ``environ`` (default ``os.environ``) supplies the ``${VAR}`` values.
    """
    file = Path(path).absolute()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MCPConfigError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MCPConfigError(f"{file}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MCPConfigError(
            f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    servers = data.get("mcpServers", data.get("servers")) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise MCPConfigError(f'{file}: expected {{"mcpServers": {{"NAME": {{...}}, ...}}}}')
    env = os.environ if environ is None else environ
    configs = []
    for name, entry in servers.items():
        try:
            config = _server_config(name, entry, env, file.parent)
        except _Invalid as exc:
            raise MCPConfigError(f"{file}: server {name!r}: {exc}") from None
        if config is not None:
            configs.append(config)
    return configs


def _server_config(
    name: str, entry: object, environ: Mapping[str, str], base: Path
) -> ServerConfig | None:
    if not name.strip():
        raise _Invalid("the server name is empty")
    if not isinstance(entry, dict):
        raise _Invalid("expected an object with a command or a url")
    if _field(entry, "disabled", bool, False):
        return None
    command = _field(entry, "command", str, "")
    url = _field(entry, "url", str, "")
    stated = _field(entry, "transport", str, "") or _field(entry, "type", str, "")
    if stated.lower() == "sse":
        raise _Invalid("the SSE transport is not supported: use the server's streamable-HTTP url")
    if stated and stated.lower() not in _TRANSPORTS:
        raise _Invalid(f"unknown transport {stated!r}: use stdio or streamable_http")
    if command and url:
        raise _Invalid('has both "command" and "url": give one')
    if not command and not url:
        raise _Invalid(
            'has neither "command" (a local program) nor "url" (a streamable-HTTP server)'
        )
    transport: Transport = "stdio" if command else "streamable_http"
    if stated and _TRANSPORTS[stated.lower()] != transport:
        raise _Invalid(f"transport {stated!r} needs {'a url' if command else 'a command'}")
    timeout = _field(entry, "timeout", (int, float), DEFAULT_CALL_TIMEOUT)
    if not timeout > 0:
        raise _Invalid('"timeout" must be a positive number of seconds')
    allowed = _field(entry, "tools", list, None)
    common: dict[str, Any] = {
        "approve": _field(entry, "approve", bool, True),
        "timeout": float(timeout),
        "tools": None if allowed is None else tuple(_strings(allowed, "tools")),
    }
    if transport == "stdio":
        env = _field(entry, "env", dict, None)
        cwd = _field(entry, "cwd", str, "")
        return ServerConfig(
            name,
            "stdio",
            command=command,
            args=tuple(_strings(_field(entry, "args", list, []), "args")),
            env=None if env is None else _expanded(env, "env", environ),
            cwd=str(base / Path(cwd).expanduser()) if cwd else None,
            **common,
        )
    url = _expand(url, "url", environ)
    if not url.startswith(("http://", "https://")):
        raise _Invalid(f"url {url!r} must start with http:// or https://")
    headers = _expanded(_field(entry, "headers", dict, {}), "headers", environ)
    return ServerConfig(name, "streamable_http", url=url, headers=headers, **common)


def _field(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """``entry[key]`` checked against ``kind`` (a bool is not a number here), or ``default``."""
    value = entry.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = {bool: "true or false", str: "a string", list: "a list", dict: "an object"}
        wanted = names.get(kinds[0], "a number")
        raise _Invalid(f'"{key}" must be {wanted}, not {json.dumps(value)}')
    return value


def _strings(values: list[Any], key: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise _Invalid(f'"{key}" must be a list of strings')
    return values


def _expanded(values: dict[str, Any], key: str, environ: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise _Invalid(f'"{key}.{name}" must be a string, not {json.dumps(value)}')
        out[name] = _expand(value, f"{key}.{name}", environ)
    return out


def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise _Invalid(f"{where} uses ${{{name}}}, which is not set")

    return _VARIABLE.sub(one, value)
