"""Device-authentication headers holding non-ASCII text: refused as unauthorized (401), never a relay fault.

``str.isdigit`` is true for superscripts and other Unicode digits that ``int`` cannot read (``"²"``), so a
timestamp of them once made the header parser raise ValueError and the relay answer 500.
"""

from __future__ import annotations

import pytest

from confide.protocol.auth import H_TIMESTAMP

from .conftest import Api, make_user


@pytest.mark.parametrize("timestamp", ["\u00b2", "17000000\u00b9\u00b2", "\u0661\u0667\u0660\u0660"])
async def test_a_timestamp_of_unicode_digits_is_unauthorized(api: Api, timestamp: str) -> None:
    user = make_user()
    assert (await api.register(user))[0] == 201
    headers = api.sign(user.device, "GET", "/v1/messages")
    headers[H_TIMESTAMP] = timestamp
    status, body = await api.call("GET", "/v1/messages", headers=headers)
    assert (status, body["error"]) == (401, "unauthorized")
