"""Delay benchmark: how much delay sipmeet adds between a phone and a browser.

Starts ``sipmeet serve`` on free ports, then for each run a baresip softphone (G.711
PCMU, speaking a known recording) and headless Chromium (fake microphone speaking
another) meet in a fresh room for ``--seconds``. Each direction's one-way delay is
measured from the recordings on a shared clock (method: tests/e2e/test_browser_phone.py
docstring): phone->browser includes the server's G.711 jitter buffer, the Opus encode
and Chromium's jitter buffer; browser->phone includes the Opus decode, the mix and
baresip's jitter buffer. The figures include the endpoints' own buffering, so they are
an upper bound on what the server adds.

    .venv/bin/python -m bench.delay --runs 3

Prints one line per run and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tests.e2e.harness import Server, make_speech_wavs
from tests.e2e.test_browser_phone import CHROMIUM, chromium_args, measure


def run(runs: int, seconds: float) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="sipmeet-delay-"))
    wavs = make_speech_wavs(work / "wavs")
    server = Server(work / "data")
    server.start()
    to_browser: list[float] = []
    to_phone: list[float] = []
    try:
        account = server.new_account("delay-bench")
        with sync_playwright() as p:
            browsers: list[Any] = []

            def launch(mic_wav: Path) -> Any:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), args=chromium_args(mic_wav)
                )
                browsers.append(browser)
                return browser

            for n in range(runs):
                try:
                    down, up, _ = measure(
                        server, account, wavs, work / f"run{n}", launch, talk_s=seconds
                    )
                finally:
                    for browser in browsers:
                        browser.close()
                    browsers.clear()
                to_browser.append(down.delay_s * 1000)
                to_phone.append(up.delay_s * 1000)
                print(
                    f"run {n + 1}: phone->browser {down.delay_s * 1000:.0f} ms "
                    f"(corr {down.correlation:.2f}, PESQ {down.pesq:.2f}), "
                    f"browser->phone {up.delay_s * 1000:.0f} ms "
                    f"(corr {up.correlation:.2f}, PESQ {up.pesq:.2f})",
                    flush=True,
                )
    finally:
        server.stop()
    return {
        "phone_to_browser_ms": statistics.median(to_browser),
        "browser_to_phone_ms": statistics.median(to_phone),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="meetings to measure (median)")
    parser.add_argument("--seconds", type=float, default=9.0, help="talking time per run")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is not installed")
    result = run(args.runs, args.seconds)
    print(
        f"median of {args.runs}: phone->browser {result['phone_to_browser_ms']:.0f} ms, "
        f"browser->phone {result['browser_to_phone_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
