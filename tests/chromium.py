"""Debian's Chromium, as every browser test starts it (through Playwright, never downloaded)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

# Headless and quiet: no sandbox (tests may run as root), no GPU, nothing fetched.
HEADLESS_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def media_args(mic_wav: Path) -> list[str]:
    """A fake camera, a fake microphone playing ``mic_wav`` (48 kHz WAV), no prompts, and
    host candidates on loopback (no mDNS names), on top of :data:`HEADLESS_ARGS`."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic_wav}",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        *HEADLESS_ARGS,
    ]
