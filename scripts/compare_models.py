#!/usr/bin/env python3
"""Output difference between two Wav2Lip models (e.g. fp32 and its int8 version) on real inputs.

  compare_models.py A.onnx B.onnx --audio speech.wav --avatar face.png --box X1,Y1,X2,Y2 [--samples 64]

Both run in OpenVINO on the CPU (float32 where floats are used) on mel windows spread over the speech
and the avatar's face crop. Prints max and mean absolute difference of the outputs (in [0,1] and in
8-bit levels) and their PSNR.
"""
import argparse
import os
import sys

import numpy as np
import openvino as ov

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quantize_wav2lip import calibration_inputs  # noqa: E402


def run(core, path, pairs):
    model = core.compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    names = {tuple(int(d) for d in port.get_partial_shape().to_shape()[1:]) if port.get_partial_shape().is_static
             else tuple(port.get_partial_shape()[i].get_length() for i in range(1, 4)): port.any_name for port in model.inputs}
    mel, face = names[(1, 80, 16)], names[(6, 96, 96)]
    return np.concatenate([model({mel: m, face: f})[model.outputs[0]] for m, f in pairs])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--avatar", required=True)
    parser.add_argument("--box", required=True)
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    pairs = calibration_inputs(args)
    core = ov.Core()
    a, b = run(core, args.a, pairs), run(core, args.b, pairs)
    difference = np.abs(a - b)
    mse = float(np.mean((a - b) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
    print(f"samples={len(pairs)} max_abs={difference.max():.5f} mean_abs={difference.mean():.5f} "
          f"max_levels={difference.max() * 255:.1f} mean_levels={difference.mean() * 255:.2f} psnr_db={psnr:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
