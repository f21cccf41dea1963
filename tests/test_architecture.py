"""The floors and seams of docs/ARCHITECTURE.md hold: who may import whom, protocol/ stays sans-I/O, the
client is a facade over services (no mixins, no import cycles, nobody reaching into another object's private
attributes), front ends use only the public ``confide.client`` names, and the relay picks its backend
implementations in one place.

Every rule walks each package's whole tree (subpackages included), so a new subfolder cannot slip past.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "keys", "client", "server")


@dataclass(frozen=True)
class Import:
    """One import statement: the absolute module it names, whether it sits at module level, its line."""

    module: str
    top_level: bool
    line: int


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["confide", *parts])


def _files(folder: str) -> list[Path]:
    found = sorted((ROOT / folder).rglob("*.py"))
    assert found, f"{folder}/ has no Python files: the rule below would check nothing"
    return found


def _resolve(path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute module names an ``import from`` names (``from . import x`` names the submodule x)."""
    if node.level == 0:
        assert node.module is not None
        return [node.module]
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, alias.name]) for alias in node.names]


def _imports(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, id(node) in top, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            for module in _resolve(path, node):
                yield Import(module, id(node) in top, node.lineno)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_walk_sees_subpackages() -> None:
    assert (ROOT / "client" / "cli" / "render.py") in _files("client")


# -- floors ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        (
            "keys",
            ("confide.protocol", "confide.client", "confide.server", "aiohttp", "sqlite3", "sqlite_utils", "asyncio"),
        ),
        (
            "protocol",
            (
                "confide.client",
                "confide.server",
                "aiohttp",
                "sqlite3",
                "sqlite_utils",
                "asyncio",
                "time",
                "os",
                "secrets",
                "random",
            ),
        ),
        (
            "server",
            (
                "confide.client",
                "confide.protocol.ratchet",
                "confide.protocol.session",
                "confide.protocol.sealed",
                "confide.protocol.content",
                "confide.protocol.pqxdh",
                "confide.keys.keystore",
                "confide.keys.secret_keys",
            ),
        ),
    ],
)
def test_floor_imports(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{_rel(path)}:{imp.line}: {imp.module}"
        for path in _files(folder)
        for imp in _imports(path)
        if any(imp.module == f or imp.module.startswith(f + ".") for f in forbidden)
    ]
    assert bad == [], f"{folder}/ imports what its floor forbids"


def test_client_imports_the_relay_only_lazily_and_only_in_front_ends() -> None:
    """The library never imports the relay; ``confide serve``, ``confide demo`` and ``confide desk --demo``
    import it inside a function."""
    allowed = {ROOT / "client" / "demo.py", ROOT / "client" / "cli" / "serve.py", ROOT / "client" / "cli" / "desk.py"}
    bad = []
    for path in _files("client"):
        for imp in _imports(path):
            server = imp.module == "confide.server" or imp.module.startswith("confide.server.")
            if server and (imp.top_level or path not in allowed):
                bad.append(f"{_rel(path)}:{imp.line}: {imp.module}")
    assert bad == []


# -- the client: a facade over services ---------------------------------------------------------------
FRONT_ENDS = ("client/cli", "client/desk")
"""Folders of front ends: the ``confide`` command and the Desk web app."""


def _library_files() -> list[Path]:
    return [p for p in _files("client") if not any(p.is_relative_to(ROOT / f) for f in FRONT_ENDS)]


def _client_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _files("client"):
        name = _module_name(path)
        graph[name] = {
            imp.module for imp in _imports(path) if imp.module.startswith("confide.client") and imp.module != name
        }
    return graph


def test_client_has_no_import_cycles() -> None:
    """Not even through ``if TYPE_CHECKING:`` imports: a component gets its collaborators, it does not
    import its owner."""
    graph = _client_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue  # a package name that re-exports (confide.client) is checked as its __init__
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # The package __init__ re-exports everything and is imported by front ends only; cycles through it
    # would show here too.
    assert cycles == []


