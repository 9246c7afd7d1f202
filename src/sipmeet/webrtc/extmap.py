"""Keep RTP header extension ids stable across renegotiations (RFC 8285 §6).

aiortc numbers the extensions of every offer it creates from its own table, but the
browser made the first offer with its own numbering, and a BUNDLE group may not
change which id means which extension. The server's later offers are rewritten to
the ids already in use before aiortc (and the browser) see them.
"""

from __future__ import annotations

import re

__all__ = ["ExtmapIds"]

_EXTMAP = re.compile(r"^a=extmap:(\d+)(/[a-z]+)? (\S+)(.*)$")
_MAX_ONE_BYTE_ID = 14


class ExtmapIds:
    """The extension id of each URI in one peer connection's BUNDLE."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def learn(self, sdp: str) -> None:
        """Take the ids the remote side uses (from its offer or answer)."""
        for line in sdp.splitlines():
            match = _EXTMAP.match(line)
            if match is not None:
                self.ids.setdefault(match.group(3), int(match.group(1)))

    def rewrite(self, sdp: str) -> str:
        """``sdp`` (our offer) with every extension renumbered to the ids in use."""
        lines = sdp.split("\r\n")
        for i, line in enumerate(lines):
            match = _EXTMAP.match(line)
            if match is None:
                continue
            uri = match.group(3)
            ext_id = self.ids.get(uri)
            if ext_id is None:
                ext_id = self._free_id()
                if ext_id is None:
                    continue
                self.ids[uri] = ext_id
            lines[i] = f"a=extmap:{ext_id}{match.group(2) or ''} {uri}{match.group(4)}"
        return "\r\n".join(lines)

    def _free_id(self) -> int | None:
        used = set(self.ids.values())
        return next((n for n in range(1, _MAX_ONE_BYTE_ID + 1) if n not in used), None)
