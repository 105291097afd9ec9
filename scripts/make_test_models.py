#!/usr/bin/env python3
"""Writes ONNX stand-ins for the Wav2Lip generator, with deterministic random weights.

  make_test_models.py OUT_DIR [--full] [--tiny] [--seed N]

--full  wav2lip_random.onnx: the exact Wav2Lip generator architecture (face encoder, audio encoder,
        face decoder with skip connections, output block; batch norm folded into the convolutions as
        in exported checkpoints). Same layers, shapes and cost as the real model, so speed figures are
        honest; its output is meaningless because the weights are random.
--tiny  wav2lip_tiny.onnx: a few layers with the same inputs and outputs, for fast tests. Its inputs
        carry other names (`mel`, `image`), as some public ONNX ports do, so name matching by shape
        is exercised.

These are test fixtures. They are never installed as the user's models.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class RandomWeights:
    """Deterministic random weights (He-style scale), drawn in the order the builder asks for them."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def conv(self, key, weight_shape, fan_in, gain):
        weight = (self.rng.standard_normal(weight_shape) * gain * np.sqrt(2.0 / fan_in)).astype(np.float32)
        channels = weight_shape[1] if key.transpose else weight_shape[0]
        bias = (self.rng.standard_normal(channels) * 0.01).astype(np.float32)
        return weight, bias


class ConvKey(str):
    """The state-dict prefix of one convolution (e.g. `audio_encoder.3`), and whether it is a transpose."""

    def __new__(cls, prefix, transpose=False, plain=False):
        key = super().__new__(cls, prefix)
        key.transpose = transpose
        # Wav2Lip's blocks hold the convolution at `<prefix>.conv_block.0`; its last layer is a plain conv.
        key.weight_name = f"{prefix}.weight" if plain else f"{prefix}.conv_block.0.weight"
        key.bias_name = f"{prefix}.bias" if plain else f"{prefix}.conv_block.0.bias"
        return key


class GraphBuilder:
    """Builds an ONNX graph of convolutions whose weights come from `weights` (RandomWeights, or real
    checkpoint weights from convert_wav2lip.py). Initializers are named after Wav2Lip's state keys."""

    def __init__(self, weights):
        self.weights = weights
        self.nodes, self.initializers = [], []
        self.counter = 0
        self.parameters = 0
        self.macs = 0  # per frame

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def tensor(self, data, name):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(data, dtype=np.float32), name))
        self.parameters += data.size
        return name

    def parameters_of(self, key, shape, fan_in, gain):
        if not isinstance(key, ConvKey):
            key = ConvKey(key or self.name("conv"), transpose=False, plain=True)
        weight, bias = self.weights.conv(key, shape, fan_in, gain)
        return self.tensor(weight, key.weight_name), self.tensor(bias, key.bias_name)

    def conv(self, x, cin, cout, kernel, stride, pad, out_hw, gain=1.0, key=None):
        k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        s = stride if isinstance(stride, tuple) else (stride, stride)
        w, b = self.parameters_of(key, (cout, cin, k[0], k[1]), cin * k[0] * k[1], gain)
        y = self.name("conv")
        self.nodes.append(helper.make_node("Conv", [x, w, b], [y], kernel_shape=list(k),
                                           strides=list(s), pads=[pad, pad, pad, pad]))
        self.macs += cout * cin * k[0] * k[1] * out_hw[0] * out_hw[1]
        return y

    def conv_transpose(self, x, cin, cout, kernel, stride, pad, output_padding, out_hw, key):
        w, b = self.parameters_of(ConvKey(key, transpose=True), (cin, cout, kernel, kernel),
                                  cin * kernel * kernel // (stride * stride), 1.0)
        y = self.name("deconv")
        self.nodes.append(helper.make_node("ConvTranspose", [x, w, b], [y],
                                           kernel_shape=[kernel, kernel], strides=[stride, stride],
                                           pads=[pad, pad, pad, pad],
                                           output_padding=[output_padding, output_padding]))
        in_h = (out_hw[0] + 2 * pad - kernel - output_padding) // stride + 1
        self.macs += cin * cout * kernel * kernel * in_h * in_h
        return y

    def op(self, kind, inputs, **attributes):
        y = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [y], **attributes))
        return y

    # Wav2Lip's Conv2d block: conv + (folded) batch norm + ReLU, with an optional residual add before the ReLU.
    def block(self, x, cin, cout, kernel, stride, pad, out_hw, key, residual=False):
        y = self.conv(x, cin, cout, kernel, stride, pad, out_hw, gain=0.5 if residual else 1.0, key=ConvKey(key))
        if residual:
            y = self.op("Add", [y, x])
        return self.op("Relu", [y])

    def up_block(self, x, cin, cout, kernel, stride, pad, output_padding, out_hw, key):
        return self.op("Relu", [self.conv_transpose(x, cin, cout, kernel, stride, pad, output_padding, out_hw, key)])


