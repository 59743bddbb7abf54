#!/usr/bin/python3
"""Makes the ONNX test files of OnnxTest and OnnxFormsTest with PyTorch (Debian's python3-torch, 1.13).

Run from this directory: /usr/bin/python3 export_pytorch.py [NAME ...]   (no names: all of them)
For each model it writes NAME.onnx, NAME.inputs.f32 (the test inputs) and NAME.expected.f32 (PyTorch's
outputs for them), the .f32 files as raw little-endian float32, row after row. The two files with a
`Gelu` node (opset 20, which torch 1.13 cannot export) are written with Debian's python3-onnx from a
PyTorch model's weights, their expected outputs computed by PyTorch. train_step_* is the reference of
LayerNormTrainingTest: one SGD step of a network with GELU, SiLU and layer norms, as safetensors files.
"""
import json
import struct
import sys

import torch
from torch import nn


class MatMulAdd(nn.Module):
    """x @ W + b written out (exports as MatMul and Add, not Gemm), a reshape of a 2x3 input, LeakyReLU."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w1 = nn.Parameter(torch.randn(6, 9, generator=g) * 0.5)
        self.b1 = nn.Parameter(torch.randn(9, generator=g) * 0.1)
        self.w2 = nn.Parameter(torch.randn(9, 4, generator=g) * 0.5)
        self.b2 = nn.Parameter(torch.randn(4, generator=g) * 0.1)
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x):
        x = x.reshape(-1, 6)
        x = self.act(x @ self.w1 + self.b1)
        return x @ self.w2 + self.b2


WANTED = set(sys.argv[1:])


def wanted(name):
    return not WANTED or name in WANTED


def write_example(name, model, example):
    with torch.no_grad():
        expected = model(example)
    example.contiguous().numpy().astype("<f4").tofile(name + ".inputs.f32")
    expected.contiguous().numpy().astype("<f4").tofile(name + ".expected.f32")
    print(name, tuple(example.shape), "->", tuple(expected.shape))


def export(name, model, example, opset=13):
    if not wanted(name):
        return
    model.eval()
    torch.onnx.export(model, example, name + ".onnx", input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=opset)
    write_example(name, model, example)


def far_from_identity(bn, g):
    """Running statistics and affine parameters a freshly made BatchNorm1d would not have."""
    n = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(n, generator=g) * 3)
        bn.running_var.copy_(torch.rand(n, generator=g) * 5 + 0.2)
        bn.weight.copy_(torch.randn(n, generator=g) * 1.5)
        bn.bias.copy_(torch.randn(n, generator=g))
    return bn


def random_affine(norm, g):
    with torch.no_grad():
        norm.weight.copy_(1 + torch.randn(norm.weight.shape, generator=g) * 0.5)
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=g) * 0.5)
    return norm


class InputScaling(nn.Module):
    """(x - mean) / std with per-feature constant tensors in the graph, then a plain MLP."""

    def __init__(self, g):
        super().__init__()
        self.register_buffer("mean", torch.randn(7, generator=g) * 4)
        self.register_buffer("std", torch.rand(7, generator=g) * 3 + 0.5)
        self.net = nn.Sequential(nn.Linear(7, 11), nn.ReLU(), nn.Linear(11, 4), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def gelu_op_model(name, approximate, g):
    """Gemm -> Gelu(approximate) -> Gemm as opset 20 writes it, weights from a torch model."""
    if not wanted(name):
        return
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    torch_model = nn.Sequential(nn.Linear(6, 10), nn.GELU(approximate=approximate), nn.Linear(10, 3)).eval()
    for p in torch_model.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g))
    inits = [numpy_helper.from_array(t.detach().numpy(), n) for n, t in
             [("w1", torch_model[0].weight), ("b1", torch_model[0].bias), ("w2", torch_model[2].weight), ("b2", torch_model[2].bias)]]
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["z1"], name="fc1", transB=1),
             helper.make_node("Gelu", ["z1"], ["a1"], name="gelu", approximate=approximate),
             helper.make_node("Gemm", ["a1", "w2", "b2"], ["output"], name="fc2", transB=1)]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 6])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 8
    with open(name + ".onnx", "wb") as f:
        f.write(model.SerializeToString())
    write_example(name, torch_model, torch.randn(9, 6, generator=g) * 2)


def safetensors(path, tensors, metadata):
    """A safetensors file (F32) as vectorprop reads it: 8-byte header length, JSON header, data."""
    header, data, offset = {"__metadata__": metadata}, b"", 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


class TrainNet(nn.Module):
    """6 -> 8 (GELU, then LayerNorm) -> 7 (LayerNorm, then SiLU) -> 3 softmax: both layer norm placements."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 8), nn.Linear(8, 7), nn.Linear(7, 3)])
        self.layers[0].norm = nn.LayerNorm(8)
        self.layers[1].norm = nn.LayerNorm(7)

    def forward(self, x):
        x = self.layers[0].norm(nn.functional.gelu(self.layers[0](x)))
        x = nn.functional.silu(self.layers[1].norm(self.layers[1](x)))
        return self.layers[2](x)


