#!/usr/bin/env python3
"""Opt-in int8 Wav2Lip: static QDQ quantisation (u8 activations, s8 per-channel weights) calibrated on speech.

  quantize_wav2lip.py MODEL.onnx --audio speech.wav --avatar face.png --box X1,Y1,X2,Y2 [--samples 64]

Writes MODEL.int8.onnx beside the model; `lipsync generate --model MODEL.int8.onnx` (or the file in
models/) runs it. Calibration feeds the model what generation feeds it: mel windows of real speech and
the avatar's masked face crop. Compare speed and output with `lipsync bench inference --model ...` and
scripts/compare_models.py.
"""
import argparse
import os
import sys

import cv2
import librosa
import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_mel import wav2lip_mel  # noqa: E402


def calibration_inputs(args):
    samples, _ = librosa.load(args.audio, sr=16000)
    mel = wav2lip_mel(samples)
    frame = cv2.imread(args.avatar)
    x1, y1, x2, y2 = (int(v) for v in args.box.split(","))
    face = cv2.resize(frame[y1:y2, x1:x2], (96, 96))
    masked = face.copy()
    masked[48:] = 0
    face_input = np.concatenate((masked, face), axis=2).transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    starts = np.linspace(0, mel.shape[1] - 16, args.samples).astype(int)
    return [(mel[:, s:s + 16][None, None].astype(np.float32), face_input) for s in starts]


class Reader(CalibrationDataReader):
    def __init__(self, model_path, pairs):
        model = onnx.load(model_path, load_external_data=False)
        shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim][1:] for i in model.graph.input}
        self.mel = next(n for n, s in shapes.items() if s == [1, 80, 16])
        self.face = next(n for n, s in shapes.items() if s == [6, 96, 96])
        self.pairs = iter(pairs)

    def get_next(self):
        pair = next(self.pairs, None)
        return None if pair is None else {self.mel: pair[0], self.face: pair[1]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--avatar", required=True)
    parser.add_argument("--box", required=True)
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    output = args.model[:-5] + ".int8.onnx"
    quantize_static(args.model, output, Reader(args.model, calibration_inputs(args)), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
