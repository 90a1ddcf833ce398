"""The supervising agent, built from small parts (see ``graph.py``)."""

from assistant.agent.graph import build_supervisor

__all__ = ["build_supervisor"]
