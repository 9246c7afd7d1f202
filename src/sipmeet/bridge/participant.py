"""A phone leg as a room participant: its media leg plus its RTP sockets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..media.leg import SipLegMedia
from ..media.player import PromptPlayer
from ..net.rtp_channel import RtpChannel
from ..rooms.events import ParticipantKind
from ..rtp.dtmf import DtmfDigit
from .identity import CallerIdentity

__all__ = ["SipParticipant"]


class SipParticipant:
    """Implements :class:`sipmeet.rooms.room.Participant` for one SIP call."""

    kind: ParticipantKind = "sip"

    def __init__(
        self,
        participant_id: str,
        identity: CallerIdentity,
        leg: SipLegMedia,
        channel: RtpChannel,
        on_dtmf: Callable[[DtmfDigit], None],
    ) -> None:
        self.participant_id = participant_id
        self.identity = identity
        self.display_name = identity.display_name
        self.masked_number = identity.masked_number
        self.leg = leg
        self.channel = channel
        self.muted = False
        self.hand_raised = False
        self.player = PromptPlayer()  # prompts and tones for this caller alone
        self._on_dtmf = on_dtmf
        self._room_rate_hz = 8000

    @property
    def rate_hz(self) -> int:
        return self.leg.codec_rate_hz

    def set_room_rate(self, rate_hz: int) -> None:
        self.leg.room_rate_hz = rate_hz
        self._room_rate_hz = rate_hz

    def pull_frame(self, now: float) -> np.ndarray | None:
        return self.leg.pull(now)

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        leg = self.leg
        if not leg.sending:
            return  # on hold: nothing to send, and nothing worth encoding
        if self.player.playing:
            frame = self.player.render(frame, self._room_rate_hz)
        for packet in leg.push(frame):
            self.channel.send_rtp(packet, leg.remote_rtp)

    # -- socket callbacks -----------------------------------------------------------

    def on_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        for digit in self.leg.receive(data, addr, now):
            self._on_dtmf(digit)

    def on_rtcp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.leg.receive_rtcp(data, addr, now)

    def send_rtcp(self, now: float, cname: str) -> None:
        leg = self.leg
        target = leg.remote_rtp if leg.negotiated.rtcp_mux else leg.remote_rtcp
        if target is None or target[1] == 0:
            return
        self.channel.send_rtcp(leg.rtcp_report(now, cname), target, mux=leg.negotiated.rtcp_mux)
