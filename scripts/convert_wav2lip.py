#!/usr/bin/env python3
"""Converts a Wav2Lip generator checkpoint (.pth / .pt) to ONNX without PyTorch.

  convert_wav2lip.py IN -o OUT.onnx [--kind gan|nogan] [--split] [--info INFO.json]

Reads the three ways PyTorch stores weights:
  torch zip     torch.save since 1.6: <root>/data.pkl with each tensor storage in <root>/data/<key>;
  legacy        torch.save before 1.6: consecutive pickles (magic number, protocol, system info, the
                object, the storage keys), then each storage as an int64 element count and its bytes;
  TorchScript   torch.jit.save: a zip that also holds constants.pkl and code/; parameters and buffers
                are read from the module's attributes by path.
Pickles are read with a whitelist: ordered dicts, tensors rebuilt as strided copies of their storage,
typed storages, and (TorchScript only) inert placeholders for the module classes. Nothing from the file
is ever imported or executed; anything else is refused with the name of what the file asked for.

The state dict (training checkpoints keep it under "state_dict"; a "module." prefix is stripped) must be
the Wav2Lip generator's: 352 keys, or 102 when batch norm is already folded. Each BatchNorm (eps 1e-5) is
folded into its convolution, and the graph is the one scripts/make_test_models.py builds, with
initializers named after the state keys. --split also writes OUT.face.onnx and OUT.decoder.onnx
(scripts/split_wav2lip.py). Outputs appear complete or not at all. On failure: exit status 1 and one
line on stderr naming the file and what was found.
"""
import argparse
import collections
import hashlib
import json
import os
import pickle
import re
import struct
import sys
import time
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_models  # noqa: E402  (the graph builder)
import split_wav2lip  # noqa: E402

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
BATCH_NORM_EPS = 1e-5
FORMATS = {"zip": "torch zip (torch >= 1.6)", "legacy": "legacy torch.save (torch < 1.6)", "torchscript": "TorchScript"}


class ConversionError(Exception):
    pass


# --- Whitelisted unpickling ---------------------------------------------------------------------------

class StorageType:
    """What `torch.FloatStorage` and friends stand for in a pickle: an element type."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"torch.{self.name}"


STORAGE_TYPES = {name: StorageType(name, dtype) for name, dtype in [
    ("FloatStorage", np.dtype("<f4")), ("DoubleStorage", np.dtype("<f8")), ("HalfStorage", np.dtype("<f2")),
    ("BFloat16Storage", np.dtype("<u2")), ("LongStorage", np.dtype("<i8")), ("IntStorage", np.dtype("<i4")),
    ("ShortStorage", np.dtype("<i2")), ("CharStorage", np.dtype("i1")), ("ByteStorage", np.dtype("u1")),
    ("BoolStorage", np.dtype("?"))]}


class Storage:
    """A storage the file holds: its element type, element count and a way to read its bytes."""

    def __init__(self, key, kind, numel, read):
        self.key, self.kind, self.numel, self._read = key, kind, numel, read

    def array(self):
        data = self._read(self.key, self.numel * self.kind.dtype.itemsize)
        if len(data) != self.numel * self.kind.dtype.itemsize:
            raise ConversionError(f"storage {self.key} holds {len(data)} bytes, expected "
                                  f"{self.numel * self.kind.dtype.itemsize}: the file is truncated")
        values = np.frombuffer(data, dtype=self.kind.dtype)
        if self.kind.name == "BFloat16Storage":
            values = (values.astype(np.uint32) << 16).view(np.float32)
        return values


class LazyTensor:
    """A tensor as the pickle describes it; its values are read only when needed (the optimizer state of
    a training checkpoint is most of the file and is never read)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.shape, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def numpy(self):
        if any(s < 0 for s in self.shape) or any(s < 0 for s in self.stride) or len(self.shape) != len(self.stride):
            raise ConversionError(f"a tensor has an invalid layout (size {self.shape}, stride {self.stride})")
        count = int(np.prod(self.shape)) if self.shape else 1
        if count == 0:
            return np.zeros(self.shape, dtype=np.float32)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if self.offset < 0 or last >= self.storage.numel:
            raise ConversionError(f"a tensor reads past the end of storage {self.storage.key}")
        values = self.storage.array()
        item = values.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(values[self.offset:], shape=self.shape,
                                               strides=[s * item for s in self.stride], writeable=False)
        return np.array(view, dtype=np.float32)


def rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    if not isinstance(storage, Storage):
        raise ConversionError("a tensor without a storage")
    return LazyTensor(storage, storage_offset, size, stride)


def rebuild_parameter(data, *_ignored):
    return data


def passthrough(value, *_ignored):
    return value


