from __future__ import annotations

import pytest

from .parties import Party


@pytest.fixture
def alice() -> Party:
    return Party.create()


@pytest.fixture
def bob() -> Party:
    return Party.create()
