"""The distribution maps the repository folders to ``confide.*`` in editable installs and in wheels alike."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "keys", "client", "server")


def test_editable_install_maps_folders() -> None:
    import confide.client
    import confide.keys
    import confide.protocol
    import confide.server

    for name, module in zip(PACKAGES, (confide.protocol, confide.keys, confide.client, confide.server), strict=True):
        assert Path(module.__file__ or "").resolve().parent == ROOT / name


@pytest.mark.slow
def test_wheel_contains_namespaced_packages_and_imports(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("confide-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in PACKAGES:
        assert f"confide/{pkg}/__init__.py" in names
        assert f"confide/{pkg}/py.typed" in names
        assert not any(n.startswith(f"{pkg}/") for n in names), "a generic top-level name was squatted"
    assert "confide/protocol/SPEC.md" in names
    # every source file of every package, subpackages included (a subpackage missing from pyproject's
    # explicit package list would be silently left out of the wheel)
    sources = {f"confide/{p.relative_to(ROOT).as_posix()}" for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    assert sources - names == set()
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "confide = confide.client.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # import from the unpacked wheel alone (-S: no site hooks, so the editable install cannot answer)
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    deps = sysconfig.get_paths()["purelib"]
    code = "import confide.protocol, confide.keys, confide.server, confide.client.cli; print(confide.protocol.__file__)"
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{target}:{deps}"},
    ).stdout
    assert out.startswith(str(target))