class ScriptObject:
    """Stands for a TorchScript class (`__torch__.…`): keeps the attributes the pickle gives it."""

    qualified_name = "__torch__"

    def __setstate__(self, state):
        self.state = state


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
}
# TorchScript pickles wrap lists and type tags in these helpers; here they return their argument.
SCRIPT_GLOBALS = {("torch.jit._pickle", name): passthrough for name in
                  ["build_intlist", "build_doublelist", "build_boollist", "build_tensorlist", "restore_type_tag"]}


class CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, file, storages, script=False):
        super().__init__(file)
        self.storages, self.script, self.script_classes = storages, script, {}

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module == "torch" and name in STORAGE_TYPES:
            return STORAGE_TYPES[name]
        if self.script and (module, name) in SCRIPT_GLOBALS:
            return SCRIPT_GLOBALS[(module, name)]
        if self.script and (module == "__torch__" or module.startswith("__torch__.")):
            qualified = f"{module}.{name}"
            if qualified not in self.script_classes:
                self.script_classes[qualified] = type(name, (ScriptObject,), {"qualified_name": qualified})
            return self.script_classes[qualified]
        raise ConversionError(f"it is a pickle that asks for {module}.{name}, which a PyTorch checkpoint never needs; "
                              "refusing to load it")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ConversionError(f"it refers to an external object {pid!r:.80}, not a tensor storage")
        kind, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(kind, StorageType):
            raise ConversionError(f"it holds a storage of unknown type {kind!r:.60}")
        storage = self.storages(key, kind, int(numel))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy views: (view key, offset, size) of a root storage
            _view_key, offset, size = view
            root = storage
            storage = Storage(f"{key}[{offset}:{offset + size}]", kind, int(size),
                              lambda _k, _n: root._read(root.key, root.numel * kind.dtype.itemsize)[
                                  offset * kind.dtype.itemsize:(offset + size) * kind.dtype.itemsize])
        return storage


# --- The three file formats ----------------------------------------------------------------------------

