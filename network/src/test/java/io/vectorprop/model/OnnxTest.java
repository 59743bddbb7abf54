package io.vectorprop.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.network.Network;
import io.vectorprop.network.Predictor;

/**
 * ONNX import: files exported by PyTorch ({@code src/test/resources/onnx/export_pytorch.py}) against
 * PyTorch's own outputs; hand-built graphs (a small protobuf writer below) for what PyTorch does not
 * emit, against the ONNX operator definitions computed here in double precision; and forged files.
 */
class OnnxTest {
    @TempDir Path dir;

    static float[] floats(String resource) throws IOException {
        try (InputStream in = OnnxTest.class.getResourceAsStream("/onnx/" + resource)) {
            if (in == null) throw new AssertionError("missing test resource " + resource);
            ByteBuffer b = ByteBuffer.wrap(in.readAllBytes()).order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[b.remaining() / 4];
            b.asFloatBuffer().get(out);
            return out;
        }
    }

    Path resource(String name) throws IOException {
        Path p = dir.resolve(name);
        try (InputStream in = OnnxTest.class.getResourceAsStream("/onnx/" + name)) {
            Files.copy(in, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        return p;
    }

    /** Largest |ours − PyTorch's| over all outputs of the exported test inputs. */
    double maxErrorAgainstPyTorch(String model, Predictor.Precision precision) throws IOException {
        float[] x = floats(model + ".inputs.f32"), expected = floats(model + ".expected.f32");
        try (Predictor p = Predictor.load(resource(model + ".onnx"), precision)) {
            int n0 = p.architecture().inputs(), nL = p.architecture().outputs(), rows = x.length / n0;
            assertEquals(rows * nL, expected.length, model + ": inputs and outputs disagree on the number of rows");
            double max = 0;
            float[] out = new float[nL];
            for (int r = 0; r < rows; r++) {
                p.predict(java.util.Arrays.copyOfRange(x, r * n0, (r + 1) * n0), out);
                for (int j = 0; j < nL; j++) max = Math.max(max, Math.abs(out[j] - expected[r * nL + j]));
            }
            return max;
        }
    }

    /**
     * The forms of {@code export_pytorch.py}'s second part: BatchNorm (input, after Linear, after SiLU),
     * SiLU, GELU (Erf form, tanh form, and the opset-20 Gelu node), LayerNorm (opset 17's operator and
     * the decomposed form of opset 13, before and after an activation), input scaling by constant tensors.
     * Each predicts within 1e-5 of PyTorch, one row at a time and as a batch, and is read as the
     * architecture it is.
     */
    @Test
    void exportedFormsPredictAsPyTorchDoes() throws IOException {
        Activation gelu = Activation.GELU, relu = Activation.RELU, id = Activation.IDENTITY;
        record Form(String model, Activation[] activations, String norms, boolean standardized) {}
        Form[] forms = {
                new Form("batchnorm_relu_10_16_12_4", new Activation[] {relu, relu, id}, "none,none", false),
                new Form("silu_bn_gelu_9_12_8_3", new Activation[] {Activation.SILU, gelu, id}, "none,none", false),
                new Form("gelu_tanh_5_9_2", new Activation[] {Activation.GELU_TANH, id}, "none", false),
                new Form("layernorm_opset13_8_10_6_3", new Activation[] {gelu, relu, id}, "before,after", false),
                new Form("layernorm_opset17_8_10_6_3", new Activation[] {gelu, relu, id}, "before,after", false),
                new Form("input_scaling_7_11_4", new Activation[] {relu, Activation.SOFTMAX}, "none", true),
                new Form("gelu_op20_6_10_3", new Activation[] {gelu, id}, "none", false),
                new Form("gelu_tanh_op20_6_10_3", new Activation[] {Activation.GELU_TANH, id}, "none", false)};
        for (Form f : forms) {
            try (Network net = Network.create(Onnx.read(resource(f.model() + ".onnx")), Kernels.get())) {
                Architecture a = net.architecture();
                assertEquals(java.util.List.of(f.activations()), java.util.List.of(a.activations()), f.model() + " activations");
                assertEquals(f.norms(), a.layerNormsText(), f.model() + " layer norms");
                assertEquals(f.standardized(), net.standardization() != null, f.model() + " standardization");
            }
            double err = maxErrorAgainstPyTorch(f.model(), Predictor.Precision.FP32);
            System.out.printf("ONNX %s: max |vectorprop - PyTorch| = %.2e%n", f.model(), err);
            assertTrue(err <= 1e-5, f.model() + ": max difference from PyTorch " + err);
            float[] x = floats(f.model() + ".inputs.f32"), expected = floats(f.model() + ".expected.f32");
            try (Predictor p = Predictor.load(resource(f.model() + ".onnx")); java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                int rows = x.length / p.architecture().inputs();
                io.vectorprop.kernel.Matrix in = io.vectorprop.kernel.Matrix.of(arena, rows, p.architecture().inputs(), x);
                io.vectorprop.kernel.Matrix out = io.vectorprop.kernel.Matrix.allocate(arena, rows, p.architecture().outputs());
                p.predict(in, out);
                float[] batch = out.toArray();
                for (int i = 0; i < batch.length; i++) {
                    assertEquals(expected[i], batch[i], 1e-5, f.model() + " batch path, element " + i);
                }
            }
        }
    }

    /** Near misses are refused with the node: GELU's Erf form with a wrong constant, scaling of the output, a norm of the output. */
    @Test
    void nearMissesOfTheNewFormsAreRefused() throws IOException {
        Proto wrongGelu = new Proto()                                 // 0.5·z·(1 + erf(z / 1.5)): not GELU
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("Div", "div", new String[] {"z", "c"}, "d"))
                .message(1, node("Erf", "erf", new String[] {"d"}, "e"))
                .message(1, node("Add", "plus1", new String[] {"e", "one"}, "p"))
                .message(1, node("Mul", "mul", new String[] {"z", "p"}, "m"))
                .message(1, node("Mul", "half", new String[] {"m", "h"}, "y"))
                .message(5, tensor("W", new long[] {2, 2}, new float[] {1, 2, 3, 4}, true))
                .message(5, tensor("c", new long[] {}, new float[] {1.5f}, true))
                .message(5, tensor("one", new long[] {}, new float[] {1f}, true))
                .message(5, tensor("h", new long[] {}, new float[] {0.5f}, true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        String m = failure(write("wrong_gelu.onnx", wrongGelu));
        assertTrue(m.contains("'z' is read by") && m.contains("div") && m.contains("Div"), m);

        Proto scaledOutput = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("Relu", "relu", new String[] {"z"}, "a"))
                .message(1, node("Mul", "scale", new String[] {"a", "c"}, "y"))
                .message(5, tensor("W", new long[] {2, 2}, new float[] {1, 2, 3, 4}, true))
                .message(5, tensor("c", new long[] {2}, new float[] {2f, 3f}, true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        m = failure(write("scaled_output.onnx", scaledOutput));
        assertTrue(m.contains("scale") && m.contains("after the output layer"), m);

        Proto normedOutput = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("LayerNormalization", "ln", new String[] {"z", "g", "b"}, "y"))
                .message(5, tensor("W", new long[] {2, 2}, new float[] {1, 2, 3, 4}, true))
                .message(5, tensor("g", new long[] {2}, new float[] {1f, 1f}, true))
                .message(5, tensor("b", new long[] {2}, new float[] {0f, 0f}, true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        m = failure(write("normed_output.onnx", normedOutput));
        assertTrue(m.contains("'ln'") && m.contains("output layer"), m);
    }

    @Test
    void pytorchExportsPredictAsPyTorchDoes() throws IOException {
        String[] models = {"mlp_784_256_128_10", "tanh_softmax_5_7_3", "flatten_sigmoid_dropout_12_8_2", "matmul_add_leaky_6_9_4"};
        for (String m : models) {
            double err = maxErrorAgainstPyTorch(m, Predictor.Precision.FP32);
            System.out.printf("ONNX %s: max |vectorprop - PyTorch| = %.2e%n", m, err);
            assertTrue(err <= 1e-5, m + ": max difference from PyTorch " + err);
        }
    }

    @Test
    void theArchitectureComesFromTheGraph() throws IOException {
        try (Network n = Network.load(resource("mlp_784_256_128_10.onnx"), null, Kernels.get())) {
            assertEquals(new Architecture(new int[] {784, 256, 128, 10}, Activation.RELU, Activation.IDENTITY, Loss.QUADRATIC),
                    n.architecture());
        }
        try (Network n = Network.load(resource("tanh_softmax_5_7_3.onnx"), null, Kernels.get())) {
            assertEquals(Architecture.of(new int[] {5, 7, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY), n.architecture());
        }
        try (Network n = Network.load(resource("flatten_sigmoid_dropout_12_8_2.onnx"), null, Kernels.get())) {
            assertEquals(Architecture.of(new int[] {12, 8, 2}, Activation.SIGMOID, Loss.BINARY_CROSS_ENTROPY), n.architecture());
        }
        try (Network n = Network.load(resource("matmul_add_leaky_6_9_4.onnx"), null, Kernels.get())) {
            assertEquals(new Architecture(new int[] {6, 9, 4}, Activation.LEAKY_RELU, Activation.IDENTITY, Loss.QUADRATIC),
                    n.architecture());
        }
        Path f = resource("tanh_softmax_5_7_3.onnx");
        var e = assertThrows(IOException.class, () -> Network.load(f, Architecture.of(new int[] {5, 7, 3}, Activation.RELU,
                Loss.SOFTMAX_CROSS_ENTROPY), Kernels.get()));
        assertTrue(e.getMessage().contains("tanh"), e.getMessage());
    }

    /** evaluate --model on an ONNX file: labels are PyTorch's argmax, so the accuracy must be 1. */
    @Test
    void theCommandLineEvaluatesAnOnnxModel() throws Exception {
        float[] x = floats("tanh_softmax_5_7_3.inputs.f32"), y = floats("tanh_softmax_5_7_3.expected.f32");
        StringBuilder csv = new StringBuilder("label,f1,f2,f3,f4,f5\n");
        for (int r = 0; r < 6; r++) {
            int best = 0;
            for (int j = 1; j < 3; j++) if (y[r * 3 + j] > y[r * 3 + best]) best = j;
            csv.append(best);
            for (int k = 0; k < 5; k++) csv.append(',').append(x[r * 5 + k]);
            csv.append('\n');
        }
        Path data = dir.resolve("test.csv");
        Files.writeString(data, csv);
        var out = new java.io.StringWriter();
        int status = io.vectorprop.cli.Main.run(new String[] {"evaluate", "--model", resource("tanh_softmax_5_7_3.onnx").toString(),
                "--test-csv", data.toString()}, new java.io.PrintWriter(out, true), new java.io.PrintWriter(new java.io.StringWriter(), true));
        assertEquals(0, status, out.toString());
        assertTrue(out.toString().contains("accuracy 1.0000 on 6 samples"), out.toString());
    }

    // ---------------------------------------------------------------- hand-built graphs

    /** Protocol-buffers writer for the few ONNX messages the tests build. */
    static final class Proto {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long v) {
            key(field, 0);
            raw(v);
            return this;
        }

        Proto fixed32(int field, float v) {
            key(field, 5);
            int bits = Float.floatToIntBits(v);
            for (int i = 0; i < 4; i++) out.write(bits >>> (8 * i));
            return this;
        }

        Proto bytes(int field, byte[] b) {
            key(field, 2);
            raw(b.length);
            out.writeBytes(b);
            return this;
        }

        Proto string(int field, String s) { return bytes(field, s.getBytes(StandardCharsets.UTF_8)); }

        Proto message(int field, Proto m) { return bytes(field, m.out.toByteArray()); }

        void key(int field, int wire) { raw((long) field << 3 | wire); }

        void raw(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) (v & 0x7F) | 0x80);
                v >>>= 7;
            }
            out.write((int) v);
        }

        byte[] toBytes() { return out.toByteArray(); }
    }

    /** TensorProto of floats, as raw_data or (packed) float_data. */
    static Proto tensor(String name, long[] dims, float[] values, boolean raw) {
        Proto t = new Proto();
        for (long d : dims) t.varint(1, d);
        t.varint(2, 1).string(8, name);
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return raw ? t.bytes(9, b.array()) : t.bytes(4, b.array());
    }

    static Proto node(String op, String name, String[] inputs, String output, Proto... attributes) {
        Proto n = new Proto();
        for (String i : inputs) n.string(1, i);
        n.string(2, output).string(3, name).string(4, op);
        for (Proto a : attributes) n.message(5, a);
        return n;
    }

    static Proto intAttribute(String name, long v) { return new Proto().string(1, name).varint(3, v).varint(20, 2); }

    static Proto floatAttribute(String name, float v) { return new Proto().string(1, name).fixed32(2, v).varint(20, 1); }

    static Proto valueInfo(String name, long... dims) {
        Proto shape = new Proto();
        for (long d : dims) shape.message(1, d < 0 ? new Proto().string(2, "batch") : new Proto().varint(1, d));
        Proto tensorType = new Proto().varint(1, 1).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
    }

    static byte[] model(Proto graph) {
        return new Proto().varint(1, 8).message(8, new Proto().string(1, "").varint(2, 13)).message(7, graph).toBytes();
    }

    static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    /**
     * Gemm with transB = 0, α = 0.5, β = 2 and a [1, out] bias in float_data, then Identity, Dropout,
     * Relu, a Gemm without bias plus an Add of a scalar, then Sigmoid: expected values from the
     * operator definitions, {@code Y = α·A·B + β·C}, in double precision.
     */
    @Test
    void handBuiltGemmWithAlphaBetaTransposeAndFloatData() throws IOException {
        Random rnd = new Random(3);
        int n0 = 4, n1 = 6, n2 = 3;
        float[] b1 = random(rnd, n0 * n1), c1 = random(rnd, n1), b2 = random(rnd, n2 * n1);
        float c2 = 0.25f;
        Proto g = new Proto()
                .message(1, node("Gemm", "g1", new String[] {"x", "B1", "C1"}, "z1", floatAttribute("alpha", 0.5f),
                        floatAttribute("beta", 2f), intAttribute("transB", 0)))
                .message(1, node("Identity", "id", new String[] {"z1"}, "z1b"))
                .message(1, node("Dropout", "drop", new String[] {"z1b"}, "z1c"))
                .message(1, node("Relu", "relu", new String[] {"z1c"}, "a1"))
                .message(1, node("Gemm", "g2", new String[] {"a1", "B2"}, "z2", intAttribute("transB", 1)))
                .message(1, node("Add", "bias2", new String[] {"C2", "z2"}, "z2b"))
                .message(1, node("Sigmoid", "out", new String[] {"z2b"}, "y"))
                .string(2, "hand")
                .message(5, tensor("B1", new long[] {n0, n1}, b1, false))       // [in, out]: transB = 0
                .message(5, tensor("C1", new long[] {1, n1}, c1, false))
                .message(5, tensor("B2", new long[] {n2, n1}, b2, true))        // [out, in]: transB = 1
                .message(5, tensor("C2", new long[] {}, new float[] {c2}, true))
                .message(11, valueInfo("x", -1, n0))
                .message(12, valueInfo("y", -1, n2));
        Path f = dir.resolve("hand.onnx");
        Files.write(f, model(g));
        float[] x = {0.3f, -1.2f, 0.8f, 2f};
        double[] a1 = new double[n1];
        for (int j = 0; j < n1; j++) {
            double z = 2.0 * c1[j];
            for (int k = 0; k < n0; k++) z += 0.5 * x[k] * b1[k * n1 + j];
            a1[j] = Math.max(z, 0);
        }
        float[] out = new float[n2];
        try (Predictor p = Predictor.load(f)) {
            assertEquals(Architecture.of(new int[] {n0, n1, n2}, Activation.RELU, Loss.BINARY_CROSS_ENTROPY), p.architecture());
            p.predict(x, out);
        }
        for (int j = 0; j < n2; j++) {
            double z = c2;
            for (int k = 0; k < n1; k++) z += a1[k] * b2[j * n1 + k];
            assertEquals(1 / (1 + Math.exp(-z)), out[j], 1e-6, "output " + j);
        }
    }

    Path write(String name, Proto graph) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, model(graph));
        return f;
    }

