#!/usr/bin/python3
"""Makes the ONNX test files of OnnxTest with PyTorch (Debian's python3-torch; no `onnx` package needed).

Run from this directory: /usr/bin/python3 export_pytorch.py
For each model it writes NAME.onnx, NAME.inputs.f32 (the test inputs) and NAME.expected.f32 (PyTorch's
outputs for them), the .f32 files as raw little-endian float32, row after row.
"""
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


def export(name, model, example):
    model.eval()
    torch.onnx.export(model, example, name + ".onnx", input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    with torch.no_grad():
        expected = model(example)
    example.contiguous().numpy().astype("<f4").tofile(name + ".inputs.f32")
    expected.contiguous().numpy().astype("<f4").tofile(name + ".expected.f32")
    print(name, tuple(example.shape), "->", tuple(expected.shape))


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