def load_checkpoint(path):
    """(format, object) for the file at `path`."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head[:2] == b"PK":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise ConversionError(f"it looks like a zip archive but cannot be read ({error}): truncated or damaged")
        return load_zip(archive)
    if head[:1] == b"\x80":
        return "legacy", load_legacy(path)
    if head[:4] == b"\x08\x01\x12\x00" or head[:1] == b"\x08":
        raise ConversionError("it looks like an ONNX model, not a PyTorch checkpoint; name it .onnx")
    raise ConversionError(f"it is not a PyTorch checkpoint (it starts with bytes {head.hex()}; "
                          "expected a zip archive or a pickle)")


def load_zip(archive):
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pickles:
        raise ConversionError(f"it is a zip archive without data.pkl (it holds {', '.join(names[:4])}…), "
                              "not a PyTorch checkpoint")
    root = pickles[0][:-len("/data.pkl")]
    byteorder = f"{root}/byteorder"
    if byteorder in names and archive.read(byteorder).strip() not in (b"little", b""):
        raise ConversionError("its tensors are stored big-endian; only little-endian checkpoints are supported")
    script = f"{root}/constants.pkl" in names and any(n.startswith(f"{root}/code/") for n in names)

    def read(folder):
        def reader(key, _nbytes):
            try:
                return archive.read(f"{root}/{folder}/{key}")
            except KeyError:
                raise ConversionError(f"storage {key} is missing from the archive: truncated or damaged")
            except (zipfile.BadZipFile, EOFError, OSError) as error:
                raise ConversionError(f"storage {key} cannot be read ({error}): truncated or damaged")
        return reader

    def unpickle(name, folder):
        storages = {}

        def storage(key, kind, numel):
            if key not in storages:
                storages[key] = Storage(key, kind, numel, read(folder))
            return storages[key]
        with archive.open(name) as handle:
            return CheckpointUnpickler(handle, storage, script=script).load()

    try:
        obj = unpickle(f"{root}/data.pkl", "data")
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise ConversionError(f"its data.pkl cannot be read ({error}): truncated or not a PyTorch checkpoint")
    return ("torchscript" if script else "zip"), obj


def load_legacy(path):
    handle = open(path, "rb")
    storages = {}

    def storage(key, kind, numel):
        if key not in storages:
            storages[key] = Storage(key, kind, numel, lambda k, n: read_legacy(k, n))
        return storages[key]

    offsets = {}

    def read_legacy(key, nbytes):
        if key not in offsets:
            raise ConversionError(f"storage {key} is not in the file's list of storages")
        handle.seek(offsets[key])
        return handle.read(nbytes)

    try:
        magic = CheckpointUnpickler(handle, storage).load()
        if magic != LEGACY_MAGIC:
            raise ConversionError("it is a pickle but not a PyTorch checkpoint (no torch.save magic number)")
        protocol = CheckpointUnpickler(handle, storage).load()
        if protocol != LEGACY_PROTOCOL:
            raise ConversionError(f"it is a torch.save file of protocol {protocol!r}, expected {LEGACY_PROTOCOL}")
        info = CheckpointUnpickler(handle, storage).load()
        if isinstance(info, dict) and info.get("little_endian") is False:
            raise ConversionError("its tensors are stored big-endian; only little-endian checkpoints are supported")
        obj = CheckpointUnpickler(handle, storage).load()
        keys = CheckpointUnpickler(handle, storage).load()
    except ConversionError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as error:
        raise ConversionError(f"its pickles cannot be read ({type(error).__name__}: {error}): truncated, "
                              "or not a PyTorch checkpoint")
    if not isinstance(keys, list):
        raise ConversionError("its list of storages is missing: truncated or not a PyTorch checkpoint")
    # Storages follow in the listed order, each an int64 element count then its bytes; index them by key.
    size = os.fstat(handle.fileno()).st_size
    position = handle.tell()
    for key in keys:
        key = str(key)
        handle.seek(position)
        count = handle.read(8)
        if len(count) < 8:
            raise ConversionError(f"storage {key} is missing at the end of the file: truncated")
        (numel,) = struct.unpack("<q", count)
        kind = storages[key].kind if key in storages else STORAGE_TYPES["FloatStorage"]
        offsets[key] = position + 8
        position += 8 + numel * kind.dtype.itemsize
        if numel < 0 or position > size:
            raise ConversionError(f"storage {key} ends past the end of the file ({size} bytes): truncated")
    return obj


# --- The state dict -------------------------------------------------------------------------------------

def flatten_script_module(obj, prefix=""):
    """Parameters and buffers of a TorchScript module tree, by attribute path."""
    tensors = collections.OrderedDict()
    state = getattr(obj, "state", None)
    if not isinstance(state, dict):
        return tensors
    for name, value in state.items():
        if isinstance(value, LazyTensor):
            tensors[prefix + name] = value
        elif isinstance(value, ScriptObject):
            tensors.update(flatten_script_module(value, f"{prefix}{name}."))
    return tensors


def find_state_dict(obj):
    """(state dict with `module.` stripped, training info) from whatever the checkpoint holds."""
    info = {}
    if isinstance(obj, ScriptObject):
        tensors = flatten_script_module(obj)
        info["module"] = obj.qualified_name
    elif isinstance(obj, dict) and obj and all(isinstance(v, LazyTensor) for v in obj.values()):
        tensors = obj
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        tensors = obj["state_dict"]
        for name in ("global_step", "global_epoch"):
            if isinstance(obj.get(name), int):
                info[name] = obj[name]
    else:
        found = f"a dict with keys {', '.join(map(str, list(obj)[:6]))}" if isinstance(obj, dict) else type(obj).__name__
        raise ConversionError(f"it holds {found}, not a Wav2Lip state dict")
    state = collections.OrderedDict()
    for key, value in tensors.items():
        if not isinstance(value, LazyTensor):
            continue
        key = str(key)
        state[key[len("module."):] if key.startswith("module.") else key] = value
    return state, info


def describe_foreign(state):
    keys = list(state)
    if any(k.startswith("face_encoder.") for k in keys) and any(k.startswith("audio_encoder.") for k in keys):
        return "a SyncNet (lip-sync expert) checkpoint, not the Wav2Lip generator"
    if any(k.startswith("binary_pred") for k in keys):
        return "the Wav2Lip GAN discriminator, not the generator"
    return f"{len(keys)} tensors such as {', '.join(keys[:3])}, not the Wav2Lip generator's 352"


class StateDictWeights:
    """The builder's weight source for a real checkpoint: each convolution with its BatchNorm folded in."""

    TRANSPOSED = re.compile(r"^face_decoder_blocks\.[1-6]\.0$")

    def __init__(self, state):
        self.state, self.used, self.folded = state, set(), 0

    def take(self, key, shape=None):
        if key not in self.state:
            raise ConversionError(f"{key} is missing: " + describe_foreign(self.state))
        self.used.add(key)
        value = self.state[key].numpy()
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ConversionError(f"{key} has shape {list(value.shape)}; the Wav2Lip generator has {list(shape)} "
                                  "(another architecture or width)")
        return value

    def conv(self, key, weight_shape, _fan_in, _gain):
        transposed = bool(self.TRANSPOSED.match(key))
        assert transposed == key.transpose, f"{key}: the builder and the state keys disagree on ConvTranspose"
        out_axis = 1 if transposed else 0
        channels = weight_shape[out_axis]
        weight = self.take(key.weight_name, weight_shape)
        bias = self.take(key.bias_name, (channels,))
        norm = f"{key}.conv_block.1"
        if key.weight_name.endswith(".conv_block.0.weight") and f"{norm}.weight" in self.state:
            gamma, beta = self.take(f"{norm}.weight", (channels,)), self.take(f"{norm}.bias", (channels,))
            mean, var = self.take(f"{norm}.running_mean", (channels,)), self.take(f"{norm}.running_var", (channels,))
            if f"{norm}.num_batches_tracked" in self.state:
                self.used.add(f"{norm}.num_batches_tracked")
            scale = gamma / np.sqrt(var.astype(np.float64) + BATCH_NORM_EPS)
            shape = [1, 1, 1, 1]
            shape[out_axis] = channels
            weight = (weight.astype(np.float64) * scale.reshape(shape)).astype(np.float32)
            bias = ((bias - mean) * scale + beta).astype(np.float32)
            self.folded += 1
        return weight, bias