    String failure(Path f) {
        return assertThrows(IOException.class, () -> Predictor.load(f).close()).getMessage();
    }

    @Test
    void anUnsupportedOperatorIsNamedWithItsNode() throws IOException {
        Proto g = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("Selu", "selu7", new String[] {"z"}, "y"))
                .message(5, tensor("W", new long[] {2, 2}, new float[4], true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        String m = failure(write("selu.onnx", g));
        assertTrue(m.contains("selu7") && m.contains("Selu") && m.contains("selu.onnx"), m);

        Proto twoActs = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("Relu", "r1", new String[] {"z"}, "a"))
                .message(1, node("Tanh", "t1", new String[] {"a"}, "y"))
                .message(5, tensor("W", new long[] {2, 2}, new float[4], true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        m = failure(write("two.onnx", twoActs));
        assertTrue(m.contains("t1") && m.contains("one activation per layer"), m);

        Proto leaky = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("LeakyRelu", "lr", new String[] {"z"}, "y", floatAttribute("alpha", 0.2f)))
                .message(5, tensor("W", new long[] {2, 2}, new float[4], true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        m = failure(write("leaky.onnx", leaky));
        assertTrue(m.contains("lr") && m.contains("0.2"), m);

        Proto branch = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "z", intAttribute("transB", 1)))
                .message(1, node("Gemm", "fc2", new String[] {"x", "W"}, "y", intAttribute("transB", 1)))
                .message(5, tensor("W", new long[] {2, 2}, new float[4], true))
                .message(11, valueInfo("x", -1, 2)).message(12, valueInfo("y", -1, 2));
        m = failure(write("branch.onnx", branch));
        assertTrue(m.contains("fc2") && m.contains("chain"), m);

        Proto wrongShape = new Proto()
                .message(1, node("Gemm", "fc", new String[] {"x", "W"}, "y", intAttribute("transB", 1)))
                .message(5, tensor("W", new long[] {2, 3}, new float[6], true))
                .message(11, valueInfo("x", -1, 5)).message(12, valueInfo("y", -1, 2));
        m = failure(write("shape.onnx", wrongShape));
        assertTrue(m.contains("fc") && m.contains("3 inputs") && m.contains("5"), m);
    }

    /** Every truncation and thousands of random corruptions of a real file: an IOException or a model, nothing else, quickly. */
    @Test
    void forgedFilesGiveCleanErrors() throws IOException {
        byte[] good = Files.readAllBytes(resource("tanh_softmax_5_7_3.onnx"));
        Path f = dir.resolve("forged.onnx");
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            int errors = 0, loaded = 0;
            for (int length = 0; length < good.length; length++) {
                Files.write(f, java.util.Arrays.copyOf(good, length));
                if (loadsOrFailsCleanly(f)) loaded++; else errors++;
            }
            assertTrue(errors > good.length / 2, "most truncations must be refused, " + errors + " were");
            Random rnd = new Random(42);
            for (int trial = 0; trial < 3000; trial++) {
                byte[] bad = good.clone();
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    int at = rnd.nextInt(bad.length);
                    bad[at] = switch (rnd.nextInt(3)) {
                        case 0 -> (byte) rnd.nextInt(256);
                        case 1 -> (byte) 0xFF;                                  // huge varints and lengths
                        default -> (byte) (bad[at] ^ (1 << rnd.nextInt(8)));
                    };
                }
                Files.write(f, bad);
                if (loadsOrFailsCleanly(f)) loaded++; else errors++;
            }
            System.out.printf("forged ONNX files: %d refused with IOException, %d still a valid model%n", errors, loaded);
        });
        // A length that claims far more than the file holds, at the top level.
        Files.write(f, new byte[] {0x3A, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F});
        String m = failure(f);
        assertTrue(m.contains("forged.onnx") && m.contains("byte"), m);
        Files.write(f, new byte[0]);
        assertTrue(failure(f).contains("empty"));
    }

    private static boolean loadsOrFailsCleanly(Path f) {
        try (Predictor p = Predictor.load(f)) {
            p.predict(new float[p.architecture().inputs()], new float[p.architecture().outputs()]);
            return true;
        } catch (IOException e) {
            assertTrue(e.getMessage() != null && e.getMessage().contains("forged.onnx"), "error without the file name: " + e);
            return false;
        } catch (RuntimeException | Error e) {
            throw new AssertionError("a forged file gave " + e + " instead of an IOException", e);
        }
    }
}
