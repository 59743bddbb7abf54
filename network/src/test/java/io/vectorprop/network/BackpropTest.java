package io.vectorprop.network;

import io.vectorprop.verify.GradientCheck;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.LayerNorm;

/** Backpropagation against finite differences, determinism, divergence handling, the predictor. */
class BackpropTest {

    /**
     * Every activation × loss, and every activation × layer norm placement, analytic vs central
     * differences in double precision (see GradientCheck).
     */
    @Test
    void gradientsMatchFiniteDifferencesForEveryCombination() {
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            GradientCheck.Result r = GradientCheck.run(k, 1);
            long elementwise = java.util.Arrays.stream(Activation.values()).filter(Activation::isElementwise).count();
            assertEquals(elementwise * Loss.values().length + elementwise * (LayerNorm.values().length - 1), r.cases().size(),
                    "every activation with every loss, and with every layer norm placement");
            for (GradientCheck.Case c : r.cases()) {
                assertTrue(c.maxRelativeError() <= 1e-3, k.name() + " " + c);
            }
        }
    }

    /**
     * The check must be able to fail: a network whose BP2 uses the wrong derivative (sigmoid's for a
     * tanh layer, through Network's test seam) passes through the same GradientCheck and is caught,
     * while the same network without the fault passes.
     */
    @Test
    void aBrokenBackwardPassIsCaughtByTheGradientCheck() {
        Architecture arch = Architecture.of(new int[] {5, 4, 3}, Activation.TANH, Loss.QUADRATIC);
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            GradientCheck.Case good = GradientCheck.check(arch, a -> Network.create(a, k), 3);
            assertTrue(good.maxRelativeError() < 1e-3, "the correct network passes: " + good);
            GradientCheck.Case broken = GradientCheck.check(arch, a -> {
                Network n = Network.create(a, k);
                n.derivativeOverride = new Activation[] {Activation.SIGMOID, null};   // f' of layer 0 wrong in BP2
                return n;
            }, 3);
            assertTrue(broken.maxRelativeError() > 1e-2, k.name() + ": a wrong derivative in BP2 must fail the check: " + broken);
        }
    }


    /** A small separable problem: two Gaussian blobs per class in 4-D. */
    static Dataset blobs(int n, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        float[] x = new float[n * 4];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int c = rnd.nextInt(3);
            labels[i] = c;
            for (int j = 0; j < 4; j++) x[i * 4 + j] = (float) (rnd.nextGaussian() * 0.5 + (j == c ? 2 : 0));
        }
        return Dataset.of(x, 4, labels, 3, "blobs");
    }

    @Test
    void everyOptimizerLearnsAndSameSeedIsBitIdentical() {
        try (Dataset train = blobs(600, 1); Dataset test = blobs(300, 2)) {
            for (Optimizer.Kind kind : Optimizer.Kind.values()) {
                float lr = kind == Optimizer.Kind.ADAM ? 0.01f : 0.1f;
                float[][] params = new float[2][];
                for (int run = 0; run < 2; run++) {
                    Architecture arch = Architecture.of(new int[] {4, 16, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
                    try (Network net = Network.create(arch, Init.HE, 7);
                         Optimizer opt = new Optimizer(Optimizer.Config.of(kind, lr, 0.9f, 1e-4f), net)) {
                        List<Trainer.EpochResult> r = new Trainer(new Trainer.Config(32, 5, 11, true))
                                .train(net, opt, train, test, new Trainer.Listener() {});
                        assertTrue(r.get(4).testAccuracy() > 0.9, kind + " reached only " + r.get(4));
                        assertTrue(r.get(4).loss() < r.get(0).loss(), kind + " loss did not fall");
                        params[run] = net.parameters().toArray();
                    }
                }
                assertArrayEquals(params[0], params[1], kind + ": same seed must give bit-identical parameters");
            }
        }
    }

    /** The SGD step fused into BP3/BP4 must land where backward() + step() land (rounding aside). */
    @Test
    void fusedSgdStepMatchesBackwardThenStep() {
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            for (int batch : new int[] {1, 3, 17}) {
                for (float decay : new float[] {0f, 0.01f}) {
                    Architecture arch = Architecture.of(new int[] {9, 7, 5, 3}, Activation.SIGMOID, Loss.SOFTMAX_CROSS_ENTROPY);
                    try (Network fused = Network.create(arch, k); Network plain = Network.create(arch, k);
                         Workspace wf = fused.newWorkspace(batch); Workspace wp = plain.newWorkspace(batch);
                         Optimizer of = new Optimizer(Optimizer.Config.of(Optimizer.Kind.SGD, 0.5f, 0f, decay), fused);
                         Optimizer op = new Optimizer(Optimizer.Config.of(Optimizer.Kind.SGD, 0.5f, 0f, decay), plain)) {
                        fused.initialize(Init.NORMAL, batch);
                        plain.copyParametersFrom(fused);
                        java.util.Random rnd = new java.util.Random(batch);
                        for (int step = 0; step < 3; step++) {
                            float[] x = new float[batch * 9], y = new float[batch * 3];
                            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                            for (int r = 0; r < batch; r++) y[r * 3 + rnd.nextInt(3)] = 1f;
                            for (Workspace w : new Workspace[] {wf, wp}) {
                                w.x().copyFrom(x);
                                w.y().copyFrom(y);
                            }
                            fused.forward(wf);
                            fused.backwardAndStep(wf, of);
                            plain.forward(wp);
                            plain.backward(wp);
                            op.step();
                        }
                        float[] a = fused.parameters().toArray(), e = plain.parameters().toArray();
                        float[] before = new float[e.length];
                        try (Network init = Network.create(arch, k)) {
                            init.initialize(Init.NORMAL, batch);
                            before = init.parameters().toArray();
                        }
                        double moved = 0;
                        for (int i = 0; i < e.length; i++) {
                            assertEquals(e[i], a[i], 1e-5f * Math.max(1f, Math.abs(e[i])),
                                    k.name() + " batch " + batch + " decay " + decay + " parameter " + i);
                            moved = Math.max(moved, Math.abs(e[i] - before[i]));
                        }
                        assertTrue(moved > 1e-2, "the steps must move the parameters (moved " + moved + ")");
                    }
                }
            }
        }
    }

    @Test
    void divergenceStopsNamingEpochAndBatchAndRestoresParameters() {
        try (Dataset train = blobs(200, 1)) {
            Architecture arch = Architecture.of(new int[] {4, 8, 3}, Activation.IDENTITY, Loss.QUADRATIC);
            try (Network net = Network.create(arch, Init.XAVIER, 1);
                 Optimizer opt = new Optimizer(Optimizer.Config.sgd(1e6f), net)) {
                float[] before = net.parameters().toArray();
                var e = assertThrows(Trainer.DivergedException.class, () -> new Trainer(new Trainer.Config(10, 3, 1, false))
                        .train(net, opt, train, null, new Trainer.Listener() {}));
                assertTrue(e.getMessage().contains("epoch 1, batch"), e.getMessage());
                assertArrayEquals(before, net.parameters().toArray(), "parameters must be those of the start of epoch 1");
            }
        }
    }

    /** Wide layers take the predictor's transposed single-sample path; it must agree with the network. */
    @Test
    void predictorSingleSamplePathMatchesTheNetworkOnWideLayers() {
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            Architecture arch = Architecture.of(new int[] {37, 70, Predictor.TRANSPOSED_MIN_OUT, 5}, Activation.RELU,
                    Loss.SOFTMAX_CROSS_ENTROPY);
            try (Network net = Network.create(arch, k); Workspace ws = net.newWorkspace(3)) {
                net.initialize(Init.HE, 4);
                java.util.Random rnd = new java.util.Random(4);
                float[] x = new float[3 * 37];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                ws.x().copyFrom(x);
                net.forward(ws);
                float[] expected = ws.output().toArray(), out = new float[5];
                try (Predictor p = Predictor.of(net)) {
                    for (int r = 0; r < 3; r++) {
                        p.predict(java.util.Arrays.copyOfRange(x, r * 37, r * 37 + 37), out);
                        assertArrayEquals(java.util.Arrays.copyOfRange(expected, r * 5, r * 5 + 5), out, 1e-5f,
                                k.name() + " row " + r);
                    }
                }
            }
        }
    }

    /**
     * A one-row batch goes through the single-sample path: its output must be predict(float[])'s bit for
     * bit, in every precision, on a network with a wide layer (the single path's transposed copy) and
     * a narrow one; a two-row batch (the packed path) must still match each row within rounding.
     */
    @Test
    void aOneRowBatchIsTheSingleSamplePrediction() {
        Architecture arch = Architecture.of(new int[] {37, Predictor.TRANSPOSED_MIN_OUT, 9, 5}, Activation.RELU,
                Loss.SOFTMAX_CROSS_ENTROPY);
        try (Network net = Network.create(arch, Init.HE, 6); var arena = java.lang.foreign.Arena.ofConfined()) {
            java.util.Random rnd = new java.util.Random(6);
            float[] x = new float[2 * 37];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            for (Predictor.Precision precision : Predictor.Precision.values()) {
                try (Predictor p = Predictor.of(net, precision)) {
                    float[] single = new float[5], second = new float[5];
                    p.predict(java.util.Arrays.copyOfRange(x, 0, 37), single);
                    p.predict(java.util.Arrays.copyOfRange(x, 37, 74), second);
                    var one = io.vectorprop.kernel.Matrix.allocate(arena, 1, 5);
                    p.predict(io.vectorprop.kernel.Matrix.of(arena, 1, 37, java.util.Arrays.copyOfRange(x, 0, 37)), one);
                    assertArrayEquals(single, one.toArray(), 0f, precision + ": one row");
                    var two = io.vectorprop.kernel.Matrix.allocate(arena, 2, 5);
                    p.predict(io.vectorprop.kernel.Matrix.of(arena, 2, 37, x), two);
                    float[] both = two.toArray();
                    assertArrayEquals(single, java.util.Arrays.copyOfRange(both, 0, 5), 1e-5f, precision + ": row 0 of two");
                    assertArrayEquals(second, java.util.Arrays.copyOfRange(both, 5, 10), 1e-5f, precision + ": row 1 of two");
                }
            }
        }
    }

    @Test
    void predictorMatchesTheNetworkAndIsIndependentOfIt() throws Exception {
        Architecture arch = Architecture.of(new int[] {4, 16, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY);
        try (Network net = Network.create(arch, Init.XAVIER, 5); Workspace ws = net.newWorkspace(3);
             Predictor p = Predictor.of(net)) {
            float[] x = {0.1f, -0.2f, 0.3f, 0.9f, 1, 2, 3, 4, -1, 0, 1, 0};
            ws.x().copyFrom(x);
            net.forward(ws);
            float[] expected = ws.output().toArray();
            float[] out = new float[3];
            for (int r = 0; r < 3; r++) {
                p.predict(java.util.Arrays.copyOfRange(x, r * 4, r * 4 + 4), out);
                assertArrayEquals(java.util.Arrays.copyOfRange(expected, r * 3, r * 3 + 3), out, 1e-6f);
            }
            try (var arena = java.lang.foreign.Arena.ofConfined()) {
                var in = io.vectorprop.kernel.Matrix.of(arena, 3, 4, x);
                var batchOut = io.vectorprop.kernel.Matrix.allocate(arena, 3, 3);
                p.predict(in, batchOut);
                assertArrayEquals(expected, batchOut.toArray(), 1e-6f);
                var seg = arena.allocate(12 * 4);
                p.predict(in.segment(), 4 * 4, seg, 4);
                assertEquals(expected[3], seg.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1), 1e-6f);
            }
            net.initialize(Init.XAVIER, 99);                   // later changes to the network don't leak in
            p.predict(java.util.Arrays.copyOfRange(x, 0, 4), out);
            assertArrayEquals(java.util.Arrays.copyOfRange(expected, 0, 3), out, 1e-6f);
            var e = assertThrows(IllegalArgumentException.class, () -> p.predict(new float[5], new float[3]));
            assertTrue(e.getMessage().contains("4"), e.getMessage());
            // Two threads sharing one predictor get the same answers.
            Thread[] threads = new Thread[2];
            Throwable[] failure = new Throwable[1];
            for (int t = 0; t < 2; t++) {
                threads[t] = new Thread(() -> {
                    float[] o = new float[3];
                    for (int i = 0; i < 2000; i++) {
                        p.predict(java.util.Arrays.copyOfRange(x, 4, 8), o);
                        if (Math.abs(o[0] - expected[3]) > 1e-6f) failure[0] = new AssertionError("thread saw " + o[0]);
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) t.join();
            if (failure[0] != null) throw new AssertionError(failure[0]);
        }
    }
}