def test_client_library_modules_never_import_the_package_facade_or_front_ends() -> None:
    """Services import each other's modules, never ``confide.client`` itself (the facade) or a front end."""
    bad = []
    for path in _library_files():
        if path.name == "__init__.py" and path.parent == ROOT / "client":
            continue
        for imp in _imports(path):
            if imp.module in ("confide.client", "confide.client.client") and path.name != "demo.py":
                bad.append(f"{_rel(path)}:{imp.line}: {imp.module}")
            if any(
                imp.module == "confide." + f.replace("/", ".")
                or imp.module.startswith("confide." + f.replace("/", ".") + ".")
                for f in FRONT_ENDS
            ):
                bad.append(f"{_rel(path)}:{imp.line}: {imp.module}")
    assert bad == []


def test_no_mixins_in_the_client() -> None:
    """Composition, not inheritance: no client class derives from another client class, except the error
    hierarchy and the value enums."""
    bad = []
    for path in _files("client"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for base in node.bases:
                name = ast.unparse(base)
                if name in ("Exception", "StrEnum", "Protocol", "argparse.Action") or name.endswith("Error"):
                    continue
                if node.name.endswith(("Error", "Unreachable", "Exists", "Failed")) or name.startswith("_"):
                    continue
                bad.append(f"{_rel(path)}:{node.lineno}: class {node.name}({name})")
    assert bad == []


def _own_private_names(cls: ast.ClassDef) -> set[str]:
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("_"):
            names.add(node.name)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr.startswith("_")
        ):
            names.add(node.attr)
    return names


def _foreign_private_accesses(tree: ast.AST, own: set[str]) -> Iterator[ast.Attribute]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            yield from _foreign_private_accesses(node, _own_private_names(node))
            continue
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            value = node.value
            if not (isinstance(value, ast.Name) and value.id in ("self", "cls")) and node.attr not in own:
                yield node
        yield from _foreign_private_accesses(node, own)


@pytest.mark.parametrize("folder", PACKAGES)
def test_no_object_reaches_into_another_objects_private_attributes(folder: str) -> None:
    """``other._x`` is allowed only where ``_x`` belongs to the class doing the access (as in ``__eq__``)."""
    bad = [
        f"{_rel(path)}:{node.lineno}: {ast.unparse(node)}"
        for path in _files(folder)
        for node in _foreign_private_accesses(ast.parse(path.read_text()), set())
    ]
    assert bad == []


def test_client_is_a_facade_with_no_base_class() -> None:
    tree = ast.parse((ROOT / "client" / "client.py").read_text())
    [client] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client"]
    assert client.bases == []


# -- front ends ---------------------------------------------------------------------------------------
FRONT_END_PUBLIC = ("confide.client", "confide.client.export")
"""What a front end may import from Confide: the public names, and the one serializer."""

FRONT_END_LAZY = {
    "client/cli/serve.py": ("confide.server.cli",),
    "client/cli/demo.py": ("confide.client.demo",),
    "client/cli/desk.py": ("confide.client.desk", "confide.server"),
}
"""The commands that start something else, imported inside their function only."""

FRONT_END_LIBRARIES = {"client/desk": ("aiohttp", "aiohttp_jinja2", "jinja2", "multidict", "yarl")}
"""Third-party libraries a front end may import besides Confide's public names: the Desk's web server and
templates."""


def test_front_ends_import_only_public_names() -> None:
    stdlib = sys.stdlib_module_names
    bad = []
    for folder in FRONT_ENDS:
        for path in _files(folder):
            package = ".".join(["confide", *folder.split("/")])
            for imp in _imports(path):
                root = imp.module.split(".")[0]
                if root in stdlib or imp.module == "__future__" or root in FRONT_END_LIBRARIES.get(folder, ()):
                    continue
                if imp.module in FRONT_END_PUBLIC or imp.module == package or imp.module.startswith(package + "."):
                    continue
                if not imp.top_level and imp.module in FRONT_END_LAZY.get(_rel(path), ()):
                    continue
                bad.append(f"{_rel(path)}:{imp.line}: {imp.module}")
    assert bad == []


PEER_TEXT_ATTRIBUTES = frozenset({"text", "caption", "peer", "failure", "attachment", "mime", "name"})
"""Fields of library objects that a peer (or the relay) chose: only ``render`` (and the JSON serializer)
may read them in a front end."""


