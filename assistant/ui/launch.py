"""``assistant ui``: start the Chainlit server for ``app.py``.

Chainlit reads ``.chainlit/config.toml``, ``chainlit.md`` and ``public/`` from its app root,
taken from ``CHAINLIT_APP_ROOT`` when it imports its config (else the current directory):
the launcher sets it to the repository root before Chainlit is imported, so the UI looks
the same from any working directory. Settings are checked first, so a bad value ends the
start with one line and exit code 2, as in the rest of the CLI; with
``ASSISTANT_DATABASE_URL`` the database is connected to once before Chainlit starts (a
refusal: exit 2; no answer: exit 1; one line either way).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from assistant.settings import SettingsError, load_settings
from assistant.tracing import tracing_config
from assistant.ui import auth

APP_ROOT = Path(__file__).resolve().parents[2]
APP_FILE = Path(__file__).resolve().with_name("app.py")
SECRET_FILE = "auth_secret"
EXIT_ERROR = 1
EXIT_USAGE = 2


def run_ui(host: str, port: int) -> int:
    """Serve the chat UI on ``host:port`` until interrupted; return the exit code."""
    try:
        settings = load_settings()
        users = auth.parse_users(os.environ.get(auth.USERS_ENV))
        tracing_config(os.environ)  # checked here; the server turns tracing on at start-up
    except (SettingsError, auth.UsersError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    if not 0 < port < 65536:
        print(f"error: invalid port {port}: use 1-65535", file=sys.stderr, flush=True)
        return EXIT_USAGE
    if not users and not _is_loopback(host) and not settings.allow_no_auth:
        print(
            f"error: refusing to serve {host} without sign-in: anyone who can reach it would "
            f"use your model key and see your history. Add accounts with "
            f"{auth.USERS_ENV}=name:password,... (or, only behind a proxy that signs people "
            f"in itself, set ASSISTANT_ALLOW_NO_AUTH=1)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_USAGE
    problem = _cannot_listen(host, port)
    if problem:
        print(f"error: cannot listen on {host}:{port}: {problem}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    if settings.postgres_url:
        code = _check_database(settings.postgres_url, settings.db_timeout)
        if code:
            return code
    secret = os.environ.get("CHAINLIT_AUTH_SECRET")
    if not secret:
        secret = auth.ensure_secret(settings.data_dir / SECRET_FILE)
        if settings.postgres_url:
            print(
                f"note: CHAINLIT_AUTH_SECRET is not set, so sign-ins are signed with the secret "
                f"in {settings.data_dir / SECRET_FILE}: every server process sharing the "
                "database needs the same one (set CHAINLIT_AUTH_SECRET)",
                file=sys.stderr,
                flush=True,
            )
    os.environ.update(
        CHAINLIT_APP_ROOT=str(APP_ROOT),
        CHAINLIT_AUTH_SECRET=secret,
        CHAINLIT_HOST=host,
        CHAINLIT_PORT=str(port),
    )
    who = (
        f"sign in as one of: {', '.join(users)}"
        if users
        else f"signed in automatically as '{auth.LOCAL_USER}'"
    )
    print(f"Assistant UI on http://{_shown(host)}:{port} ({who})", file=sys.stderr, flush=True)
    if not users and not _is_loopback(host):
        print(
            f"warning: {host} is reachable from other machines and there is no sign-in "
            "(ASSISTANT_ALLOW_NO_AUTH is set): your proxy must sign people in",
            file=sys.stderr,
            flush=True,
        )
    serve(host, port, settings.allowed_origins)
    return 0


def serve(host: str, port: int, allowed_origins: Sequence[str]) -> None:
    """Chainlit's ``run_chainlit`` without importing ``chainlit.cli``: that module applies
    ``nest_asyncio`` when it is imported, which swaps asyncio's C tasks and futures for the
    pure-Python ones and the loop's step for a slower copy, for every coroutine of the
    server. Its re-entrance is needed only by chat profiles, which this app has none of.
    Chainlit's other environment variables (``CHAINLIT_ROOT_PATH``, ``CHAINLIT_SSL_*``,
    ``UVICORN_WS_*``) keep their meaning."""
    # Imported only now: Chainlit reads CHAINLIT_APP_ROOT when its config module loads.
    import asyncio

    import uvicorn
    from chainlit.auth import ensure_jwt_secret
    from chainlit.config import DEFAULT_ROOT_PATH, config, load_module
    from chainlit.markdown import init_markdown

    logging.basicConfig(  # as Chainlit's command line does
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    config.run.headless = True
    config.run.host, config.run.port = host, port
    config.run.root_path = os.environ.get("CHAINLIT_ROOT_PATH", DEFAULT_ROOT_PATH)
    # Cross-origin calls only from the origins the operator lists (the app's own pages
    # are same-origin); read when Chainlit's server module is imported, just below.
    config.project.allow_origins = list(allowed_origins)
    from chainlit.server import app

    config.run.module_name = str(APP_FILE)
    load_module(config.run.module_name)
    ensure_jwt_secret()
    init_markdown(config.root)
    deflate = os.environ.get("UVICORN_WS_PER_MESSAGE_DEFLATE", "true").lower()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            ws=os.environ.get("UVICORN_WS_PROTOCOL", "auto"),
            log_level="error",
            ws_per_message_deflate=deflate in {"true", "1", "yes"},
            ssl_keyfile=os.environ.get("CHAINLIT_SSL_KEY"),
            ssl_certfile=os.environ.get("CHAINLIT_SSL_CERT"),
        )
    )
    try:  # libuv's event loop: the same asyncio API, about 5 % less of a turn's CPU
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        asyncio.run(server.serve())
    else:
        uvloop.run(server.serve())


def exit_at_start(exc: Exception) -> NoReturn:
    """End the server process during start-up with one line (no traceback) and the exit
    code the command line would give. Chainlit only logs what its start-up hook raises and
    serves on, and uvicorn prints a lifespan failure with its traceback: hence ``_exit``."""
    from assistant.errors import ConfigurationError, describe

    print(f"error: {describe(exc)}", file=sys.stderr, flush=True)
    os._exit(EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_ERROR)


def _check_database(url: str, timeout: float) -> int:
    """Connect to the PostgreSQL database once; print one line and return an exit code if
    that fails (2: the URL or the account is wrong; 1: nothing answers)."""
    from assistant.storage.postgres import DatabaseRefused, DatabaseUnreachable, check_connection

    try:
        check_connection(url, timeout)
    except DatabaseRefused as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except DatabaseUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return 0


def _cannot_listen(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (checked as uvicorn binds), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return str(exc.strerror or exc)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return str(exc.strerror or exc).lower()
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
