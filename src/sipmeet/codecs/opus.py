"""Opus (RFC 6716) through libopus with ctypes.

The encoder takes PCM at the leg's own rate (8, 12, 16, 24 or 48 kHz) and the
decoder produces PCM at the rate its consumer asks for, so a phone leg never
resamples for Opus. Decoders are mono: libopus downmixes stereo packets (from
browsers) itself. libopus is the system's (``ctypes.util.find_library``) or,
failing that, the copy inside PyAV's wheel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .base import Pcm
from .errors import CodecError

__all__ = [
    "OPUS_RATES_HZ",
    "OpusDecoder",
    "OpusEncoder",
    "OpusToc",
    "is_dtx_packet",
    "opus_version",
    "parse_opus_toc",
]

OPUS_RATES_HZ = (8000, 12000, 16000, 24000, 48000)
OpusApplication = Literal["voip", "audio", "restricted_lowdelay"]

# opus_defines.h
_APPLICATIONS: dict[str, int] = {"voip": 2048, "audio": 2049, "restricted_lowdelay": 2051}
_SET_BITRATE = 4002
_SET_COMPLEXITY = 4010
_SET_INBAND_FEC = 4012
_SET_PACKET_LOSS_PERC = 4014
_SET_DTX = 4016
_MAX_PACKET_BYTES = 4000  # libopus' recommended output buffer size
_MAX_FRAME_MS = 120

_lib: ctypes.CDLL | None = None


def _library_path() -> str:
    found = ctypes.util.find_library("opus")
    if found:
        return found
    spec = importlib.util.find_spec("av")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            bundled = sorted((Path(location).parent / "av.libs").glob("libopus-*.so*"))
            if bundled:
                return str(bundled[0])
    raise CodecError("libopus not found (neither on the system nor inside PyAV)")


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(_library_path())
    except OSError as exc:
        raise CodecError(f"cannot load libopus: {exc}") from exc
    i32, ptr = ctypes.c_int32, ctypes.c_void_p
    err = ctypes.POINTER(ctypes.c_int)
    signatures: dict[str, tuple[list[type], type | None]] = {
        "opus_encoder_create": ([i32, ctypes.c_int, ctypes.c_int, err], ptr),
        "opus_encode": ([ptr, ptr, ctypes.c_int, ptr, i32], i32),
        "opus_encoder_destroy": ([ptr], None),
        "opus_decoder_create": ([i32, ctypes.c_int, err], ptr),
        "opus_decode": ([ptr, ctypes.c_char_p, i32, ptr, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        "opus_decoder_destroy": ([ptr], None),
        "opus_packet_get_nb_samples": ([ctypes.c_char_p, i32, i32], ctypes.c_int),
        "opus_strerror": ([ctypes.c_int], ctypes.c_char_p),
        "opus_get_version_string": ([], ctypes.c_char_p),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    # opus_encoder_ctl is variadic: its arguments are passed as explicit ctypes values.
    lib.opus_encoder_ctl.restype = ctypes.c_int
    _lib = lib
    return lib


def _error(lib: ctypes.CDLL, code: int) -> str:
    text: bytes = lib.opus_strerror(code)
    return text.decode("ascii", "replace")


def opus_version() -> str:
    """libopus' version string, for example ``"libopus 1.3.1"``."""
    version: bytes = _load().opus_get_version_string()
    return version.decode("ascii", "replace")


def _check_rate(sample_rate_hz: int) -> None:
    if sample_rate_hz not in OPUS_RATES_HZ:
        raise CodecError(f"Opus works at 8, 12, 16, 24 or 48 kHz, not {sample_rate_hz} Hz")


