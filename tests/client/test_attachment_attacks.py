"""Attacks on attachments (issue 8, point 13): an oversized blob behind a small pointer, and the blob that
delete-for-everyone used to leave on the relay."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import aiohttp
import pytest

from confide.client import AttachmentError, MessageReceived
from confide.protocol.attachment import expected_blob_size, new_attachment_key
from confide.protocol.content import AttachmentPointer, Content, new_message_id

from .conftest import MakeClient, introduce
from .proxy import CuttingProxy

OVERSIZED = 20 * 1024 * 1024
"""A blob far larger than its pointer announces: a receiver must stop reading long before its end."""


async def test_a_blob_larger_than_its_pointer_is_not_downloaded(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    b.auto_download = False
    await a.start_thread("b")
    # A hostile sender (or relay) puts 20 MiB behind a pointer that announces a 10-byte file.
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(OVERSIZED))
    digest = hashlib.sha256(junk.read_bytes()).digest()
    blob_id = await a._relay.upload_blob(junk, digest.hex(), 0)
    pointer = AttachmentPointer(blob_id, new_attachment_key(os.urandom), digest, 10, "tiny.txt", "text/plain", "")
    a._messaging.queue(a._contacts.find("b"), Content(new_message_id(os.urandom), 1, 0, pointer), None)
    await a.flush_outbox()
    [received] = [e.message for e in await b.sync() if isinstance(e, MessageReceived)]

    proxy = CuttingProxy(relay_url)
    async with proxy.running() as proxy_url:
        b._relay.base_url = proxy_url
        with pytest.raises(AttachmentError, match="more bytes than this attachment can have"):
            await b.download_attachment(received.message_id)
    assert ("GET", f"/v1/blobs/{blob_id}") in proxy.requests
    # It stopped after the expected size plus what was already in flight, not after 20 MiB.
    assert proxy.streamed_bytes < expected_blob_size(10) + 4 * 1024 * 1024
    assert list((b.profile_dir / "tmp").iterdir()) == []
    assert list((b.profile_dir / "attachments").iterdir()) == []


async def test_delete_for_everyone_deletes_the_blob_on_the_relay(
    make_client: MakeClient, relay_url: str, tmp_path: Path
) -> None:
    a = await make_client("alice")
    b = await make_client("bob")
    await introduce(a, b)
    b.auto_download = False
    source = tmp_path / "diary.txt"
    source.write_bytes(b"what I could not say in session" * 100)
    sent = await a.send_file("b", source)
    [received] = [e.message for e in await b.sync() if isinstance(e, MessageReceived)]
    blob_id = b._store.find_message(received.message_id).attachment.blob_id  # type: ignore[union-attr]

    await a.delete_for_everyone("b", sent.message_id)
    async with aiohttp.ClientSession() as http, http.get(f"{relay_url}/v1/blobs/{blob_id}") as resp:
        assert resp.status == 404  # gone from the relay, not left until it expires
