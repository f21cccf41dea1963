"""Docs are checked: every public name of the core packages has a docstring (sqlite-utils' test_docs habit)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import confide.keys
import confide.protocol

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", [confide.protocol, confide.keys], ids=lambda m: m.__name__)
def test_every_public_name_is_documented(package: object) -> None:
    missing = []
    for name in package.__all__:  # type: ignore[attr-defined]
        obj = getattr(package, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not inspect.isfunction(member):
                    continue
                if not (member.__doc__ or "").strip() and attr not in {"to_bytes", "write"}:
                    missing.append(f"{name}.{attr}")
    assert not missing, f"public names without a docstring: {missing}"


def test_spec_names_every_kdf_label() -> None:
    from confide.protocol import kdf

    spec = (ROOT / "protocol" / "SPEC.md").read_text()
    labels = [v for k, v in vars(kdf).items() if k.startswith("LABEL_")]
    assert labels
    for label in labels:
        assert label.decode() in spec, f"{label!r} is not in SPEC.md"
