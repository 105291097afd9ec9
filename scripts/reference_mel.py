#!/usr/bin/env python3
"""Reference mel spectrogram with librosa, using the parameters Wav2Lip was trained with.

Usage: reference_mel.py IN.wav OUT.npy

The input must already be 16 kHz mono (the Swift side prepares it); it is read without resampling so
both implementations see identical samples. Output: float32 array [80, T] in [-4, 4].
"""
import sys

import librosa
import numpy as np
import scipy.signal
import soundfile

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55
FMAX = 7600
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20
MIN_LEVEL_DB = -100
MAX_ABS = 4.0


def wav2lip_mel(samples: np.ndarray) -> np.ndarray:
    emphasised = scipy.signal.lfilter([1, -PREEMPHASIS], [1], samples)
    # librosa 0.7, which Wav2Lip used, padded centred frames by reflection; newer versions pad with zeros.
    spectrum = np.abs(librosa.stft(y=emphasised, n_fft=N_FFT, hop_length=HOP, win_length=WIN, pad_mode="reflect"))
    basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    db = 20 * np.log10(np.maximum(1e-5, basis @ spectrum)) - REF_LEVEL_DB
    normalised = 2 * MAX_ABS * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS
    return np.clip(normalised, -MAX_ABS, MAX_ABS).astype(np.float32)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    samples, rate = soundfile.read(sys.argv[1], dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        print(f"expected {SAMPLE_RATE} Hz audio, got {rate} Hz", file=sys.stderr)
        return 1
    np.save(sys.argv[2], wav2lip_mel(samples.mean(axis=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
