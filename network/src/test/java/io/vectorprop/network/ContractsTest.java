package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.Standardization;

/** The documented contracts of Optimizer.Config, Standardization, the trainer's split, schedule and callbacks. */
class ContractsTest {
    @Test
    void optimizerSettingsAreCheckedAtTheirBoundaries() {
        Optimizer.Kind k = Optimizer.Kind.ADAM;
        assertDoesNotThrow(() -> new Optimizer.Config(k, 1e-9f, 0f, 0f, 0f, 0f, 1e-30f).validate(), "lowest valid values");
        float[][] bad = {
                {0f, 0.9f, 0f, 0.9f, 0.999f, 1e-8f}, {Float.NaN, 0.9f, 0f, 0.9f, 0.999f, 1e-8f},   // learning rate
                {0.1f, 1f, 0f, 0.9f, 0.999f, 1e-8f}, {0.1f, -0.1f, 0f, 0.9f, 0.999f, 1e-8f},       // momentum
                {0.1f, 0.9f, -1e-6f, 0.9f, 0.999f, 1e-8f},                                        // weight decay
                {0.1f, 0.9f, 0f, 1f, 0.999f, 1e-8f}, {0.1f, 0.9f, 0f, -0.1f, 0.999f, 1e-8f},       // beta1
                {0.1f, 0.9f, 0f, 0.9f, 1f, 1e-8f}, {0.1f, 0.9f, 0f, 0.9f, -0.1f, 1e-8f},           // beta2
                {0.1f, 0.9f, 0f, 0.9f, 0.999f, 0f}};                                              // epsilon
        String[] names = {"learning rate", "learning rate", "momentum", "momentum", "weight decay", "beta1", "beta1", "beta2",
                "beta2", "epsilon"};
        for (int i = 0; i < bad.length; i++) {
            float[] v = bad[i];
            var e = assertThrows(IllegalArgumentException.class, () -> new Optimizer.Config(k, v[0], v[1], v[2], v[3], v[4], v[5]).validate());
            assertTrue(e.getMessage().startsWith(names[i]), e.getMessage());
        }
        try (Network net = Network.create(Architecture.of(new int[] {2, 2}, Activation.SIGMOID, Loss.QUADRATIC), Init.XAVIER, 1);
             Optimizer o = new Optimizer(Optimizer.Config.sgd(0.1f), net)) {
            assertThrows(IllegalArgumentException.class, () -> o.setLearningRate(0f));
            o.setLearningRate(Float.MIN_VALUE);
            assertEquals(Float.MIN_VALUE, o.learningRate());
            assertThrows(IllegalArgumentException.class, () -> o.restore(new float[][] {new float[net.parameters().cols()]}, -1));
            assertThrows(IllegalArgumentException.class, () -> o.restore(new float[2][], 0), "SGD has one state block");
        }
    }

