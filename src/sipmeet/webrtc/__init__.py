"""sipmeet.webrtc: browsers in rooms over WebRTC (aiortc), signalling and the meeting page."""

from .ice import (
    allow_remote_addresses,
    announce_addresses,
    announce_sdp,
    filter_remote_sdp,
    host_addresses,
    media_port_range,
    new_peer_connection,
    remote_candidate_allowed,
    restrict_host_addresses,
)
from .participant import WebRtcParticipant
from .routes import PhoneControl, RoomStore, WebRtcContext, create_router
from .session import BrowserSession, SignalSender
from .sfu import PublicationListener, RoomSfu
from .tap import (
    EncodedFrame,
    TapError,
    cap_receiver_estimates,
    check_aiortc,
    harden_header_parsing,
    on_bitrate_estimate,
    on_keyframe_request,
    request_keyframe,
    send_bitrate_cap,
    tap_receiver,
    tapped_frames,
    write_audio_level,
)
from .tracks import ForwardedTrack, Publication
from .turn import ice_servers, turn_credentials

__all__ = [
    "BrowserSession",
    "EncodedFrame",
    "ForwardedTrack",
    "PhoneControl",
    "Publication",
    "PublicationListener",
    "RoomSfu",
    "RoomStore",
    "SignalSender",
    "TapError",
    "WebRtcContext",
    "WebRtcParticipant",
    "allow_remote_addresses",
    "announce_addresses",
    "announce_sdp",
    "cap_receiver_estimates",
    "check_aiortc",
    "create_router",
    "filter_remote_sdp",
    "harden_header_parsing",
    "host_addresses",
    "ice_servers",
    "media_port_range",
    "new_peer_connection",
    "on_bitrate_estimate",
    "on_keyframe_request",
    "remote_candidate_allowed",
    "request_keyframe",
    "restrict_host_addresses",
    "send_bitrate_cap",
    "tap_receiver",
    "tapped_frames",
    "turn_credentials",
    "write_audio_level",
]
