"""Health and the OpenAPI document."""

from __future__ import annotations

from importlib import metadata

from aiohttp import web

from .openapi import openapi_document
from .state import RELAY

routes = web.RouteTableDef()


def relay_version() -> str:
    """The installed package version."""
    try:
        return metadata.version("confide")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


@routes.get("/v1/health")
async def health(request: web.Request) -> web.Response:
    """Liveness; says nothing about what is stored."""
    return web.json_response({"status": "ok", "version": relay_version()})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 document of every endpoint, with this relay's attachment cap."""
    config = request.app[RELAY].config
    return web.json_response(openapi_document(relay_version(), max_blob_bytes=config.max_blob_bytes))