    @Test
    void standardizationIsTheMeanAndPopulationDeviation() {
        Dataset d = Dataset.of(new float[] {1, 10, 2, 10, 3, 10, 6, 10}, 2, new int[] {0, 1, 0, 1}, 2, "four");
        Standardization s = Standardization.fit(d);
        assertArrayEquals(new float[] {3f, 10f}, s.mean());
        double sd = Math.sqrt((4 + 1 + 0 + 9) / 4.0);                   // deviations from 3: −2, −1, 0, 3
        assertEquals(1 / sd, s.scale()[0], 1e-7);
        assertEquals(sd, s.std()[0], 1e-6);
        assertEquals(1f, s.scale()[1], "a constant feature keeps scale 1");
        Standardization firstTwo = Standardization.fit(d, new int[] {0, 1});
        assertArrayEquals(new float[] {1.5f, 10f}, firstTwo.mean(), "fit over the given rows only");
        assertNotEquals(s, firstTwo);
        assertEquals(s, new Standardization(s.mean(), s.scale()));
        assertEquals(s.hashCode(), new Standardization(s.mean(), s.scale()).hashCode());
        assertThrows(IllegalArgumentException.class, () -> new Standardization(new float[] {0}, new float[] {0}));
        assertThrows(IllegalArgumentException.class, () -> new Standardization(new float[] {0}, new float[] {-1}));
        assertThrows(IllegalArgumentException.class, () -> new Standardization(new float[] {Float.NaN}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> new Standardization(new float[] {0, 1}, new float[] {1}));
        assertThrows(IllegalArgumentException.class, () -> new Standardization(new float[0], new float[0]));
    }

    @Test
    void theValidationSplitIsSeededDisjointAndComplete() {
        Trainer t = new Trainer(new Trainer.Config(4, 1, 3, true, Schedule.constant(), 0.25, 0, 0f));
        int[][] s = t.split(40);
        assertEquals(30, s[0].length);
        assertEquals(10, s[1].length);
        Set<Integer> all = new HashSet<>();
        for (int[] part : s) {
            for (int i = 1; i < part.length; i++) assertTrue(part[i - 1] < part[i], "each part ascending");
            for (int i : part) assertTrue(all.add(i), "index " + i + " twice");
        }
        assertEquals(40, all.size());
        assertArrayEquals(s[1], t.split(40)[1], "the same seed gives the same split");
        assertFalse(java.util.Arrays.equals(s[1], new Trainer(new Trainer.Config(4, 1, 4, true, Schedule.constant(), 0.25, 0, 0f))
                .split(40)[1]), "another seed another split");
        int[] none = new Trainer(new Trainer.Config(4, 1, 3, true)).split(5)[1];
        assertEquals(0, none.length);
        assertThrows(IllegalArgumentException.class, () -> new Trainer(new Trainer.Config(4, 1, 3, true, Schedule.constant(), 0.01, 0, 0f))
                .split(10), "0.01 of 10 leaves no validation sample");
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(4, 1, 3, true, Schedule.constant(), 1.0, 0, 0f));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(4, 1, 3, true, Schedule.constant(), 0, 2, 0f));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(4, 1, 3, true, Schedule.constant(), 0.1, -1, 0f));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(4, 1, 3, true, Schedule.constant(), 0, 0, 1f));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(0, 1, 3, true));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config(1, 0, 3, true));
        assertDoesNotThrow(() -> new Trainer.Config(1, 1, 3, true, Schedule.constant(), 0, 0, 0f));
    }

    /** The schedule reaches the optimizer; every callback comes as documented; the order of samples depends on shuffle. */
    @Test
    void trainingRunsTheScheduleAndTheCallbacks() {
        Dataset d = TrainingOptionsTest.blobs(50, 4, 9);
        Architecture arch = Architecture.of(new int[] {4, 6, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY);
        Schedule exp = new Schedule(Schedule.Kind.EXPONENTIAL, 0.5f, 1);
        List<String> calls = new ArrayList<>();
        float[][] params = new float[3][];
        for (int run = 0; run < 3; run++) {
            boolean shuffle = run != 2;
            try (Network net = Network.create(arch, Init.XAVIER, 5); Optimizer opt = new Optimizer(Optimizer.Config.sgd(0.2f), net)) {
                net.setStandardization(Standardization.fit(d));
                Trainer t = new Trainer(new Trainer.Config(16, 3, 1, shuffle, exp, 0.2, 0, 0f));
                List<String> log = run == 0 ? calls : new ArrayList<>();
                List<Trainer.EpochResult> r = t.train(net, opt, d, d, new Trainer.Listener() {
                    @Override public void epochStarted(int epoch, int batches) { log.add("start " + epoch + "/" + batches); }
                    @Override public void batchDone(int epoch, int batch, double loss) { log.add("batch " + batch); }
                    @Override public void epochDone(Trainer.EpochResult e) { log.add("done " + e.epoch()); }
                    @Override public void checkpoint(Trainer.State s) { log.add("ckpt " + s.epochsDone()); }
                });
                assertEquals(0.05f, opt.learningRate(), 1e-9, "the last epoch's rate is in the optimizer");
                assertEquals(0.2f, r.get(0).learningRate(), 1e-9);
                assertEquals(0.1f, r.get(1).learningRate(), 1e-9);
                for (Trainer.EpochResult e : r) {
                    assertTrue(e.validationLoss() > 0 && e.validationAccuracy() >= 0 && e.validationAccuracy() <= 1, e.toString());
                    assertTrue(e.trainAccuracy() >= 0 && e.trainAccuracy() <= 1 && e.testAccuracy() >= 0 && e.testAccuracy() <= 1);
                    assertTrue(e.loss() > 0 && e.samplesPerSecond() > 0);
                }
                try (Workspace ws = net.newWorkspace(10)) {
                    int[] val = t.split(d.size())[1];
                    double[] la = Trainer.lossAndAccuracy(net, d, val, ws);
                    try (Workspace all = net.newWorkspace(val.length)) {       // the same in one batch
                        Trainer.load(net, d, val, 0, val.length, all);
                        net.forward(all);
                        assertEquals(net.loss(all), la[0], 1e-6);
                    }
                }
                params[run] = net.parameters().toArray();
            }
        }
        assertEquals(List.of("start 1/3", "batch 1", "batch 2", "batch 3", "done 1", "ckpt 1", "start 2/3", "batch 1", "batch 2",
                "batch 3", "done 2", "ckpt 2", "start 3/3", "batch 1", "batch 2", "batch 3", "done 3", "ckpt 3"), calls);
        assertArrayEquals(params[0], params[1], "same seed, same run");
        assertFalse(java.util.Arrays.equals(params[0], params[2]), "shuffling changes the run");
    }

    @Test
    void dataThatDoesNotFitTheNetworkIsRefused() {
        Architecture arch = Architecture.of(new int[] {4, 6, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY);
        try (Network net = Network.create(arch, Init.XAVIER, 5); Optimizer opt = new Optimizer(Optimizer.Config.sgd(0.2f), net)) {
            Dataset wide = TrainingOptionsTest.blobs(20, 5, 1);
            var e = assertThrows(IllegalArgumentException.class, () -> new Trainer(new Trainer.Config(8, 1, 1, true))
                    .train(net, opt, wide, null, new Trainer.Listener() {}));
            assertTrue(e.getMessage().contains("5 features") && e.getMessage().contains("4"), e.getMessage());
            Dataset labels = Dataset.of(new float[8], 4, new int[] {0, 3}, 4, "four classes");
            e = assertThrows(IllegalArgumentException.class, () -> new Trainer(new Trainer.Config(8, 1, 1, true))
                    .train(net, opt, TrainingOptionsTest.blobs(20, 4, 1), labels, new Trainer.Listener() {}));
            assertTrue(e.getMessage().contains("label 3"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Trainer.evaluate(Predictor.of(net), wide, null));
        }
    }

    /** close() twice does nothing, and a closed object refuses work with a clear error, for every closeable of the package. */
    @Test
    void closingTwiceDoesNothing() {
        Architecture arch = Architecture.of(new int[] {3, 4, 2}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        Network net = Network.create(arch, Init.XAVIER, 1);
        Workspace ws = net.newWorkspace(2);
        Optimizer opt = new Optimizer(Optimizer.Config.sgd(0.1f), net);
        Predictor p = Predictor.of(net);
        for (AutoCloseable c : new AutoCloseable[] {p, opt, ws, net}) {
            assertDoesNotThrow(c::close, c.getClass().getSimpleName() + " first close");
            assertDoesNotThrow(c::close, c.getClass().getSimpleName() + " second close");
        }
        var e = assertThrows(IllegalStateException.class, () -> p.predict(new float[3], new float[2]));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
