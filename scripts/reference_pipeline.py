#!/usr/bin/env python3
"""The classic Wav2Lip inference loop, as the public Python pipelines run it, for side-by-side benchmarks.

  reference_pipeline.py --model M.onnx --avatar face.png --box X1,Y1,X2,Y2 --audio speech.wav -o out.mp4
                        [--fps 25] [--batch 128] [--threads 2] [--preset veryfast] [--crf 20]

Steps: librosa mel with Wav2Lip's parameters (16 kHz), mel chunks by int(i * 80 / fps) (the last clamped),
the face box given once for a still avatar, batches of 128 (face crop 96x96, lower half masked, 6
channels, BGR, [0,1]) through onnxruntime on the CPU, each output resized and pasted back as a hard
rectangle, frames piped to ffmpeg libx264, the audio muxed. Prints one line of figures at the end.
"""
import argparse
import os
import subprocess
import sys
import time

import cv2
import librosa
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_mel import wav2lip_mel  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--avatar", required=True)
    parser.add_argument("--box", required=True, help="x1,y1,x2,y2 of the face box")
    parser.add_argument("--audio", required=True)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--fps", type=float, default=25)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()

    frame = cv2.imread(args.avatar)
    height, width = frame.shape[0] & ~1, frame.shape[1] & ~1
    frame = frame[:height, :width]
    x1, y1, x2, y2 = (int(v) for v in args.box.split(","))

    samples, _ = librosa.load(args.audio, sr=16000)
    mel = wav2lip_mel(samples)
    step = 80.0 / args.fps
    chunks = []
    i = 0
    while True:
        begin = int(i * step)
        if begin + 16 > mel.shape[1]:
            chunks.append(mel[:, mel.shape[1] - 16:])
            break
        chunks.append(mel[:, begin:begin + 16])
        i += 1

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    names = {tuple(int(d) for d in item.shape[1:]): item.name for item in session.get_inputs()}
    mel_name, face_name = names[(1, 80, 16)], names[(6, 96, 96)]

    face = cv2.resize(frame[y1:y2, x1:x2], (96, 96))
    masked = face.copy()
    masked[48:] = 0
    face_input = np.concatenate((masked, face), axis=2).transpose(2, 0, 1)[None].astype(np.float32) / 255.0

    encoder = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(args.fps),
         "-i", "-", "-i", args.audio, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", args.preset,
         "-crf", str(args.crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", args.output],
        stdin=subprocess.PIPE)
    inference = 0.0
    for first in range(0, len(chunks), args.batch):
        batch = np.stack(chunks[first:first + args.batch])[:, None].astype(np.float32)
        faces = np.repeat(face_input, len(batch), axis=0)
        t = time.perf_counter()
        predictions = session.run(None, {mel_name: batch, face_name: faces})[0]
        inference += time.perf_counter() - t
        for prediction in predictions:
            patch = (prediction.transpose(1, 2, 0) * 255.0).astype(np.uint8)
            out = frame.copy()
            out[y1:y2, x1:x2] = cv2.resize(patch, (x2 - x1, y2 - y1))
            encoder.stdin.write(out.tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        print("ffmpeg failed", file=sys.stderr)
        return 1
    print(f"reference frames={len(chunks)} inference_seconds={inference:.3f} total_seconds={time.perf_counter() - start:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
