"""Judge audio by what arrives: alignment (delay), similarity, PESQ."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """A mono 16-bit WAV as (rate, float64 samples in -1..1)."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        channels = w.getnchannels()
        width = w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples, expected 16-bit")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return rate, samples


def to_rate(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    g = np.gcd(rate, target)
    resampled: np.ndarray = signal.resample_poly(samples, target // g, rate // g)
    return resampled


@dataclass(frozen=True)
class Alignment:
    lag_samples: int  # recording[i + lag] ~ reference[i]
    correlation: float  # normalised correlation of the aligned overlap (-1..1)
    rate: int

    @property
    def lag_s(self) -> float:
        return self.lag_samples / self.rate


def align(reference: np.ndarray, recording: np.ndarray, rate: int) -> Alignment:
    """Where the reference's content sits in the recording (FFT cross-correlation)."""
    ref = reference - reference.mean()
    rec = recording - recording.mean()
    corr = signal.correlate(rec, ref, mode="full", method="fft")
    lag = int(np.argmax(np.abs(corr))) - (len(ref) - 1)
    a, b = overlap(ref, rec, lag)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b)) or 1.0
    return Alignment(lag, float(np.dot(a, b) / denom), rate)


def overlap(
    reference: np.ndarray, recording: np.ndarray, lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """The parts of both signals that line up at ``lag``."""
    start_ref = max(0, -lag)
    start_rec = max(0, lag)
    n = min(len(reference) - start_ref, len(recording) - start_rec)
    if n <= 0:
        return reference[:0], recording[:0]
    return reference[start_ref : start_ref + n], recording[start_rec : start_rec + n]


def pesq_nb(reference: np.ndarray, degraded: np.ndarray) -> float:
    """ITU-T P.862 narrowband MOS-LQO of two aligned 8 kHz signals."""
    from pesq import pesq

    return float(pesq(8000, reference.astype(np.float32), degraded.astype(np.float32), "nb"))


def rms_dbfs(samples: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -120.0
