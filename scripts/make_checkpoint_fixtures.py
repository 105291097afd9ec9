#!/usr/bin/env python3
"""Writes random-weight Wav2Lip generator checkpoints with PyTorch, the way the original project saves
them, for checking scripts/convert_wav2lip.py. PyTorch is NOT a dependency of the project: run this
once in a throwaway environment (python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch).

  make_checkpoint_fixtures.py --small DIR   reduced-channel model (every width / 16), the three formats,
                                            fixed inputs and PyTorch's outputs (the committed test fixture)
  make_checkpoint_fixtures.py --full DIR    wav2lip.pth (legacy format) and wav2lip_gan.pth (zip format):
                                            full-size training checkpoints with Adam state, ~416 MB each

The model below is the Wav2Lip generator's layer structure (face encoder, audio encoder, face decoder
with skips, output block) written out for this check; its state keys are the original's.
"""
import argparse
import os

import numpy as np
import torch
from torch import nn


class Conv2d(nn.Module):
    def __init__(self, cin, cout, kernel, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x):
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class Conv2dTranspose(nn.Module):
    def __init__(self, cin, cout, kernel, stride, padding, output_padding=0):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv_block(x))


class Wav2LipGenerator(nn.Module):
    def __init__(self, width=1):
        super().__init__()

        def c(n):
            return n // width

        def res(n):
            return Conv2d(c(n), c(n), 3, 1, 1, residual=True)

        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, c(16), 7, 1, 3)),
            nn.Sequential(Conv2d(c(16), c(32), 3, 2, 1), res(32), res(32)),
            nn.Sequential(Conv2d(c(32), c(64), 3, 2, 1), res(64), res(64), res(64)),
            nn.Sequential(Conv2d(c(64), c(128), 3, 2, 1), res(128), res(128)),
            nn.Sequential(Conv2d(c(128), c(256), 3, 2, 1), res(256), res(256)),
            nn.Sequential(Conv2d(c(256), c(512), 3, 2, 1), res(512)),
            nn.Sequential(Conv2d(c(512), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0)),
        ])
        self.audio_encoder = nn.Sequential(
            Conv2d(1, c(32), 3, 1, 1), res(32), res(32),
            Conv2d(c(32), c(64), 3, (3, 1), 1), res(64), res(64),
            Conv2d(c(64), c(128), 3, 3, 1), res(128), res(128),
            Conv2d(c(128), c(256), 3, (3, 2), 1), res(256),
            Conv2d(c(256), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0))
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(c(512), c(512), 1, 1, 0)),
            nn.Sequential(Conv2dTranspose(c(1024), c(512), 3, 1, 0), res(512)),
            nn.Sequential(Conv2dTranspose(c(1024), c(512), 3, 2, 1, 1), res(512), res(512)),
            nn.Sequential(Conv2dTranspose(c(768), c(384), 3, 2, 1, 1), res(384), res(384)),
            nn.Sequential(Conv2dTranspose(c(512), c(256), 3, 2, 1, 1), res(256), res(256)),
            nn.Sequential(Conv2dTranspose(c(320), c(128), 3, 2, 1, 1), res(128), res(128)),
            nn.Sequential(Conv2dTranspose(c(160), c(64), 3, 2, 1, 1), res(64), res(64)),
        ])
        self.output_block = nn.Sequential(Conv2d(c(80), c(32), 3, 1, 1), nn.Conv2d(c(32), 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio_sequences, face_sequences):
        audio = self.audio_encoder(audio_sequences)
        features = []
        x = face_sequences
        for block in self.face_encoder_blocks:
            x = block(x)
            features.append(x)
        x = audio
        for block in self.face_decoder_blocks:
            x = block(x)
            x = torch.cat((x, features[-1]), dim=1)
            features.pop()
        return self.output_block(x)


def randomise(model, seed):
    """Random weights and batch-norm statistics (so folding is exercised), scaled to keep activations
    in range through 50 layers."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = module.weight[0].numel() if isinstance(module, nn.Conv2d) else module.weight.shape[0] * 9 // 4
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (1.0 / fan_in) ** 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.05)
            elif isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=generator))
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.num_batches_tracked.fill_(1000)
    model.eval()
    return model


def training_checkpoint(model, prefix="", adam=True):
    """What the original training script saves: state dict, optimizer state (Adam, as the original
    uses; SGD with momentum for a smaller file), step and epoch."""
    optimizer = (torch.optim.Adam(model.parameters(), lr=1e-4) if adam
                 else torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9))
    mel, face = torch.randn(2, 1, 80, 16), torch.rand(2, 6, 96, 96)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model(mel, face).mean().backward()
    optimizer.step()
    model.load_state_dict(state)  # the weights saved are the random ones; the optimizer state is real
    model.eval()
    state_dict = {prefix + k: v for k, v in model.state_dict().items()}
    return {"state_dict": state_dict, "optimizer": optimizer.state_dict(), "global_step": 300000, "global_epoch": 42}


def small(directory):
    os.makedirs(directory, exist_ok=True)
    model = randomise(Wav2LipGenerator(width=16), seed=11)
    torch.save(training_checkpoint(model, prefix="module."), os.path.join(directory, "wav2lip_small_zip.pth"))
    torch.save(training_checkpoint(model, adam=False), os.path.join(directory, "wav2lip_small_legacy.pth"),
               _use_new_zipfile_serialization=False)
    rng = np.random.default_rng(5)
    mel = rng.standard_normal((1, 1, 80, 16)).astype(np.float32) * 2 - 4
    face = rng.random((1, 6, 96, 96)).astype(np.float32)
    face[:, :3, 48:] = 0  # the masked half, as Wav2Lip's inputs have it
    with torch.no_grad():
        traced = torch.jit.trace(model, (torch.from_numpy(mel), torch.from_numpy(face)))
        traced.save(os.path.join(directory, "wav2lip_small_torchscript.pt"))
        output = model(torch.from_numpy(mel), torch.from_numpy(face)).numpy()
    np.save(os.path.join(directory, "mel.npy"), mel)
    np.save(os.path.join(directory, "face.npy"), face)
    np.save(os.path.join(directory, "output.npy"), output)
    print(f"{directory}: output std {output.std():.4f}, range {output.min():.3f}..{output.max():.3f}")


def full(directory):
    os.makedirs(directory, exist_ok=True)
    for name, seed, legacy in [("wav2lip.pth", 1, True), ("wav2lip_gan.pth", 2, False)]:
        model = randomise(Wav2LipGenerator(), seed=seed)
        parameters = sum(p.numel() for p in model.parameters())
        path = os.path.join(directory, name)
        torch.save(training_checkpoint(model), path, _use_new_zipfile_serialization=not legacy)
        print(f"{path}: {parameters:,} parameters, {len(model.state_dict())} state keys, "
              f"{os.path.getsize(path) / 1e6:.0f} MB ({'legacy' if legacy else 'zip'} format)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small")
    parser.add_argument("--full")
    args = parser.parse_args()
    if args.small:
        small(args.small)
    if args.full:
        full(args.full)


if __name__ == "__main__":
    main()
