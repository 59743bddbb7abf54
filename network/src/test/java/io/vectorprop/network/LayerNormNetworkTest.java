package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.LayerNorm;

/**
 * Networks with per-layer activations and layer norms outside training: the predictor (one row, a
 * batch, bf16) against the network's own forward pass, and model files written and read back.
 */
class LayerNormNetworkTest {
    @TempDir Path dir;

    static Architecture arch(Activation f, LayerNorm norm) {
        return Architecture.of(new int[] {9, 40, 33, 4}, f, Loss.SOFTMAX_CROSS_ENTROPY)
                .withHiddenActivations(f, Activation.GELU).withLayerNorms(1e-3f, norm, LayerNorm.AFTER_ACTIVATION);
    }

    static void randomize(Network net, long seed) {
        net.initialize(Init.XAVIER, seed);
        Random rnd = new Random(seed);
        for (int l = 0; l < net.architecture().layers() - 1; l++) {
            if (net.architecture().layerNorm(l) == LayerNorm.NONE) continue;
            float[] g = new float[net.architecture().size(l + 1)], b = new float[g.length];
            for (int i = 0; i < g.length; i++) {
                g[i] = (float) (1 + 0.4 * rnd.nextGaussian());
                b[i] = (float) (0.4 * rnd.nextGaussian());
            }
            net.layerNormScale(l).copyFrom(g);
            net.layerNormShift(l).copyFrom(b);
        }
    }

    @Test
    void predictorsAndFilesMatchTheNetworkForEveryActivationAndPlacement() throws IOException {
        long seed = 1;
        for (LayerNorm norm : LayerNorm.values()) {
            for (Activation f : Activation.values()) {
                if (!f.isElementwise()) continue;
                Architecture a = arch(f, norm);
                int rows = 37;
                try (Network net = Network.create(a, Kernels.get()); Workspace ws = net.newWorkspace(rows);
                     Arena arena = Arena.ofConfined()) {
                    randomize(net, seed++);
                    Random rnd = new Random(seed);
                    float[] x = new float[rows * a.inputs()];
                    for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                    ws.x().copyFrom(x);
                    net.forward(ws);
                    float[] expected = ws.output().toArray();
                    Path file = dir.resolve("m.safetensors");
                    net.save(file);
                    for (Predictor p : new Predictor[] {Predictor.of(net), Predictor.load(file)}) {
                        try (p) {
                            assertEquals(a, p.architecture(), "architecture read back");
                            Matrix out = Matrix.allocate(arena, rows, a.outputs());
                            p.predict(Matrix.of(arena, rows, a.inputs(), x), out);
                            float[] batch = out.toArray(), one = new float[a.outputs()];
                            for (int r = 0; r < rows; r++) {
                                p.predict(java.util.Arrays.copyOfRange(x, r * a.inputs(), (r + 1) * a.inputs()), one);
                                for (int j = 0; j < one.length; j++) {
                                    assertEquals(expected[r * one.length + j], one[j], 2e-6, a + " row " + r + " alone");
                                    assertEquals(expected[r * one.length + j], batch[r * one.length + j], 2e-6, a + " row " + r + " in a batch");
                                }
                            }
                        }
                    }
                    try (Predictor bf16 = Predictor.of(net, Predictor.Precision.BF16)) {
                        Matrix out = Matrix.allocate(arena, rows, a.outputs());
                        bf16.predict(Matrix.of(arena, rows, a.inputs(), x), out);
                        float[] b = out.toArray();
                        for (int i = 0; i < b.length; i++) assertEquals(expected[i], b[i], 0.05, a + " bf16 element " + i);
                    }
                }
            }
        }
    }

    /**
     * A model file written by the release before layer norms ({@code written-by-10afae6.safetensors}: the
     * CLI's {@code train --layers 4,8,3 --standardize} of that commit) loads as the plain network it is,
     * and saving it again gives the same bytes: plain networks keep the old format.
     */
    @Test
    void aFileWrittenBeforeLoadsAndIsWrittenBackByteForByte() throws IOException {
        Path old = dir.resolve("old.safetensors"), again = dir.resolve("again.safetensors");
        try (var in = LayerNormNetworkTest.class.getResourceAsStream("/safetensors/written-by-10afae6.safetensors")) {
            java.nio.file.Files.copy(in, old);
        }
        try (Network net = Network.load(old, null, Kernels.get())) {
            assertEquals(Architecture.of(new int[] {4, 8, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY), net.architecture());
            assertTrue(net.standardization() != null, "its standardization is restored");
            net.save(again);
        }
        assertTrue(java.util.Arrays.equals(java.nio.file.Files.readAllBytes(old), java.nio.file.Files.readAllBytes(again)),
                "a plain network is written exactly as before");
    }

    @Test
    void plainFilesKeepTheirFormatAndWrongLayoutsAreRefused() throws IOException {
        Architecture plain = Architecture.of(new int[] {3, 4, 2}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        assertTrue(plain.isPlain());
        assertEquals(plain, new Architecture(new int[] {3, 4, 2}, Activation.RELU, Activation.SOFTMAX, Loss.SOFTMAX_CROSS_ENTROPY));
        var e = assertThrows(IllegalArgumentException.class,
                () -> plain.withLayerNorms(1e-5f, LayerNorm.AFTER_ACTIVATION, LayerNorm.NONE));
        assertTrue(e.getMessage().contains("1 hidden layers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new Architecture(new int[] {3, 4, 2},
                new Activation[] {Activation.RELU, Activation.SOFTMAX}, new LayerNorm[] {LayerNorm.NONE, LayerNorm.AFTER_ACTIVATION},
                1e-5f, Loss.SOFTMAX_CROSS_ENTROPY));
        assertTrue(e.getMessage().contains("output layer cannot have a layer norm"), e.getMessage());
        try (Network net = Network.create(plain, Init.XAVIER, 3)) {
            assertThrows(IllegalArgumentException.class, () -> net.layerNormScale(0));
            assertEquals(java.util.List.of("layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"),
                    java.util.List.copyOf(net.namedParameters().keySet()));
        }
        Architecture normed = plain.withLayerNorms(1e-5f, LayerNorm.AFTER_ACTIVATION);
        try (Network net = Network.create(normed, Init.XAVIER, 3)) {
            Path file = dir.resolve("normed.safetensors");
            net.save(file);
            IOException io = assertThrows(IOException.class, () -> Network.load(file, plain, Kernels.get()).close());
            assertTrue(io.getMessage().contains("normed.safetensors"), io.getMessage());
        }
    }
}
