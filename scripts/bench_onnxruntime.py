#!/usr/bin/env python3
"""Frames per second of a Wav2Lip-shaped ONNX model under onnxruntime (CPU), for comparison.

  bench_onnxruntime.py MODEL.onnx [--batch 8] [--threads 2] [--seconds 10]

Prints one line: `onnxruntime batch=B threads=T frames_per_second=F`.
"""
import argparse
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for item in session.get_inputs():
        shape = [args.batch] + [int(d) for d in item.shape[1:]]
        feeds[item.name] = rng.uniform(0, 1, shape).astype(np.float32)
    session.run(None, feeds)  # warm-up
    frames, start = 0, time.perf_counter()
    while True:
        session.run(None, feeds)
        frames += args.batch
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds and frames >= 2 * args.batch:
            break
    print(f"onnxruntime batch={args.batch} threads={args.threads} frames_per_second={frames / elapsed:.3f}")


if __name__ == "__main__":
    main()
