"""Prompts replace the room audio, tones mix over it, callbacks fire when done."""

from __future__ import annotations

import numpy as np

from sipmeet.media.player import PromptPlayer, tone


def test_idle_player_passes_frames_through() -> None:
    frame = np.full(160, 100, dtype=np.int16)
    assert PromptPlayer().render(frame, 8000) is frame


def test_exclusive_prompt_replaces_the_mix_then_calls_back() -> None:
    done: list[str] = []
    player = PromptPlayer()
    prompt = np.arange(1, 241, dtype=np.int16)  # 30 ms at 8 kHz
    player.play(prompt, 8000, on_done=lambda: done.append("prompt"))
    room = np.full(160, 7, dtype=np.int16)
    first = player.render(room, 8000)
    assert np.array_equal(first, prompt[:160]) and not done
    second = player.render(room, 8000)
    assert np.array_equal(second[:80], prompt[160:]) and not second[80:].any()
    assert done == ["prompt"] and not player.playing
    assert player.render(room, 8000) is room


def test_tone_mixes_over_the_room_and_is_converted_to_the_frame_rate() -> None:
    player = PromptPlayer()
    beep = tone(1000, 40, 8000)
    assert beep.size == 320 and abs(int(beep.max())) > 5000
    player.play(beep, 8000, exclusive=False)
    room = np.full(320, 1000, dtype=np.int16)  # a 16 kHz room
    out = player.render(room, 16000)
    assert out.size == 320 and not np.array_equal(out, room)
    # Mixed, not replaced: the room's offset is still there on average.
    assert abs(float(out.mean()) - 1000) < 300