def build(state):
    """The ONNX graph (builder, input names) for a Wav2Lip state dict."""
    first = "face_encoder_blocks.0.0.conv_block.0.weight"
    if first not in state:
        raise ConversionError(describe_foreign(state).replace("a ", "it is a ", 1) if state else "it holds no tensors")
    channels = state[first].shape[0] if state[first].shape else 0
    if channels not in (16, 8, 4, 2, 1):
        raise ConversionError(f"{first} has shape {list(state[first].shape)}; the Wav2Lip generator has [16, 6, 7, 7]")
    width = 16 // channels
    weights = StateDictWeights(state)
    graph, audio, face = make_test_models.wav2lip(weights, width=width)
    unused = [k for k in state if k not in weights.used]
    if unused:
        raise ConversionError(f"it has {len(unused)} tensors the Wav2Lip generator does not, such as "
                              f"{', '.join(unused[:3])} (another architecture)")
    return graph, audio, face, width, weights.folded


# --- Writing --------------------------------------------------------------------------------------------

def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kind_from_name(name):
    lowered = os.path.basename(name).lower()
    return "gan" if "gan" in lowered.replace("nogan", "") else "nogan"


def convert(source, output, kind=None, split=False, info_path=None, digest=None, log=lambda message: None):
    start = time.time()
    fmt, obj = load_checkpoint(source)
    state, training = find_state_dict(obj)
    graph, audio, face, width, folded = build(state)
    kind = kind or kind_from_name(source)
    stem = output[:-5] if output.endswith(".onnx") else output
    finals = [output] + ([stem + ".face.onnx", stem + ".decoder.onnx"] if split else [])
    staging = f"{stem}.converting-{os.getpid()}"
    temporaries = [staging + ".onnx", staging + ".face.onnx", staging + ".decoder.onnx"]
    try:
        log(f"read {FORMATS[fmt]} checkpoint: {len(state)} state keys, {graph.parameters:,} parameters after "
            f"folding {folded} batch norms")
        make_test_models.save(graph, audio, face, temporaries[0], f"wav2lip_{kind}", quiet=True,
                              metadata={"lipsync.source": os.path.basename(source), "lipsync.format": FORMATS[fmt],
                                        "lipsync.kind": kind})
        if split:
            split_wav2lip.split(temporaries[0])
        for temporary, final in zip(temporaries, finals):
            os.replace(temporary, final)
    finally:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
    parameters = sum(int(np.prod(v.shape)) for k, v in state.items()
                     if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    info = {"source": os.path.basename(source), "sha256": digest or sha256(source), "format": FORMATS[fmt], "kind": kind,
            "state_keys": len(state), "parameters": parameters, "folded_batch_norms": folded,
            "width_divisor": width, "seconds": round(time.time() - start, 2), **training}
    if info_path:
        with open(info_path + ".tmp", "w") as handle:
            json.dump(info, handle, indent=2, sort_keys=True)
        os.replace(info_path + ".tmp", info_path)
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("-o", "--output", required=True, help="the ONNX file to write")
    parser.add_argument("--kind", choices=["gan", "nogan"], help="default: from the file name (gan unless it says nogan)")
    parser.add_argument("--split", action="store_true", help="also write OUT.face.onnx and OUT.decoder.onnx")
    parser.add_argument("--info", help="write a JSON description of the source here")
    parser.add_argument("--sha256", help="the checkpoint's SHA-256, when the caller has it already")
    args = parser.parse_args()
    try:
        if not os.path.isfile(args.checkpoint):
            raise ConversionError("no such file")
        info = convert(args.checkpoint, args.output, args.kind, args.split, args.info, args.sha256,
                       log=lambda message: print(message, file=sys.stderr, flush=True))
    except ConversionError as error:
        print(f"{args.checkpoint}: {error}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{args.checkpoint}: not enough memory to convert it", file=sys.stderr)
        return 1
    print(json.dumps(info, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
