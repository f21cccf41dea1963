"""The Desk's pages, actions and live stream on the application's router (``create_desk_app`` calls
:func:`add_routes`; login, lock, unlock, panic and static files are the server's own)."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from . import actions, devices, live, pages
from .present import FILTERS, GLOBALS

ADDRESS = r"{address:[^/]+}"
"""A thread's contact address as one path segment."""

MESSAGE_ID = r"{message_id:[0-9a-f]{1,64}}"
"""A message id: hex, as the library gives it."""


def add_routes(app: web.Application) -> None:
    """Add the pages, actions and ``/events`` to ``app``, its live hub, and the templates' filters (call after
    ``aiohttp_jinja2.setup`` and after the security headers' ``on_response_prepare``, which downloads extend)."""
    env = aiohttp_jinja2.get_env(app)
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    app[live.LIVE_HUB] = live.LiveHub()
    app.on_shutdown.append(live.close_hub)
    app.on_response_prepare.append(actions.sandbox_downloads)

    r = app.router
    r.add_get("/", pages.inbox, name="inbox")
    r.add_get("/inbox/list", pages.inbox_fragment)
    r.add_get("/search", pages.search)
    r.add_get("/settings", pages.settings)
    r.add_get("/devices", devices.devices)
    r.add_post("/devices/remove", devices.remove_device)
    r.add_post("/devices/rename", devices.rename_device)
    r.add_post("/devices/approve", devices.approve_device)
    r.add_post("/settings", actions.save_settings)
    r.add_get("/events", live.events)
    r.add_get(f"/t/{ADDRESS}", pages.thread)
    r.add_get(f"/t/{ADDRESS}/messages", pages.thread_fragment)
    r.add_get(f"/t/{ADDRESS}/safety", pages.safety)
    r.add_get(f"/t/{ADDRESS}/safety.png", pages.safety_qr)
    r.add_get(f"/t/{ADDRESS}/files/{MESSAGE_ID}", actions.download)
    r.add_post(f"/t/{ADDRESS}/send", actions.send_text)
    r.add_post(f"/t/{ADDRESS}/upload", actions.upload)
    r.add_post(f"/t/{ADDRESS}/delete", actions.delete_for_everyone)
    r.add_post(f"/t/{ADDRESS}/timer", actions.set_timer)
    r.add_post(f"/t/{ADDRESS}/verify", actions.verify)
    r.add_post(f"/t/{ADDRESS}/export", actions.export)
    r.add_post(f"/t/{ADDRESS}/read", actions.mark_read)
    r.add_post(f"/t/{ADDRESS}/retry", actions.retry)
    r.add_post(f"/t/{ADDRESS}/accept", actions.accept_contact)
    r.add_post(f"/t/{ADDRESS}/rename", actions.rename_contact)
    r.add_post(f"/t/{ADDRESS}/identity/accept", actions.accept_identity)
    r.add_post(f"/t/{ADDRESS}/identity/reject", actions.reject_identity)
    r.add_post(f"/t/{ADDRESS}/block", actions.block)
    r.add_post(f"/t/{ADDRESS}/unblock", actions.unblock)
    r.add_post(f"/t/{ADDRESS}/report", actions.report)
