"""Fixtures shared by the end-to-end tests; each module starts its own ``server``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Server, make_speech_wavs


@pytest.fixture(scope="session")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Known speech recordings (see make_speech_wavs)."""
    return make_speech_wavs(tmp_path_factory.mktemp("wavs"))


@pytest.fixture(scope="module")
def account(server: Server) -> dict[str, str]:
    """An API key with SIP enabled on the module's server."""
    return server.new_account("e2e")
