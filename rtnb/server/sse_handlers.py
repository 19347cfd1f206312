"""Server-Sent Events endpoints of the in-kernel server (filled in by the SSE work)."""

from __future__ import annotations

from aiohttp import web

from .config import Endpoint, ServerConfig

__all__ = ["setup"]


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the SSE routes."""
