"""A small MCP server over stdio for the MCP tests, built on the ``mcp`` SDK's FastMCP.

Run by path: ``python fakes/mcp_stdio_server.py [--label L] [--log FILE] [--exit MSG] [--hang]``.
``--log`` appends ``started PID`` to FILE at each start; ``--exit`` prints MSG to stderr and
exits at once; ``--hang`` never answers the handshake. Tools: ``echo``, ``big``, ``hang``,
``crash``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from mcp.server.fastmcp import FastMCP


def main() -> None:
    """Parse the options and serve over stdio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="fake")
    parser.add_argument("--log")
    parser.add_argument("--exit")
    parser.add_argument("--hang", action="store_true")
    options = parser.parse_args()
    if options.log:
        with open(options.log, "a", encoding="utf-8") as log:
            log.write(f"started {os.getpid()}\n")
    if options.exit:
        sys.exit(options.exit)
    if options.hang:
        time.sleep(3600)

    server = FastMCP(options.label)

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text, prefixed with the server's label."""
        return f"{options.label}: {text}"

    @server.tool()
    def big(size: int) -> str:
        """Return ``size`` characters."""
        return "x" * size

    @server.tool()
    async def hang() -> str:
        """Never answer."""
        await asyncio.sleep(3600)
        return ""

    @server.tool()
    def crash() -> str:
        """Exit the whole server while answering."""
        print("crashing on purpose", file=sys.stderr, flush=True)
        os._exit(3)

    server.run()


if __name__ == "__main__":
    main()
