"""sipmeet.media"""

from __future__ import annotations

from .levels import (
    SILENCE_LEVEL,
    VOICE_THRESHOLD_DBOV,
    ActiveSpeakerDetector,
    SpeakerChanged,
    audio_level,
    audio_levels,
    voice_activity,
)
from .mixer import MAX_GAIN, MixMinus

__all__ = [
    "MAX_GAIN",
    "SILENCE_LEVEL",
    "VOICE_THRESHOLD_DBOV",
    "ActiveSpeakerDetector",
    "MixMinus",
    "SpeakerChanged",
    "audio_level",
    "audio_levels",
    "voice_activity",
]