class OpusEncoder:
    """libopus encoder straight from the leg's rate; one call, one packet."""

    name = "opus"

    def __init__(
        self,
        sample_rate_hz: int = 48000,
        channels: int = 1,
        *,
        bitrate_bps: int | None = None,
        complexity: int = 5,
        application: OpusApplication = "voip",
        dtx: bool = False,
        inband_fec: bool = False,
        packet_loss_perc: int | None = None,
    ) -> None:
        _check_rate(sample_rate_hz)
        if channels not in (1, 2):
            raise CodecError(f"Opus encodes 1 or 2 channels, not {channels}")
        if application not in _APPLICATIONS:
            raise CodecError(f"unknown Opus application {application!r}")
        lib = _load()
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        error = ctypes.c_int(0)
        state = lib.opus_encoder_create(
            sample_rate_hz, channels, _APPLICATIONS[application], ctypes.byref(error)
        )
        if error.value != 0 or not state:
            raise CodecError(f"opus_encoder_create: {_error(lib, error.value)}")
        self._state: int = state
        self._encode = lib.opus_encode
        self._close = weakref.finalize(self, lib.opus_encoder_destroy, state)
        self._output = ctypes.create_string_buffer(_MAX_PACKET_BYTES)
        self._output_address = ctypes.addressof(self._output)
        if bitrate_bps is not None:
            self._ctl(_SET_BITRATE, bitrate_bps)
        self._ctl(_SET_COMPLEXITY, complexity)
        self._ctl(_SET_DTX, int(dtx))
        self._ctl(_SET_INBAND_FEC, int(inband_fec))
        # In-band FEC is only coded when the encoder expects loss.
        if packet_loss_perc is None:
            packet_loss_perc = 10 if inband_fec else 0
        self._ctl(_SET_PACKET_LOSS_PERC, packet_loss_perc)

    def _ctl(self, request: int, value: int) -> None:
        lib = _load()
        code = lib.opus_encoder_ctl(
            ctypes.c_void_p(self._state), ctypes.c_int(request), ctypes.c_int32(value)
        )
        if code != 0:
            raise CodecError(f"opus_encoder_ctl({request}, {value}): {_error(lib, code)}")

    def encode(self, pcm: Pcm) -> bytes:
        """One frame of 2.5 to 120 ms (interleaved when stereo) to one Opus packet."""
        if self._state == 0:
            raise CodecError("Opus encoder is closed")
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise CodecError(f"Opus encodes 1-D int16 PCM, got {pcm.ndim}-D {pcm.dtype}")
        if not pcm.flags.c_contiguous:
            pcm = np.ascontiguousarray(pcm)
        frame_size = pcm.size // self.channels
        size: int = self._encode(
            self._state, pcm.ctypes.data, frame_size, self._output_address, _MAX_PACKET_BYTES
        )
        if size < 0:
            raise CodecError(
                f"opus_encode of {frame_size} samples at {self.sample_rate_hz} Hz: "
                f"{_error(_load(), size)}"
            )
        return ctypes.string_at(self._output_address, size)

    def close(self) -> None:
        """Free libopus' state now (it is freed on garbage collection otherwise)."""
        self._close()
        self._state = 0


