"""The protocol cores stay sans-IO: they import no sockets, clocks, randomness or frameworks."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import sipmeet

SANS_IO = ["sip", "sdp", "rtp", "codecs"]
FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "random",
    "sqlalchemy",
    "fastapi",
    "aiortc",
    "ssl",
    "selectors",
}
SRC = Path(sipmeet.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", SANS_IO)
def test_sans_io_packages_import_no_io(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def _all_packages() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(sipmeet.__path__, "sipmeet.") if m.ispkg]


@pytest.mark.parametrize("name", _all_packages())
def test_dunder_all_is_importable(name: str) -> None:
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", []):
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which is missing"
