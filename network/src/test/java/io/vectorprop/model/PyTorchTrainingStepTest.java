package io.vectorprop.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Workspace;

/**
 * One SGD step of 6 → 8 (GELU, then a layer norm) → 7 (a layer norm, then SiLU) → 3 (softmax,
 * cross-entropy), batch 5, learning rate 0.5, against the same step taken by PyTorch 1.13
 * ({@code export_pytorch.py}'s {@code train_step}: the parameters before and after as safetensors files).
 * Every parameter after the step must equal PyTorch's within 1e-6, through the fused SGD step and through
 * backward + {@link Optimizer#step()}, with both kernel implementations.
 */
class PyTorchTrainingStepTest {
    static final String NAME = "train_step_gelu_silu_layernorm";
    @TempDir Path dir;

    Path resource(String name) throws IOException {
        Path p = dir.resolve(name);
        try (InputStream in = PyTorchTrainingStepTest.class.getResourceAsStream("/onnx/" + name)) {
            Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
        }
        return p;
    }

    @Test
    void oneStepEqualsPyTorch() throws IOException {
        float[] x = OnnxTest.floats(NAME + ".inputs.f32"), y = OnnxTest.floats(NAME + ".targets.f32");
        Path before = resource(NAME + ".before.safetensors"), after = resource(NAME + ".after.safetensors");
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            for (boolean fused : new boolean[] {true, false}) {
                try (Network net = Network.load(before, null, k); Network expected = Network.load(after, null, k);
                     Workspace ws = net.newWorkspace(5);
                     Optimizer sgd = new Optimizer(Optimizer.Config.sgd(0.5f), net)) {
                    var arch = net.architecture();
                    assertEquals(java.util.List.of(Activation.GELU, Activation.SILU, Activation.SOFTMAX), java.util.List.of(arch.activations()));
                    assertEquals(java.util.List.of(LayerNorm.AFTER_ACTIVATION, LayerNorm.BEFORE_ACTIVATION, LayerNorm.NONE),
                            java.util.List.of(arch.layerNorms()));
                    ws.x().copyFrom(x);
                    ws.y().copyFrom(y);
                    net.forward(ws);
                    if (fused) {
                        net.backwardAndStep(ws, sgd);
                    } else {
                        net.backward(ws);
                        sgd.step();
                    }
                    double worst = 0, moved = 0;
                    try (Network start = Network.load(before, null, k)) {
                        for (var e : net.namedParameters().entrySet()) {
                            float[] ours = e.getValue().toArray(), torch = expected.namedParameters().get(e.getKey()).toArray();
                            float[] initial = start.namedParameters().get(e.getKey()).toArray();
                            for (int i = 0; i < ours.length; i++) {
                                assertEquals(torch[i], ours[i], 1e-6, k.name() + (fused ? " fused" : " two-pass") + " " + e.getKey() + "[" + i + "]");
                                worst = Math.max(worst, Math.abs(torch[i] - ours[i]));
                                moved = Math.max(moved, Math.abs(torch[i] - initial[i]));
                            }
                        }
                    }
                    System.out.printf("%s %s: max |vectorprop - PyTorch| after one step %.2e (largest step %.2e)%n", k.name(),
                            fused ? "fused SGD" : "backward + step", worst, moved);
                }
            }
        }
    }

    /** Sanity of the reference itself: the step moved every tensor, so equality above is not equality of two unchanged files. */
    @Test
    void theReferenceStepMovesEveryTensor() throws IOException {
        try (Network a = Network.load(resource(NAME + ".before.safetensors"), null, Kernels.get());
             Network b = Network.load(resource(NAME + ".after.safetensors"), null, Kernels.get())) {
            for (var e : a.namedParameters().entrySet()) {
                Matrix m = b.namedParameters().get(e.getKey());
                float[] u = e.getValue().toArray(), v = m.toArray();
                double d = 0;
                for (int i = 0; i < u.length; i++) d = Math.max(d, Math.abs(u[i] - v[i]));
                org.junit.jupiter.api.Assertions.assertTrue(d > 1e-4, e.getKey() + " did not move: " + d);
            }
        }
    }
}
