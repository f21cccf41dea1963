"""The floors of ../shared/ARCHITECTURE.md hold: who may import whom, and protocol/ stays sans-I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(folder: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        out[path.name] = names
    return out


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("keys", ("confide.protocol", "confide.client", "confide.server", "aiohttp", "sqlite3", "sqlite_utils",
                  "asyncio")),
        ("protocol", ("confide.client", "confide.server", "aiohttp", "sqlite3", "sqlite_utils", "asyncio", "time",
                      "os", "secrets", "random")),
        ("server", ("confide.client", "confide.protocol.ratchet", "confide.protocol.session",
                    "confide.protocol.sealed", "confide.protocol.content", "confide.protocol.pqxdh",
                    "confide.keys.keystore", "confide.keys.secret_keys")),
    ],
)
def test_floor_imports(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{name}: {mod}"
        for name, mods in _imports(folder).items()
        for mod in mods
        if any(mod == f or mod.startswith(f + ".") for f in forbidden)
    ]
    assert not bad, f"{folder}/ imports what its floor forbids: {bad}"


def test_client_imports_server_only_lazily() -> None:
    for path in sorted((ROOT / "client").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: function-level (lazy) imports for `serve`/`demo` are fine
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("confide.server"):
                pytest.fail(f"client/{path.name} imports the relay at module level")
            if isinstance(node, ast.Import) and any(a.name.startswith("confide.server") for a in node.names):
                pytest.fail(f"client/{path.name} imports the relay at module level")
