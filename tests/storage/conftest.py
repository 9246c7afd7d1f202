"""Fixtures for the storage tests: settings with a temporary data directory, an open store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sipmeet.config import Settings, load_settings
from sipmeet.storage import Store

DOMAIN = "sip.example.com"


def make_settings(data_dir: Path, domain: str = DOMAIN, **env: str) -> Settings:
    environ = {"SIPMEET_DATA_DIR": str(data_dir), "SIPMEET_SIP_DOMAIN": domain}
    environ.update({f"SIPMEET_{k.upper()}": v for k, v in env.items()})
    return load_settings({}, environ, None)


@pytest.fixture
def settings_for() -> Callable[..., Settings]:
    """``settings_for(data_dir, domain=..., master_key=...)``: settings as the server would load."""
    return make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened
