"""A server bound to every interface (`sip.host = 0.0.0.0`) announces a reachable address.

Contact, Via and the SDP ``c=`` line must carry ``sip.public_address``, never the
wildcard it is bound to (``c=IN IP4 0.0.0.0`` would even mean "on hold"). SIPp's
message trace shows what the server wrote; the call record shows the RTP SIPp sent to the
announced address arrived. Traffic stays on 127.0.0.1: that is the announced address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import HOST, Server, call_room, running_server, sipp_workdir
from .store_view import ended_calls

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"SIPMEET_SIP_HOST": "0.0.0.0", "SIPMEET_SIP_PUBLIC_ADDRESS": HOST}
    with running_server(tmp_path_factory.mktemp("wildcard-server"), env) as srv:
        yield srv


def test_wildcard_bound_server_announces_its_public_address(
    server: Server, account: dict[str, str], wavs: dict[str, Path], tmp_path: Path
) -> None:
    workdir = sipp_workdir(tmp_path, wavs)
    trace = workdir / "messages.log"
    extra = ["-d", "2000", "-trace_msg", "-message_file", str(trace)]
    room = call_room(server, account, "call_auth.xml", workdir, extra=extra)
    messages = trace.read_text(errors="replace")
    answer = messages[messages.index("SIP/2.0 200 OK") :]
    assert re.search(rf"^Contact: <sip:{re.escape(HOST)}:{server.sip_port}>", answer, re.M)
    assert f"c=IN IP4 {HOST}" in answer
    assert "0.0.0.0" not in messages.split("SIP/2.0 401", 1)[1]  # nothing we wrote has it
    (call,) = ended_calls(server.data_dir, room)
    stats = call["stats"]
    assert isinstance(stats, dict) and int(stats["packets_in"]) >= 50, stats
    assert call["reason"] == "caller-hangup"
    log = server.log_text()
    assert f"SIP 0.0.0.0:{server.sip_port} (announced as {HOST})" in log
