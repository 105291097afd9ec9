#!/usr/bin/env python3
"""Runs an ONNX model once with onnxruntime on inputs stored as .npy files; writes each output as .npy.

  onnxruntime_infer.py MODEL.onnx OUT_DIR NAME=IN.npy [NAME=IN.npy ...]

Used by the tests to check that the Swift/OpenVINO path computes the same numbers.
"""
import os
import sys

import numpy as np
import onnxruntime as ort


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    model, out_dir = sys.argv[1], sys.argv[2]
    feeds = {}
    for pair in sys.argv[3:]:
        name, path = pair.split("=", 1)
        feeds[name] = np.load(path)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    for info, value in zip(session.get_outputs(), outputs):
        np.save(os.path.join(out_dir, f"{info.name}.npy"), value.astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