def train_step(name, g):
    """One SGD step (lr 0.5, cross-entropy averaged over a batch of 5) from random parameters."""
    if not wanted(name):
        return
    torch.set_default_dtype(torch.float32)
    net = TrainNet()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    meta = {"format": "vectorprop", "layers": "6,8,7,3", "activation": "gelu", "output": "softmax",
            "loss": "softmax-cross-entropy", "activations": "gelu,silu", "layer_norm": "after,before",
            "layer_norm_epsilon": "1.0E-5"}
    safetensors(name + ".before.safetensors", dict(net.state_dict()), meta)
    x = torch.randn(5, 6, generator=g) * 1.5
    labels = torch.tensor([0, 2, 1, 2, 0])
    x.numpy().astype("<f4").tofile(name + ".inputs.f32")
    nn.functional.one_hot(labels, 3).float().numpy().astype("<f4").tofile(name + ".targets.f32")
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    opt.zero_grad()
    nn.functional.cross_entropy(net(x), labels).backward()
    opt.step()
    safetensors(name + ".after.safetensors", dict(net.state_dict()), meta)
    print(name, "one SGD step")


torch.manual_seed(1)
export("mlp_784_256_128_10",
       nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)),
       torch.rand(8, 784))
torch.manual_seed(2)
export("tanh_softmax_5_7_3",
       nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3), nn.Softmax(dim=1)),
       torch.randn(6, 5))
torch.manual_seed(4)
export("flatten_sigmoid_dropout_12_8_2",
       nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Sigmoid(), nn.Dropout(0.5), nn.Linear(8, 2), nn.Sigmoid()),
       torch.randn(5, 3, 4))
torch.manual_seed(5)
export("matmul_add_leaky_6_9_4", MatMulAdd(), torch.randn(4, 2, 3))

# The forms teams export (OnnxFormsTest).
gen = torch.Generator().manual_seed(20)
export("batchnorm_relu_10_16_12_4",      # input BatchNorm (a negative scale: folds into layer 0), 2 x (Linear, BN, ReLU)
       nn.Sequential(far_from_identity(nn.BatchNorm1d(10), gen), nn.Linear(10, 16), far_from_identity(nn.BatchNorm1d(16), gen),
                     nn.ReLU(), nn.Linear(16, 12), far_from_identity(nn.BatchNorm1d(12), gen), nn.ReLU(), nn.Linear(12, 4)),
       torch.randn(8, 10, generator=gen) * 2)
export("silu_bn_gelu_9_12_8_3",          # SiLU, a BatchNorm after it (folds into the next layer), GELU (Erf form)
       nn.Sequential(nn.Linear(9, 12), nn.SiLU(), far_from_identity(nn.BatchNorm1d(12), gen), nn.Linear(12, 8), nn.GELU(),
                     nn.Linear(8, 3)),
       torch.randn(7, 9, generator=gen) * 2)
export("gelu_tanh_5_9_2",
       nn.Sequential(nn.Linear(5, 9), nn.GELU(approximate="tanh"), nn.Linear(9, 2)), torch.randn(6, 5, generator=gen) * 2)
for opset in (13, 17):                   # decomposed at 13, LayerNormalization at 17; both placements
    export("layernorm_opset%d_8_10_6_3" % opset,
           nn.Sequential(nn.Linear(8, 10), random_affine(nn.LayerNorm(10), gen), nn.GELU(), nn.Linear(10, 6), nn.ReLU(),
                         random_affine(nn.LayerNorm(6), gen), nn.Linear(6, 3)),
           torch.randn(5, 8, generator=gen) * 2, opset=opset)
export("input_scaling_7_11_4", InputScaling(gen).eval(), torch.randn(6, 7, generator=gen) * 3 + 1)
gelu_op_model("gelu_op20_6_10_3", "none", gen)
gelu_op_model("gelu_tanh_op20_6_10_3", "tanh", gen)
train_step("train_step_gelu_silu_layernorm", gen)