def wav2lip(weights, width=1):
    """The Wav2Lip generator with weights from `weights`. `width` divides every channel count except
    the inputs' and the output's (1: the real model; larger: a reduced model of the same structure)."""
    g = GraphBuilder(weights)
    face, audio = "face_sequences", "audio_sequences"

    def c(n):
        return n // width

    # Face encoder: 96 -> 48 -> 24 -> 12 -> 6 -> 3 -> 1, keeping each stage's output for the skips.
    skips = []
    x = g.block(face, 6, c(16), 7, 1, 3, (96, 96), "face_encoder_blocks.0.0"); skips.append(x)
    stages = [(16, 32, 48, 2), (32, 64, 24, 3), (64, 128, 12, 2), (128, 256, 6, 2), (256, 512, 3, 1)]
    for stage, (cin, cout, hw, residuals) in enumerate(stages, start=1):
        x = g.block(x, c(cin), c(cout), 3, 2, 1, (hw, hw), f"face_encoder_blocks.{stage}.0")
        for r in range(1, residuals + 1):
            x = g.block(x, c(cout), c(cout), 3, 1, 1, (hw, hw), f"face_encoder_blocks.{stage}.{r}", residual=True)
        skips.append(x)
    x = g.block(x, c(512), c(512), 3, 1, 0, (1, 1), "face_encoder_blocks.6.0")
    x = g.block(x, c(512), c(512), 1, 1, 0, (1, 1), "face_encoder_blocks.6.1"); skips.append(x)

    # Audio encoder: [1, 80, 16] -> [512, 1, 1].
    layers = [(1, 32, 1, 1, (80, 16), False), (32, 32, 1, 1, (80, 16), True), (32, 32, 1, 1, (80, 16), True),
              (32, 64, (3, 1), 1, (27, 16), False), (64, 64, 1, 1, (27, 16), True), (64, 64, 1, 1, (27, 16), True),
              (64, 128, 3, 1, (9, 6), False), (128, 128, 1, 1, (9, 6), True), (128, 128, 1, 1, (9, 6), True),
              (128, 256, (3, 2), 1, (3, 3), False), (256, 256, 1, 1, (3, 3), True),
              (256, 512, 1, 0, (1, 1), False), (512, 512, 1, 0, (1, 1), False)]
    a = audio
    for index, (cin, cout, stride, pad, hw, residual) in enumerate(layers):
        kernel = 1 if index == len(layers) - 1 else 3
        a = g.block(a, 1 if index == 0 else c(cin), c(cout), kernel, stride, pad, hw, f"audio_encoder.{index}", residual=residual)

    # Face decoder: each stage is concatenated with the matching encoder output.
    x = g.block(a, c(512), c(512), 1, 1, 0, (1, 1), "face_decoder_blocks.0.0")
    x = g.op("Concat", [x, skips.pop()], axis=1)                       # 1024 x 1 x 1
    x = g.up_block(x, c(1024), c(512), 3, 1, 0, 0, (3, 3), "face_decoder_blocks.1.0")
    x = g.block(x, c(512), c(512), 3, 1, 1, (3, 3), "face_decoder_blocks.1.1", residual=True)
    x = g.op("Concat", [x, skips.pop()], axis=1)                       # 1024 x 3 x 3
    decoder = [(1024, 512, 6), (768, 384, 12), (512, 256, 24), (320, 128, 48), (160, 64, 96)]
    for stage, (cin, cout, hw) in enumerate(decoder, start=2):
        x = g.up_block(x, c(cin), c(cout), 3, 2, 1, 1, (hw, hw), f"face_decoder_blocks.{stage}.0")
        x = g.block(x, c(cout), c(cout), 3, 1, 1, (hw, hw), f"face_decoder_blocks.{stage}.1", residual=True)
        x = g.block(x, c(cout), c(cout), 3, 1, 1, (hw, hw), f"face_decoder_blocks.{stage}.2", residual=True)
        x = g.op("Concat", [x, skips.pop()], axis=1)
    # Output block: 80 -> 32 (block) -> 3 (plain conv) -> sigmoid.
    x = g.block(x, c(80), c(32), 3, 1, 1, (96, 96), "output_block.0")
    # A small gain on the last layer keeps random activations out of the sigmoid's flat ends, so the
    # output varies like an image instead of saturating to 0 and 1.
    x = g.conv(x, c(32), 3, 1, 1, 0, (96, 96), gain=0.02, key=ConvKey("output_block.1", plain=True))
    g.nodes.append(helper.make_node("Sigmoid", [x], ["output"]))
    return g, audio, face


def tiny(seed):
    g = GraphBuilder(RandomWeights(seed))
    mel, image = "mel", "image"
    a = g.op("Relu", [g.conv(mel, 1, 8, 3, 1, 1, (80, 16))])
    a = g.op("GlobalAveragePool", [a])
    f = g.op("Relu", [g.conv(image, 6, 8, 3, 1, 1, (96, 96))])
    x = g.op("Add", [f, a])
    x = g.conv(x, 8, 3, 1, 1, 0, (96, 96))
    g.nodes.append(helper.make_node("Sigmoid", [x], ["output"]))
    return g, mel, image


def save(g, audio_name, face_name, path, graph_name, quiet=False, metadata=None):
    inputs = [helper.make_tensor_value_info(audio_name, TensorProto.FLOAT, ["batch", 1, 80, 16]),
              helper.make_tensor_value_info(face_name, TensorProto.FLOAT, ["batch", 6, 96, 96])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 96, 96])]
    graph = helper.make_graph(g.nodes, graph_name, inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="lipsync-test-models")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)
    if not quiet:
        print(f"{path}: {g.parameters / 1e6:.1f} M parameters, {2 * g.macs / 1e9:.2f} GFLOP per frame")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if not (args.full or args.tiny):
        parser.error("choose --full and/or --tiny")
    os.makedirs(args.out_dir, exist_ok=True)
    if args.tiny:
        save(*tiny(args.seed), os.path.join(args.out_dir, "wav2lip_tiny.onnx"), "wav2lip_tiny")
    if args.full:
        save(*wav2lip(RandomWeights(args.seed)), os.path.join(args.out_dir, "wav2lip_random.onnx"), "wav2lip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
