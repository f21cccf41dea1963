"""The Desk's pages and actions (K3 fills this in): :func:`add_routes` is called by the app factory."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from .session import desk_client


async def _inbox(request: web.Request) -> web.StreamResponse:
    desk_client(request)
    return aiohttp_jinja2.render_template("base.html", request, {})


def add_routes(app: web.Application) -> None:
    """Add every page and action route to ``app``."""
    app.router.add_get("/", _inbox)
