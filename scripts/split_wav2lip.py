#!/usr/bin/env python3
"""Splits a Wav2Lip ONNX model into its face encoder and the rest, so the encoder runs once per avatar frame.

  split_wav2lip.py MODEL.onnx

Writes MODEL.face.onnx (face input -> the face features the rest consumes) and MODEL.decoder.onnx
(mel input + those features -> output) beside the model. The cut is found from the graph itself:
every tensor computed from the face input alone belongs to the encoder; the encoder tensors read by
nodes that also depend on the mel are the features passed across. Works for any export whose inputs
are a mel [N,1,80,16] and a face [N,6,96,96], whatever their names.
"""
import os
import sys

import onnx
from onnx import utils


def split(path):
    """Writes PATH's .face.onnx and .decoder.onnx beside it; returns the number of features passed across.
    Raises ValueError when the graph has no face encoder to split off."""
    model = onnx.load(path)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    shapes = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    inputs = [name for name in shapes if name not in initializers]
    face = next(n for n in inputs if shapes[n][1:] == [6, 96, 96])
    mel = next(n for n in inputs if shapes[n][1:] == [1, 80, 16])

    # Tensors that depend on the face input only (constants count as neutral).
    face_only = {face}
    mel_dependent = {mel}
    for node in graph.node:  # ONNX graphs are topologically sorted
        dynamic = [i for i in node.input if i and i not in initializers]
        if any(i in mel_dependent for i in dynamic):
            mel_dependent.update(node.output)
        elif dynamic and all(i in face_only for i in dynamic):
            face_only.update(node.output)
    features = []
    for node in graph.node:
        if any(i in mel_dependent for i in node.input):
            for i in node.input:
                if i in face_only and i != face and i not in features:
                    features.append(i)
    if not features:
        raise ValueError("no face encoder found to split off")
    outputs = [o.name for o in graph.output]
    del model
    stem = path[:-5] if path.endswith(".onnx") else path
    utils.extract_model(path, stem + ".face.onnx", [face], features)
    utils.extract_model(path, stem + ".decoder.onnx", [mel] + features, outputs)
    return len(features)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        count = split(path)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    stem = path[:-5] if path.endswith(".onnx") else path
    print(f"{os.path.basename(stem)}: face encoder -> {count} features; wrote .face.onnx and .decoder.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