class OpusDecoder:
    """libopus decoder to mono PCM at the consumer's rate, with PLC and FEC."""

    name = "opus"

    def __init__(self, sample_rate_hz: int = 48000) -> None:
        _check_rate(sample_rate_hz)
        lib = _load()
        self.sample_rate_hz = sample_rate_hz
        error = ctypes.c_int(0)
        state = lib.opus_decoder_create(sample_rate_hz, 1, ctypes.byref(error))
        if error.value != 0 or not state:
            raise CodecError(f"opus_decoder_create: {_error(lib, error.value)}")
        self._state: int = state
        self._decode = lib.opus_decode
        self._samples = lib.opus_packet_get_nb_samples
        self._close = weakref.finalize(self, lib.opus_decoder_destroy, state)
        self._step = sample_rate_hz // 400  # PLC works in multiples of 2.5 ms
        self._max_frame = sample_rate_hz * _MAX_FRAME_MS // 1000

    def decode(self, payload: bytes) -> Pcm:
        if self._state == 0:
            raise CodecError("Opus decoder is closed")
        if not payload:
            raise CodecError("empty Opus packet")
        samples = self._samples(payload, len(payload), self.sample_rate_hz)
        if samples < 0:
            raise CodecError(f"invalid Opus packet: {_error(_load(), samples)}")
        return self._run(payload, samples, fec=0)

    def conceal(self, samples: int) -> Pcm:
        """libopus' own concealment for a gap of ``samples`` samples.

        libopus conceals in steps of 2.5 ms; a gap that is not a whole number of
        steps is concealed to the next step and the surplus dropped.
        """
        if samples <= 0:
            return np.zeros(0, dtype=np.int16)
        if self._state == 0:
            raise CodecError("Opus decoder is closed")
        total = -(-samples // self._step) * self._step
        out = np.empty(total, dtype=np.int16)
        done = 0
        while done < total:
            chunk = min(total - done, self._max_frame)
            got = self._decode(self._state, None, 0, out.ctypes.data + 2 * done, chunk, 0)
            if got < 0:
                raise CodecError(f"Opus concealment: {_error(_load(), got)}")
            done += chunk
        return out[:samples]

    def decode_fec(self, next_payload: bytes, samples: int) -> Pcm:
        """The lost frame before ``next_payload``, from that packet's in-band FEC.

        ``samples`` is the lost frame's length (a multiple of 2.5 ms). Without FEC
        data in the packet, libopus conceals instead. Decode ``next_payload`` itself
        afterwards as usual.
        """
        if self._state == 0:
            raise CodecError("Opus decoder is closed")
        if not next_payload:
            raise CodecError("empty Opus packet")
        if samples <= 0 or samples % self._step or samples > self._max_frame:
            raise CodecError(f"Opus FEC frame of {samples} samples is not a multiple of 2.5 ms")
        return self._run(next_payload, samples, fec=1)

    def _run(self, payload: bytes, samples: int, fec: int) -> Pcm:
        out = np.empty(samples, dtype=np.int16)
        got = self._decode(self._state, payload, len(payload), out.ctypes.data, samples, fec)
        if got < 0:
            raise CodecError(f"invalid Opus packet: {_error(_load(), got)}")
        return out if got == samples else out[:got]

    def close(self) -> None:
        """Free libopus' state now (it is freed on garbage collection otherwise)."""
        self._close()
        self._state = 0


def is_dtx_packet(payload: bytes) -> bool:
    """True for the 1-2 byte packets a DTX encoder emits for silence (need not be sent)."""
    return len(payload) <= 2


Bandwidth = Literal["NB", "MB", "WB", "SWB", "FB"]


@dataclass(frozen=True, slots=True)
class OpusToc:
    """The table-of-contents byte of an Opus packet (RFC 6716 §3.1)."""

    config: int
    mode: Literal["SILK", "hybrid", "CELT"]
    bandwidth: Bandwidth
    frame_ms: float
    stereo: bool
    frame_count_code: int  # 0: one frame, 1: two equal, 2: two different, 3: arbitrary


def parse_opus_toc(packet: bytes) -> OpusToc:
    """Read the TOC byte (RFC 6716 §3.1, Table 2)."""
    if not packet:
        raise CodecError("empty Opus packet has no TOC byte")
    toc = packet[0]
    config = toc >> 3
    bandwidth: Bandwidth
    if config < 12:  # SILK-only: NB, MB, WB; 10, 20, 40, 60 ms
        mode: Literal["SILK", "hybrid", "CELT"] = "SILK"
        bandwidth = ("NB", "MB", "WB")[config // 4]
        frame_ms = (10.0, 20.0, 40.0, 60.0)[config % 4]
    elif config < 16:  # Hybrid: SWB, FB; 10, 20 ms
        mode = "hybrid"
        bandwidth = ("SWB", "FB")[(config - 12) // 2]
        frame_ms = (10.0, 20.0)[config % 2]
    else:  # CELT-only: NB, WB, SWB, FB; 2.5, 5, 10, 20 ms
        mode = "CELT"
        bandwidth = ("NB", "WB", "SWB", "FB")[(config - 16) // 4]
        frame_ms = (2.5, 5.0, 10.0, 20.0)[config % 4]
    return OpusToc(config, mode, bandwidth, frame_ms, bool(toc & 0x04), toc & 0x03)