def test_only_render_touches_peer_supplied_text() -> None:
    """``render`` is the one place that turns what a peer wrote (message text, captions, names, file names,
    the relay's refusal reason) into terminal text, escaping it; every other CLI module hands library
    objects to ``render`` or to ``confide.client.export`` and prints what they return. ``x.name`` counts
    unless ``x`` is the own profile (``client``) or a local path."""
    bad = []
    for path in _files("client/cli"):
        if path.name == "render.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and node.attr in PEER_TEXT_ATTRIBUTES):
                continue
            owner = ast.unparse(node.value)
            if node.attr == "name" and (owner == "client" or owner in ("out", "path", "qr", "dest")):
                continue
            if owner.startswith("args"):
                continue  # the user's own command line
            if node.attr == "text" and owner.endswith(".address"):
                continue  # an address's checked text form (cf1-...), not something a peer chose
            bad.append(f"{_rel(path)}:{node.lineno}: {ast.unparse(node)}")
    assert bad == []


# -- the relay: seams ---------------------------------------------------------------------------------
SERVER_IMPLEMENTATIONS = (
    "confide.server.db",
    "confide.server.writer",
    "confide.server.migrations",
    "confide.server.blob_files",
    "confide.server.inprocess",
    "confide.server.pg_store",
    "confide.server.pg_migrations",
    "confide.server.pg_limits",
    "confide.server.pg_reservations",
    "confide.server.nats_notifier",
    "confide.server.shared_blobs",
)
"""Concrete backends: SQLite, blob files, in-process push/limits, PostgreSQL, NATS push, shared blob files. Only
backends.py picks them."""

SERVER_PICKERS = {
    "server/backends.py",
    "server/__init__.py",
    "server/db.py",
    "server/pg_store.py",
    "server/pg_migrations.py",
    "server/pg_limits.py",
    "server/pg_reservations.py",
    "server/shared_blobs.py",
}
"""``backends.py`` builds the embedded and networked backends; ``__init__`` re-exports; each store uses its own
migrations (and the SQLite store its writer), as do the shared counters (``pg_limits``: their pool migrates) and the
upload reservations on that pool (``pg_reservations``); the shared blob files are the blob files with another
start."""


def test_only_the_backend_module_names_implementations() -> None:
    bad = [
        f"{_rel(path)}:{imp.line}: {imp.module}"
        for path in _files("server")
        if _rel(path) not in SERVER_PICKERS
        for imp in _imports(path)
        if imp.module in SERVER_IMPLEMENTATIONS
    ]
    assert bad == []


def test_route_modules_import_neither_each_other_nor_storage_implementations() -> None:
    bad = []
    for path in _files("server"):
        if not path.name.startswith("routes_"):
            continue
        for imp in _imports(path):
            last = imp.module.rsplit(".", 1)[-1]
            if imp.module.startswith("confide.server.") and (
                last.startswith("routes_") or imp.module in SERVER_IMPLEMENTATIONS
            ):
                bad.append(f"{_rel(path)}:{imp.line}: {imp.module}")
    assert bad == []


def test_no_isinstance_on_a_concrete_backend() -> None:
    concrete = {
        "SqliteStore",
        "BlobFiles",
        "InProcessNotifier",
        "NonceCache",
        "TokenBucketLimiter",
        "HourlyBudget",
        "InProcessSequence",
        "PostgresStore",
        "PgRateLimiter",
        "PgBudget",
        "PgReplayCache",
        "PgReservations",
        "InProcessReservations",
    }
    bad = []
    for path in _files("server"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if names & concrete:
                    bad.append(f"{_rel(path)}:{node.lineno}: {ast.unparse(node)}")
    assert bad == []


def test_only_the_app_factory_uses_the_backend_module() -> None:
    """``create_app`` (and the package face) pick the embedded backend; nothing else builds one."""
    allowed = {"server/app.py", "server/__init__.py"}
    bad = [
        f"{_rel(path)}:{imp.line}: {imp.module}"
        for path in _files("server")
        if _rel(path) not in allowed
        for imp in _imports(path)
        if imp.module == "confide.server.backends"
    ]
    assert bad == []


def test_only_the_sqlite_modules_speak_sqlite() -> None:
    allowed = {"server/db.py", "server/writer.py", "server/migrations.py"}
    bad = [
        f"{_rel(path)}:{imp.line}: {imp.module}"
        for path in _files("server")
        if _rel(path) not in allowed
        for imp in _imports(path)
        if imp.module.split(".")[0] in ("sqlite3", "sqlite_utils")
    ]
    assert bad == []
