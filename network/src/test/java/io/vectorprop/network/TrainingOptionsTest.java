package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.verify.GradientCheck;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.Standardization;

/** Schedules, validation and early stopping, dropout, standardization, checkpoints and resume. */
class TrainingOptionsTest {
    @TempDir Path dir;

    /** Three Gaussian blobs in {@code features} dimensions, shifted and scaled far from unit range. */
    static Dataset blobs(int n, int features, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n * features];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = rnd.nextInt(3);
            for (int j = 0; j < features; j++) {
                double v = rnd.nextGaussian() * 1.2 + (j % 3 == y[i] ? 1.5 : 0);
                x[i * features + j] = (float) (j == features - 1 ? 7 : 500 + 300 * v);   // last feature constant
            }
        }
        return Dataset.of(x, features, y, 3, "blobs");
    }

    @Test
    void everyScheduleGivesItsFormula() {
        float base = 0.1f;
        for (Schedule.Kind kind : Schedule.Kind.values()) {
            Schedule s = new Schedule(kind, 0.5f, 2);
            assertEquals(base, s.rate(base, 1, 9), 1e-9, kind + " starts at the user's rate");
            double[] expected = new double[10];
            for (int e = 1; e <= 9; e++) {
                expected[e] = switch (kind) {
                    case CONSTANT -> base;
                    case STEP -> base * Math.pow(0.5, (e - 1) / 2);
                    case EXPONENTIAL -> base * Math.pow(0.5, e - 1);
                    case COSINE -> base * 0.01 + base * 0.99 * (1 + Math.cos(Math.PI * (e - 1) / 8)) / 2;
                };
                assertEquals(expected[e], s.rate(base, e, 9), 1e-8, kind + " epoch " + e);
            }
        }
        assertEquals(0.05f, new Schedule(Schedule.Kind.STEP, 0.5f, 2).rate(0.1f, 3, 9), 1e-9);
        assertEquals(0.001f, new Schedule(Schedule.Kind.COSINE, 1f, 1).rate(0.1f, 9, 9), 1e-9, "cosine ends at 1 %");
        assertEquals(0.0505f, new Schedule(Schedule.Kind.COSINE, 1f, 1).rate(0.1f, 5, 9), 1e-7, "cosine is halfway at mid-run");
        assertThrows(IllegalArgumentException.class, () -> new Schedule(Schedule.Kind.STEP, 1.5f, 2));
        assertThrows(IllegalArgumentException.class, () -> new Schedule(Schedule.Kind.STEP, 0.5f, 0));
    }

    @Test
    void theDefaultKeepsTheUsersRate() throws Exception {
        Dataset d = blobs(200, 6, 1);
        try (Network net = Network.create(Architecture.of(new int[] {6, 8, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY),
                Init.XAVIER, 1); Optimizer opt = new Optimizer(Optimizer.Config.sgd(0.01f), net)) {
            net.setStandardization(Standardization.fit(d));
            List<Trainer.EpochResult> r = new Trainer(new Trainer.Config(20, 5, 1, true)).train(net, opt, d, null,
                    null);                                            // a null listener: no events, no NullPointerException
            assertEquals(5, r.size());
            for (Trainer.EpochResult e : r) assertEquals(0.01f, e.learningRate(), "epoch " + e.epoch());
        }
    }

    /** Early stopping restores the parameters of the epoch with the lowest validation loss. */
    @Test
    void earlyStoppingRestoresTheBestEpoch() {
        Dataset d = blobs(300, 6, 2);
        Architecture arch = Architecture.of(new int[] {6, 64, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        try (Network net = Network.create(arch, Init.HE, 3); Optimizer opt = new Optimizer(
                Optimizer.Config.of(Optimizer.Kind.ADAM, 0.05f, 0, 0), net)) {
            Trainer t = new Trainer(new Trainer.Config(16, 60, 4, true, Schedule.constant(), 0.3, 3, 0f));
            net.setStandardization(t.fitStandardization(d));
            int[] restored = {0};
            List<Trainer.EpochResult> r = t.train(net, opt, d, null, new Trainer.Listener() {
                @Override public void bestRestored(int last, int best, boolean early) { restored[0] = best; }
            });
            int best = 0;
            for (int i = 1; i < r.size(); i++) if (r.get(i).validationLoss() < r.get(best).validationLoss()) best = i;
            assertTrue(r.size() < 60, "a high rate overfits this small set; it must stop early, ran " + r.size());
            assertEquals(r.size() - 1 - best, 3, "stopped after 3 epochs without improvement");
            assertEquals(best + 1, restored[0]);
            int[][] split = t.split(d.size());
            try (Workspace ws = net.newWorkspace(16)) {
                double[] now = Trainer.lossAndAccuracy(net, d, split[1], ws);
                assertEquals(r.get(best).validationLoss(), now[0], 1e-9, "the restored parameters have the best validation loss");
            }
        }
    }

    @Test
    void dropoutGradientsMatchFiniteDifferencesWithTheMaskFixed() {
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            for (Activation f : new Activation[] {Activation.RELU, Activation.TANH, Activation.SIGMOID}) {
                Architecture arch = Architecture.of(new int[] {6, 7, 5, 3}, f, Loss.SOFTMAX_CROSS_ENTROPY);
                GradientCheck.Case c = GradientCheck.checkWithDropout(arch, k, 5, 0.2f);
                assertTrue(c.maxRelativeError() <= 1e-3, k.name() + " " + f + " with dropout: " + c);
            }
        }
    }

    @Test
    void dropoutIsIdentityAtInferenceAndSeeded() {
        Dataset d = blobs(200, 6, 3);
        Architecture arch = Architecture.of(new int[] {6, 16, 16, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        float[][] params = new float[2][];
        for (int run = 0; run < 2; run++) {
            try (Network net = Network.create(arch, Init.HE, 3);
                 Optimizer opt = new Optimizer(Optimizer.Config.of(Optimizer.Kind.ADAM, 0.01f, 0, 0), net)) {
                net.setStandardization(Standardization.fit(d));
                new Trainer(new Trainer.Config(20, 3, 9, true, Schedule.constant(), 0, 0, 0.5f)).train(net, opt, d, null,
                        new Trainer.Listener() {});
                params[run] = net.parameters().toArray();
                try (Workspace ws = net.newWorkspace(8); Predictor p = Predictor.of(net)) {
                    Trainer.load(net, d, null, 0, 8, ws);
                    net.forward(ws);                                      // dropout off: evaluation
                    float[] out = new float[3], row = new float[6];
                    d.features().rows(0, 1).copyTo(row);
                    p.predict(row, out);
                    assertArrayEquals(java.util.Arrays.copyOf(ws.output().toArray(), 3), out, 1e-6f);
                }
            }
        }
        assertArrayEquals(params[0], params[1], "a seed reproduces a run with dropout bit for bit");
    }

    /** An interrupted run resumed from its checkpoint ends with the parameters of an uninterrupted one, bit for bit. */
    @Test
    void resumeFromACheckpointIsBitIdentical() throws Exception {
        Dataset d = blobs(240, 6, 4);
        Architecture arch = Architecture.of(new int[] {6, 12, 10, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        Trainer.Config config = new Trainer.Config(16, 8, 5, true, new Schedule(Schedule.Kind.COSINE, 1f, 1), 0.25, 50, 0.2f);
        Optimizer.Config adam = Optimizer.Config.of(Optimizer.Kind.ADAM, 0.01f, 0, 0);
        float[] uninterrupted;
        try (Network net = Network.create(arch, Init.HE, 6); Optimizer opt = new Optimizer(adam, net)) {
            Trainer t = new Trainer(config);
            net.setStandardization(t.fitStandardization(d));
            t.train(net, opt, d, null, new Trainer.Listener() {});
            uninterrupted = net.parameters().toArray();
        }
        Path ckpt = dir.resolve("run.ckpt");
        final class Interrupted extends RuntimeException {}
        try (Network net = Network.create(arch, Init.HE, 6); Optimizer opt = new Optimizer(adam, net)) {
            Trainer t = new Trainer(config);
            net.setStandardization(t.fitStandardization(d));
            assertThrows(Interrupted.class, () -> t.train(net, opt, d, null, new Trainer.Listener() {
                @Override
                public void checkpoint(Trainer.State state) {
                    try {
                        Checkpoint.save(ckpt, net, opt, state, "test");
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                    if (state.epochsDone() == 5) throw new Interrupted();
                }
            }));
        }
        try (Checkpoint c = Checkpoint.load(ckpt, Kernels.get());
             Optimizer opt = new Optimizer(adam, c.network())) {
            assertEquals(5, c.state().epochsDone());
            assertEquals("test", c.options());
            opt.restore(c.optimizerState(), c.optimizerSteps());
            List<Trainer.EpochResult> r = new Trainer(config).train(c.network(), opt, d, null, new Trainer.Listener() {}, c.state());
            assertEquals(6, r.get(0).epoch(), "the resumed run starts after the saved epoch");
            assertArrayEquals(uninterrupted, c.network().parameters().toArray(), "resumed parameters differ from the uninterrupted run's");
        }
    }

    /** A standardized model gives the same outputs through the trainer's evaluation, a predictor, and a saved and loaded file. */
    @Test
    void standardizationTravelsWithTheModel() throws Exception {
        Dataset d = blobs(300, 6, 5);
        Architecture arch = Architecture.of(new int[] {6, 16, 3}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        Path file = dir.resolve("std.safetensors");
        try (Network net = Network.create(arch, Init.HE, 7); Optimizer opt = new Optimizer(
                Optimizer.Config.of(Optimizer.Kind.ADAM, 0.01f, 0, 0), net)) {
            Standardization st = Standardization.fit(d);
            assertEquals(1f, st.scale()[5], "a constant feature keeps scale 1");
            net.setStandardization(st);
            new Trainer(new Trainer.Config(20, 5, 1, true)).train(net, opt, d, null, new Trainer.Listener() {});
            net.save(file);
            double trained;
            try (Workspace ws = net.newWorkspace(64)) {
                trained = Trainer.accuracy(net, d, ws);
            }
            assertTrue(trained > 0.6, "standardized training learns the blobs (chance is 1/3): " + trained);
            try (Network back = Network.load(file, null, Kernels.get()); Predictor fromFile = Predictor.load(file);
                 Predictor fromNet = Predictor.of(net); Workspace ws = back.newWorkspace(64)) {
                assertEquals(st, back.standardization(), "standardization after a save/load round trip");
                assertEquals(trained, Trainer.accuracy(back, d, ws), "the loaded network evaluates the same");
                assertEquals(trained, Trainer.evaluate(fromFile, d, null), "Predictor.load applies the same transformation");
                float[] row = new float[6], a = new float[3], b = new float[3];
                for (int i = 0; i < 20; i++) {
                    d.features().rows(i, i + 1).copyTo(row);
                    fromFile.predict(row, a);
                    fromNet.predict(row, b);
                    assertArrayEquals(b, a, "row " + i);
                }
            }
            try (Network raw = Network.create(arch, Kernels.get()); Workspace ws = raw.newWorkspace(64)) {
                raw.copyParametersFrom(net);
                raw.setStandardization(null);
                assertTrue(Trainer.accuracy(raw, d, ws) < trained, "without the standardization the model is wrong: skew");
            }
        }
    }
}
