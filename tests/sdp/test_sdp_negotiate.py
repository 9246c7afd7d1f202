"""RFC 3264 offer/answer: codec choice, refused streams, hold, rtcp-mux, ptime, our offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipmeet.sdp import (
    Codec,
    NegotiatedAudio,
    NoCommonCodec,
    SdpParseError,
    SessionDescription,
    accept_answer,
    answer_offer,
    build_offer,
    parse_sdp,
)

VECTORS = Path(__file__).resolve().parent / "vectors"
US = "203.0.113.5"


def vector(name: str) -> SessionDescription:
    return parse_sdp((VECTORS / name).read_bytes())


def answer(
    offer: SessionDescription | str, **kwargs: object
) -> tuple[SessionDescription, NegotiatedAudio]:
    if isinstance(offer, str):
        offer = parse_sdp(offer)
    result = answer_offer(
        offer,
        address=US,
        rtp_port=20000,
        session_id=42,
        session_version=1,
        **kwargs,  # type: ignore[arg-type]
    )
    assert not isinstance(result, NoCommonCodec), result
    sdp, negotiated = result
    # Whatever we answer must survive our own parser unchanged.
    assert parse_sdp(sdp.serialize()) == sdp
    return sdp, negotiated


def offer_text(media: str, session: str = "c=IN IP4 192.0.2.10\n") -> str:
    return f"v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\n{session}t=0 0\n{media}"


def test_rfc4317_2_1_offer_picks_pcmu_and_refuses_video() -> None:
    sdp, negotiated = answer(vector("rfc4317_2.1_offer.sdp"))
    assert negotiated == NegotiatedAudio(
        codec=Codec("PCMU", 0, 8000),
        dtmf=None,
        remote_rtp=("host.atlanta.example.com", 49170),
        remote_rtcp=("host.atlanta.example.com", 49171),
        rtcp_mux=False,
        ptime_ms=20,
        direction="sendrecv",
        on_hold=False,
    )
    assert sdp.serialize() == (
        b"v=0\r\n"
        b"o=- 42 1 IN IP4 203.0.113.5\r\n"
        b"s=-\r\n"
        b"c=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\n"
        b"m=audio 20000 RTP/AVP 0\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
        b"m=video 0 RTP/AVP 31 32\r\n"
    )


def test_rfc4317_2_1_offer_in_the_callers_order_among_supported() -> None:
    _, negotiated = answer(vector("rfc4317_2.1_offer.sdp"), supported=("G722", "PCMA"))
    assert negotiated.codec == Codec("PCMA", 8, 8000)


def test_rfc4317_2_6_first_usable_audio_stream_is_taken() -> None:
    sdp, negotiated = answer(vector("rfc4317_2.6_offer.sdp"))
    assert negotiated.codec == Codec("PCMU", 0, 8000)
    assert negotiated.remote_rtp == ("host.atlanta.example.com", 49170)
    assert [(m.kind, m.port, m.formats) for m in sdp.media] == [
        ("audio", 20000, ["0"]),
        ("audio", 0, ["97", "101"]),
    ]


def test_rfc4317_2_4_second_audio_stream_is_refused() -> None:
    sdp, negotiated = answer(vector("rfc4317_2.4_offer.sdp"))
    assert negotiated.codec.name == "PCMU"
    assert negotiated.dtmf is None  # telephone-event sits on the other stream
    assert [m.port for m in sdp.media] == [20000, 0]


def test_rfc4317_5_2_no_common_codec_with_ilbc_only() -> None:
    result = answer_offer(
        vector("rfc4317_5.2_offer.sdp"), address=US, rtp_port=1, session_id=1, session_version=1
    )
    assert result == NoCommonCodec(warning='305 203.0.113.5 "Incompatible media format"')
    assert (result.code, result.text) == (305, "Incompatible media format")


def test_rfc4317_5_1_offer_without_media() -> None:
    result = answer_offer(
        vector("rfc4317_5.1_offer.sdp"), address=US, rtp_port=1, session_id=1, session_version=1
    )
    assert result == NoCommonCodec(warning='304 203.0.113.5 "Media type not available"')


def test_only_g729_offered_is_no_common_codec() -> None:
    offer = parse_sdp(
        offer_text("m=audio 4000 RTP/AVP 18 101\na=rtpmap:101 telephone-event/8000\n")
    )
    result = answer_offer(offer, address=US, rtp_port=1, session_id=1, session_version=1)
    assert isinstance(result, NoCommonCodec)
    assert result.warning.startswith("305 ")


def test_video_only_offer_has_no_audio() -> None:
    offer = parse_sdp(offer_text("m=video 4000 RTP/AVP 96\na=rtpmap:96 VP8/90000\n"))
    result = answer_offer(offer, address=US, rtp_port=1, session_id=1, session_version=1)
    assert result == NoCommonCodec(warning='304 203.0.113.5 "Media type not available"')


def test_srtp_or_refused_audio_is_not_usable() -> None:
    offer = parse_sdp(
        offer_text("m=audio 4000 RTP/SAVP 0\nm=audio 0 RTP/AVP 0\nm=audio 4002 TCP/MSRP *\n")
    )
    result = answer_offer(offer, address=US, rtp_port=1, session_id=1, session_version=1)
    assert result == NoCommonCodec(warning='305 203.0.113.5 "Incompatible media format"')


def test_twilio_shaped_offer() -> None:
    sdp, negotiated = answer(vector("shape_twilio_g711.sdp"))
    assert negotiated == NegotiatedAudio(
        codec=Codec("PCMU", 0, 8000),
        dtmf=Codec("telephone-event", 101, 8000, 1, "0-16"),
        remote_rtp=("168.86.128.17", 13528),
        remote_rtcp=("168.86.128.17", 13529),
        rtcp_mux=False,
        ptime_ms=20,
        direction="sendrecv",
        on_hold=False,
    )
    audio = sdp.media[0]
    assert audio.formats == ["0", "101"]
    assert audio.attributes == [
        ("rtpmap", "0 PCMU/8000"),
        ("rtpmap", "101 telephone-event/8000"),
        ("fmtp", "101 0-15"),
        ("ptime", "20"),
        ("sendrecv", None),
    ]


def test_linphone_shaped_offer_opus_with_48k_dtmf() -> None:
    sdp, negotiated = answer(vector("shape_linphone_opus_video.sdp"))
    assert negotiated.codec == Codec("opus", 96, 48000, 2, "useinbandfec=1")
    assert negotiated.dtmf == Codec("telephone-event", 101, 48000, 1, None)
    audio, video = sdp.media
    assert audio.formats == ["96", "101"]
    assert audio.rtpmap(96) == ("opus", 48000, 2)
    assert audio.fmtp(96) == "useinbandfec=1"
    assert audio.rtpmap(101) == ("telephone-event", 48000, 1)
    assert (video.kind, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ["96", "97"],
    )
    assert video.attributes == []


def test_linphone_shaped_offer_without_opus_falls_back_to_g722() -> None:
    _, negotiated = answer(vector("shape_linphone_opus_video.sdp"), supported=("PCMU", "G722"))
    assert negotiated.codec == Codec("G722", 9, 8000)
    assert negotiated.dtmf == Codec("telephone-event", 97, 8000)


def test_baresip_shaped_offer_echoes_rtcp_mux() -> None:
    sdp, negotiated = answer(vector("shape_baresip_mux.sdp"))
    assert negotiated.codec == Codec("opus", 96, 48000, 2, "stereo=1;sprop-stereo=1")
    assert negotiated.dtmf == Codec("telephone-event", 101, 48000, 1, "0-15")
    assert negotiated.rtcp_mux
    assert negotiated.remote_rtcp is None
    assert sdp.media[0].rtcp_mux
    assert not sdp.media[1].rtcp_mux


def test_payload_type_numbers_of_the_offer_are_reused() -> None:
    offer = offer_text(
        "m=audio 4000 RTP/AVP 120 126\na=rtpmap:120 PCMA/8000\na=rtpmap:126 telephone-event/8000\n"
    )
    sdp, negotiated = answer(offer)
    assert negotiated.codec == Codec("PCMA", 120, 8000)
    assert negotiated.dtmf == Codec("telephone-event", 126, 8000)
    assert sdp.media[0].formats == ["120", "126"]
    assert sdp.media[0].rtpmap(120) == ("PCMA", 8000, 1)


def test_codec_names_match_case_insensitively_and_formats_must_fit() -> None:
    offer = offer_text(
        "m=audio 4000 RTP/AVP 96 97 98 99 0\n"
        "a=rtpmap:96 OPUS/48000/1\n"  # RFC 7587: opus is always /48000/2
        "a=rtpmap:97 opus/16000/2\n"
        "a=rtpmap:98 pcmu/16000\n"
        "a=rtpmap:99 Opus/48000/2\n"
    )
    _, negotiated = answer(offer)
    assert negotiated.codec == Codec("opus", 99, 48000, 2)


def test_unusable_formats_are_skipped() -> None:
    offer = offer_text(
        "m=audio 4000 RTP/AVP * 96 8\na=rtpmap:97 opus/48000/2\n"  # 96 has no rtpmap
    )
    _, negotiated = answer(offer)
    assert negotiated.codec == Codec("PCMA", 8, 8000)


def test_dtmf_must_match_the_codec_clock_rate() -> None:
    offer = offer_text(
        "m=audio 4000 RTP/AVP 111 101\na=rtpmap:111 opus/48000/2\na=rtpmap:101 telephone-event/8000\n"
    )
    _, negotiated = answer(offer)
    assert negotiated.codec.name == "opus"
    assert negotiated.dtmf is None


def test_remote_ptime_is_honoured() -> None:
    sdp, negotiated = answer(offer_text("m=audio 4000 RTP/AVP 8\na=ptime:30\n"), ptime_ms=40)
    assert negotiated.ptime_ms == 30
    assert sdp.media[0].ptime_ms == 40


def test_a_rtcp_gives_the_remote_rtcp_address() -> None:
    _, negotiated = answer(offer_text("m=audio 4000 RTP/AVP 0\na=rtcp:4444\n"))
    assert negotiated.remote_rtcp == ("192.0.2.10", 4444)
    _, negotiated = answer(offer_text("m=audio 4000 RTP/AVP 0\na=rtcp:4444 IN IP4 192.0.2.99\n"))
    assert negotiated.remote_rtcp == ("192.0.2.99", 4444)


def test_media_level_connection_wins() -> None:
    _, negotiated = answer(offer_text("m=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.77\n", session=""))
    assert negotiated.remote_rtp == ("192.0.2.77", 4000)


def test_missing_connection_is_a_parse_error() -> None:
    offer = parse_sdp(offer_text("m=audio 4000 RTP/AVP 0\n", session=""))
    with pytest.raises(SdpParseError) as info:
        answer_offer(offer, address=US, rtp_port=1, session_id=1, session_version=1)
    assert str(info.value) == "audio m-line 1 has no c= line at media or session level"


@pytest.mark.parametrize(
    ("media", "session", "ours", "on_hold"),
    [
        ("a=sendrecv\n", "c=IN IP4 192.0.2.10\n", "sendrecv", False),
        ("a=sendonly\n", "c=IN IP4 192.0.2.10\n", "recvonly", True),
        ("a=recvonly\n", "c=IN IP4 192.0.2.10\n", "sendonly", False),
        ("a=inactive\n", "c=IN IP4 192.0.2.10\n", "inactive", True),
        ("", "c=IN IP4 192.0.2.10\na=sendonly\n", "recvonly", True),  # session level
        ("a=sendrecv\n", "c=IN IP4 192.0.2.10\na=sendonly\n", "sendrecv", False),
        ("", "c=IN IP4 0.0.0.0\n", "recvonly", True),  # RFC 3264 §8.4 old-style hold
        ("a=sendonly\n", "c=IN IP4 0.0.0.0\n", "recvonly", True),
        ("a=recvonly\n", "c=IN IP4 0.0.0.0\n", "inactive", True),
    ],
)
def test_direction_is_mirrored(media: str, session: str, ours: str, on_hold: bool) -> None:
    sdp, negotiated = answer(offer_text(f"m=audio 4000 RTP/AVP 0\n{media}", session=session))
    assert negotiated.direction == ours
    assert negotiated.on_hold is on_hold
    assert sdp.media[0].direction() == ours
    assert sdp.connection is not None and sdp.connection.host == US  # never 0.0.0.0 ourselves


def test_ipv6_answer() -> None:
    result = answer_offer(
        vector("shape_twilio_g711.sdp"),
        address="2001:db8::5",
        rtp_port=30000,
        session_id=7,
        session_version=9,
    )
    assert not isinstance(result, NoCommonCodec)
    sdp = result[0]
    assert sdp.serialize().startswith(
        b"v=0\r\no=- 7 9 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"
        b"m=audio 30000 RTP/AVP 0 101\r\n"
    )


def test_unknown_supported_name_is_our_mistake() -> None:
    with pytest.raises(ValueError, match="G729"):
        answer_offer(
            vector("shape_twilio_g711.sdp"),
            address=US,
            rtp_port=1,
            session_id=1,
            session_version=1,
            supported=("G729",),
        )


# -- our offers ---------------------------------------------------------------------------


def test_build_offer_default() -> None:
    offer = build_offer(address=US, rtp_port=20002, session_id=5, session_version=6)
    assert offer.serialize() == (
        b"v=0\r\n"
        b"o=- 5 6 IN IP4 203.0.113.5\r\n"
        b"s=-\r\n"
        b"c=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\n"
        b"m=audio 20002 RTP/AVP 0 8 9 111 101 110\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:9 G722/8000\r\n"
        b"a=rtpmap:111 opus/48000/2\r\n"
        b"a=fmtp:111 useinbandfec=1\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\n"
        b"a=rtpmap:110 telephone-event/48000\r\n"
        b"a=fmtp:110 0-15\r\n"
        b"a=ptime:20\r\n"
        b"a=rtcp-mux\r\n"
        b"a=sendrecv\r\n"
    )


def test_build_offer_options() -> None:
    offer = build_offer(
        address=US,
        rtp_port=20002,
        session_id=5,
        session_version=7,
        codecs=("opus",),
        direction="sendonly",
        ptime_ms=40,
        rtcp_mux=False,
    )
    (audio,) = offer.media
    assert audio.formats == ["111", "110"]
    assert audio.direction() == "sendonly"
    assert audio.ptime_ms == 40
    assert not audio.rtcp_mux
    with pytest.raises(ValueError, match="at least one codec"):
        build_offer(address=US, rtp_port=1, session_id=1, session_version=1, codecs=())
    with pytest.raises(ValueError, match="iLBC"):
        build_offer(address=US, rtp_port=1, session_id=1, session_version=1, codecs=("iLBC",))


def test_our_offer_answered_by_ourselves() -> None:
    offer = build_offer(address="192.0.2.1", rtp_port=20000, session_id=1, session_version=1)
    result = answer_offer(
        offer,
        address="192.0.2.2",
        rtp_port=30000,
        session_id=2,
        session_version=1,
        supported=("opus", "PCMA"),
    )
    assert not isinstance(result, NoCommonCodec)
    remote_answer, theirs = result
    assert theirs.codec == Codec("PCMA", 8, 8000)  # the offerer's order decides
    ours = accept_answer(offer, remote_answer)
    assert ours == NegotiatedAudio(
        codec=Codec("PCMA", 8, 8000),
        dtmf=Codec("telephone-event", 101, 8000, 1, "0-15"),
        remote_rtp=("192.0.2.2", 30000),
        remote_rtcp=None,
        rtcp_mux=True,
        ptime_ms=20,
        direction="sendrecv",
        on_hold=False,
    )


def test_rfc4317_2_1_answer_accepted() -> None:
    negotiated = accept_answer(vector("rfc4317_2.1_offer.sdp"), vector("rfc4317_2.1_answer.sdp"))
    assert negotiated == NegotiatedAudio(
        codec=Codec("PCMU", 0, 8000),
        dtmf=None,
        remote_rtp=("host.biloxi.example.com", 49174),
        remote_rtcp=("host.biloxi.example.com", 49175),
        rtcp_mux=False,
        ptime_ms=20,
        direction="sendrecv",
        on_hold=False,
    )


def test_rfc4317_2_2_answer_the_answerers_first_choice() -> None:
    negotiated = accept_answer(vector("rfc4317_2.1_offer.sdp"), vector("rfc4317_2.2_answer.sdp"))
    assert isinstance(negotiated, NegotiatedAudio)
    assert negotiated.codec == Codec("PCMU", 0, 8000)
    assert negotiated.remote_rtp == ("host.biloxi.example.com", 49172)


def test_rfc4317_2_8_answer_media_connection() -> None:
    negotiated = accept_answer(vector("rfc4317_2.1_offer.sdp"), vector("rfc4317_2.8_answer.sdp"))
    assert isinstance(negotiated, NegotiatedAudio)
    assert negotiated.remote_rtp == ("host.biloxi.example.com", 49174)


def test_rfc4317_3_1_answer_with_only_ilbc_is_no_common_codec() -> None:
    result = accept_answer(vector("rfc4317_3.1_offer.sdp"), vector("rfc4317_3.1_answer.sdp"))
    assert result == NoCommonCodec(warning='305 sipmeet "Incompatible media format"')


def _our_offer(direction: str = "sendrecv") -> SessionDescription:
    return build_offer(
        address="192.0.2.1",
        rtp_port=20000,
        session_id=1,
        session_version=2,
        direction=direction,  # type: ignore[arg-type]
    )


def _remote_answer(media: str, session: str = "c=IN IP4 192.0.2.2\n") -> SessionDescription:
    return parse_sdp(
        f"v=0\no=- 9 9 IN IP4 192.0.2.2\ns=-\n{session}t=0 0\nm=audio 30000 RTP/AVP {media}"
    )


@pytest.mark.parametrize(
    ("offered", "answered", "session", "ours", "on_hold"),
    [
        ("sendrecv", "a=sendrecv\n", "c=IN IP4 192.0.2.2\n", "sendrecv", False),
        ("sendrecv", "a=recvonly\n", "c=IN IP4 192.0.2.2\n", "sendonly", False),
        ("sendrecv", "a=sendonly\n", "c=IN IP4 192.0.2.2\n", "recvonly", True),
        ("sendrecv", "a=inactive\n", "c=IN IP4 192.0.2.2\n", "inactive", True),
        ("sendrecv", "", "c=IN IP4 0.0.0.0\n", "recvonly", True),
        ("sendonly", "a=recvonly\n", "c=IN IP4 192.0.2.2\n", "sendonly", False),  # we hold
        ("sendonly", "a=sendrecv\n", "c=IN IP4 192.0.2.2\n", "sendonly", False),
        ("inactive", "a=inactive\n", "c=IN IP4 192.0.2.2\n", "inactive", True),
    ],
)
def test_accept_answer_direction(
    offered: str, answered: str, session: str, ours: str, on_hold: bool
) -> None:
    result = accept_answer(_our_offer(offered), _remote_answer(f"8\n{answered}", session))
    assert isinstance(result, NegotiatedAudio)
    assert result.direction == ours
    assert result.on_hold is on_hold
    assert result.codec == Codec("PCMA", 8, 8000)


def test_accept_answer_details() -> None:
    result = accept_answer(
        _our_offer(),
        _remote_answer(
            "111 110\na=rtpmap:111 opus/48000/2\na=rtpmap:110 telephone-event/48000\na=ptime:40\n"
        ),
    )
    assert isinstance(result, NegotiatedAudio)
    assert result.codec == Codec("opus", 111, 48000, 2)
    assert result.dtmf == Codec("telephone-event", 110, 48000)
    assert result.ptime_ms == 40
    assert not result.rtcp_mux  # offered but not answered
    assert result.remote_rtcp == ("192.0.2.2", 30001)


def test_accept_answer_refusals() -> None:
    offer = _our_offer()
    refused = parse_sdp(
        "v=0\no=- 9 9 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\nm=audio 0 RTP/AVP 0\n"
    )
    assert accept_answer(offer, refused) == NoCommonCodec('305 sipmeet "Incompatible media format"')
    empty = parse_sdp("v=0\no=- 9 9 IN IP4 192.0.2.2\ns=-\nc=IN IP4 192.0.2.2\nt=0 0\n")
    assert accept_answer(offer, empty) == NoCommonCodec('304 sipmeet "Media type not available"')
    not_offered = _remote_answer("18\n")  # G.729: we never offered it
    assert isinstance(accept_answer(offer, not_offered), NoCommonCodec)
    only_pcmu = build_offer(
        address="192.0.2.1", rtp_port=1, session_id=1, session_version=1, codecs=("PCMU",)
    )
    assert isinstance(accept_answer(only_pcmu, _remote_answer("8\n")), NoCommonCodec)
    with pytest.raises(SdpParseError, match="no c= line"):
        accept_answer(offer, _remote_answer("0\n", session=""))
    with pytest.raises(ValueError, match="no audio stream"):
        accept_answer(parse_sdp("v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\n"), empty)
