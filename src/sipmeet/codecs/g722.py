"""ITU-T G.722 at 64 kbit/s through FFmpeg's adpcm_g722 (PyAV).

G.722 codes 16 kHz PCM into one byte per two samples (a 20 ms frame is 320
samples, 160 bytes). RTP carries it with an 8000 Hz clock (RFC 3551 §4.5.2),
which is the RTP layer's business; here PCM is 16 kHz in and out. Both
directions keep the codec's ADPCM state from frame to frame.
"""

from __future__ import annotations

import av
import numpy as np

from .base import Pcm
from .errors import CodecError
from .plc import Concealer

__all__ = ["G722Decoder", "G722Encoder"]

G722_RATE_HZ = 16000


class G722Encoder:
    """G.722 encoder; every frame must have the size of the first (an even number)."""

    name = "G722"
    sample_rate_hz = G722_RATE_HZ

    def __init__(self) -> None:
        self._context: av.AudioCodecContext | None = None
        self._frame: av.AudioFrame | None = None
        self._frame_samples = 0

    def _open(self, samples: int) -> None:
        if samples <= 0 or samples % 2:
            raise CodecError(f"G.722 frames hold an even number of samples, got {samples}")
        context = av.CodecContext.create("g722", "w")
        assert isinstance(context, av.AudioCodecContext)
        context.sample_rate = G722_RATE_HZ
        context.layout = "mono"
        context.format = "s16"
        context.options = {"frame_size": str(samples)}
        context.open()
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.sample_rate = G722_RATE_HZ
        self._context, self._frame, self._frame_samples = context, frame, samples

    def encode(self, pcm: Pcm) -> bytes:
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise CodecError(f"G.722 encodes 1-D int16 PCM, got {pcm.ndim}-D {pcm.dtype}")
        if self._context is None:
            self._open(pcm.size)
        elif pcm.size != self._frame_samples:
            raise CodecError(
                f"G.722 frame of {pcm.size} samples after frames of {self._frame_samples}"
            )
        assert self._context is not None and self._frame is not None
        self._frame.planes[0].update(pcm.tobytes())
        packets = self._context.encode(self._frame)
        if len(packets) != 1:
            raise CodecError(f"G.722 encoder gave {len(packets)} packets for one frame")
        return bytes(packets[0])


class G722Decoder:
    """G.722 decoder with waveform-substitution loss concealment."""

    name = "G722"
    sample_rate_hz = G722_RATE_HZ

    def __init__(self) -> None:
        context = av.CodecContext.create("g722", "r")
        assert isinstance(context, av.AudioCodecContext)
        context.sample_rate = G722_RATE_HZ
        context.layout = "mono"
        context.open()
        self._context = context
        self._plc = Concealer(G722_RATE_HZ)

    def decode(self, payload: bytes) -> Pcm:
        if not payload:
            return self._plc.received(np.zeros(0, dtype=np.int16))
        try:
            frames = self._context.decode(av.Packet(payload))
        except av.FFmpegError as exc:
            raise CodecError(f"G.722 payload of {len(payload)} bytes: {exc}") from exc
        if len(frames) == 1:
            pcm = np.asarray(frames[0].to_ndarray(), dtype=np.int16).reshape(-1)
        else:
            parts = [np.asarray(f.to_ndarray(), dtype=np.int16).reshape(-1) for f in frames]
            pcm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return self._plc.received(pcm)

    def conceal(self, samples: int) -> Pcm:
        return self._plc.conceal(samples)
