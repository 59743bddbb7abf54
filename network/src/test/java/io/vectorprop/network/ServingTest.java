package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.internal.ScratchPool;
import io.vectorprop.model.Architecture;

/**
 * The predictor as a service runs it: virtual threads, platform pools, the scratch pool's bounds,
 * warm-up and status, hot swap. Expected outputs come from {@link Network#forward}, the training
 * path, which shares no code with the predictor's single-sample path.
 */
class ServingTest {
    static final Architecture DEFAULT = Architecture.of(new int[] {784, 256, 128, 10}, Activation.RELU,
            Loss.SOFTMAX_CROSS_ENTROPY);
    static final int INPUTS = 16;

    /** INPUTS random samples and the network's outputs for them, row after row. */
    static float[][] samplesAndOutputs(Network net) {
        Architecture a = net.architecture();
        Random rnd = new Random(7);
        float[] x = new float[INPUTS * a.inputs()];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
        try (Workspace ws = net.newWorkspace(INPUTS)) {
            ws.x().copyFrom(x);
            net.forward(ws);
            return new float[][] {x, ws.output().toArray()};
        }
    }

    static float[] row(float[] m, int r, int cols) {
        return java.util.Arrays.copyOfRange(m, r * cols, (r + 1) * cols);
    }

    /** Resident memory of this process in bytes (Linux), or -1. */
    static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /**
     * Off-heap memory allocated by this JVM through {@code Arena.allocate} (Native Memory Tracking's
     * "Other" category, committed bytes), or -1 when NMT is off (surefire turns it on for this module).
     */
    static long offHeapBytes() {
        try {
            String summary = (String) java.lang.management.ManagementFactory.getPlatformMBeanServer().invoke(
                    new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {"summary"}}, new String[] {String[].class.getName()});
            var m = java.util.regex.Pattern.compile("Other \\(reserved=\\d+KB, committed=(\\d+)KB\\)").matcher(summary);
            return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
        } catch (Exception e) {
            return -1;
        }
    }

    record Run(int mismatches, int peakInFlight, long peakRssGrowth, long peakOffHeapGrowth) {}

    /** 100,000 predictions, one task each, on {@code executor}; counts wrong answers, peak concurrency and RSS growth. */
    static Run hundredThousand(Predictor p, float[][] data, ExecutorService executor) throws Exception {
        int n0 = DEFAULT.inputs(), nL = DEFAULT.outputs();
        float[][] inputs = new float[INPUTS][];
        for (int i = 0; i < INPUTS; i++) inputs[i] = row(data[0], i, n0);
        AtomicInteger inFlight = new AtomicInteger(), peak = new AtomicInteger(), wrong = new AtomicInteger();
        AtomicLong peakRss = new AtomicLong(residentBytes()), peakOffHeap = new AtomicLong(offHeapBytes());
        long rssBefore = peakRss.get(), offHeapBefore = peakOffHeap.get();
        try (executor) {
            for (int i = 0; i < 100_000; i++) {
                if (i % 500 == 0) {                             // sampled while the tasks run, no timer
                    peakRss.accumulateAndGet(residentBytes(), Math::max);
                    peakOffHeap.accumulateAndGet(offHeapBytes(), Math::max);
                }
                int sample = i % INPUTS;
                float[] in = inputs[sample];
                if (i % 1000 == 999) {                          // now and then a batch: the GEMM's own scratch too
                    executor.submit(() -> {
                        peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                            var x = io.vectorprop.kernel.Matrix.of(arena, INPUTS, n0, data[0]);
                            var y = io.vectorprop.kernel.Matrix.allocate(arena, INPUTS, nL);
                            p.predict(x, y);
                            inFlight.decrementAndGet();
                            float[] got = y.toArray();
                            for (int j = 0; j < got.length; j++) if (Math.abs(got[j] - data[1][j]) > 1e-5f) wrong.incrementAndGet();
                        }
                    });
                    continue;
                }
                executor.submit(() -> {
                    float[] out = new float[nL];
                    peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                    p.predict(in, out);
                    inFlight.decrementAndGet();
                    float[] expected = row(data[1], sample, nL);
                    for (int j = 0; j < nL; j++) if (Math.abs(out[j] - expected[j]) > 1e-5f) wrong.incrementAndGet();
                });
            }
        }
        peakRss.accumulateAndGet(residentBytes(), Math::max);
        peakOffHeap.accumulateAndGet(offHeapBytes(), Math::max);
        return new Run(wrong.get(), peak.get(), rssBefore < 0 ? -1 : peakRss.get() - rssBefore,
                offHeapBefore < 0 ? -1 : peakOffHeap.get() - offHeapBefore);
    }

    /**
     * Tagged "load": mutation testing leaves it out (under PIT's coverage agent it runs 30 s, and the
     * minion's own native buffers fall into the off-heap figure it bounds); every other run has it.
     */
    @Test
    @org.junit.jupiter.api.Tag("load")
    void hundredThousandPredictionsOnVirtualThreadsStayCorrectAndBounded() throws Exception {
        try (Network net = Network.create(DEFAULT, Init.HE, 11); Predictor p = Predictor.of(net)) {
            float[][] data = samplesAndOutputs(net);
            Run platform = hundredThousand(p, data, Executors.newFixedThreadPool(2));
            Predictor.ScratchBuffers afterPlatform = p.scratchBuffers();
            Run virtual = hundredThousand(p, data, Executors.newVirtualThreadPerTaskExecutor());
            Predictor.ScratchBuffers made = p.scratchBuffers();
            int created = made.single() + made.batch();
            System.out.printf("100,000 predictions: platform pool of 2: peak %d in flight, RSS +%d MB, off-heap +%d KB;"
                    + " virtual threads: peak %d in flight, RSS +%d MB, off-heap +%d KB; scratch buffers made %d%n",
                    platform.peakInFlight(), platform.peakRssGrowth() >> 20, platform.peakOffHeapGrowth() >> 10,
                    virtual.peakInFlight(), virtual.peakRssGrowth() >> 20, virtual.peakOffHeapGrowth() >> 10, created);
            assertEquals(0, platform.mismatches(), "wrong outputs on the platform pool");
            assertEquals(0, virtual.mismatches(), "wrong outputs on virtual threads");
            // A buffer is made only when a call finds none free: at most the calls in flight plus what the pool keeps.
            // (A thread-local cache made one per thread: 100,000 here.)
            int cap = made.poolCapacity();
            assertTrue(afterPlatform.single() <= platform.peakInFlight() + cap && afterPlatform.batch() <= platform.peakInFlight() + cap,
                    afterPlatform + " for " + platform.peakInFlight() + " concurrent calls");
            int peakCalls = Math.max(platform.peakInFlight(), virtual.peakInFlight());
            assertTrue(made.single() <= peakCalls + cap && made.batch() <= peakCalls + cap,
                    made + " after 100,000 virtual threads, peak concurrency " + virtual.peakInFlight());
            // Off-heap growth is bounded by the buffers made (a 1-row scratch is 4.7 KB here, a 64-row one 301 KB)
            // and the GEMM's pack buffers (6.4 MiB each, at most one per concurrent product). Thread-local
            // buffers, as first written, made one of each per virtual thread: 100,000 × 4.7 KB and 100 × (301 KB + 6.4 MiB).
            long bound = (long) created * 310 * 1024 + peakCalls * (7L << 20) + (1L << 20);
            if (virtual.peakOffHeapGrowth() >= 0) {
                assertTrue(virtual.peakOffHeapGrowth() <= bound, "off-heap memory grew " + (virtual.peakOffHeapGrowth() >> 10)
                        + " KB on virtual threads; " + created + " scratch buffers allow " + (bound >> 10) + " KB");
            }
        }
    }

    @Test
    void thePoolNeverHoldsMoreThanItsCapacityAndFreesTheRest() throws Exception {
        AtomicInteger made = new AtomicInteger(), freed = new AtomicInteger();
        ScratchPool<Integer> pool = new ScratchPool<>(3, made::incrementAndGet, x -> freed.incrementAndGet());
        int threads = 8;
        CountDownLatch allHold = new CountDownLatch(threads);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            ts.add(Thread.ofVirtual().start(() -> {
                Integer buffer = pool.acquire();
                allHold.countDown();
                try {
                    allHold.await();                             // all eight hold a buffer at once
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                pool.release(buffer);
            }));
        }
        for (Thread t : ts) t.join();
        assertEquals(threads, pool.created(), "eight concurrent holders need eight buffers");
        assertEquals(3, pool.pooled(), "the pool keeps its capacity");
        assertEquals(threads - 3, freed.get(), "the rest are freed on release");
        for (int i = 0; i < 100; i++) pool.release(pool.acquire());
        assertEquals(threads, pool.created(), "sequential calls reuse pooled buffers");
        pool.close();
        assertEquals(threads, freed.get(), "close frees the pooled buffers");
        Integer late = pool.acquire();
        pool.release(late);
        assertEquals(threads + 1, freed.get(), "a buffer released after close is freed, not kept");
    }

    @Test
    void warmUpReportsSpeedAndKernelStatus() {
        try (Network net = Network.create(DEFAULT, Init.HE, 2); Predictor p = Predictor.of(net)) {
            Predictor.WarmUp w = p.warmUp(java.time.Duration.ofSeconds(5));
            assertTrue(w.predictions() >= 2_000, w.toString());
            assertTrue(w.microsPerPrediction() > 0 && Double.isFinite(w.microsPerPrediction()), w.toString());
            assertEquals(Kernels.get().name(), w.kernels().implementation());
            assertEquals(Kernels.get().status().isFullSpeed(), p.kernelStatus().isFullSpeed());
            assertTrue(w.toString().contains("us per prediction"), w.toString());
        }
    }

    /** Readers on four threads while the model is swapped 200 times: every answer is one model's, no call fails. */
    @Test
    void hotSwapNeverShowsAHalfModelAndClosesTheOldOneAfterItsLastCall() throws Exception {
        Architecture arch = Architecture.of(new int[] {5, 40, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY);
        float[] x = {0.5f, -1, 0.25f, 2, -0.75f};
        List<Predictor> models = new ArrayList<>();
        List<float[]> answers = new ArrayList<>();
        for (int m = 0; m < 201; m++) {
            try (Network net = Network.create(arch, Init.XAVIER, 100 + m)) {
                Predictor p = Predictor.of(net);
                float[] out = new float[3];
                p.predict(x, out);
                models.add(p);
                answers.add(out);
            }
        }
        SwappablePredictor live = new SwappablePredictor(models.get(0));
        AtomicInteger unknown = new AtomicInteger(), calls = new AtomicInteger();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService readers = Executors.newFixedThreadPool(4);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Future<?>> fs = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            fs.add(readers.submit(() -> {
                float[] out = new float[3];
                while (!stop.get()) {
                    try {
                        live.predict(x, out);
                        calls.incrementAndGet();
                        boolean known = false;
                        for (float[] a : answers) known |= java.util.Arrays.equals(a, out);
                        if (!known) unknown.incrementAndGet();
                    } catch (Throwable e) {
                        failures.add(e);
                        return;
                    }
                }
            }));
        }
        for (int m = 1; m < models.size(); m++) {
            live.swap(models.get(m));
            long before = calls.get();                      // let the readers use this model before the next swap
            while (calls.get() == before && failures.isEmpty()) Thread.onSpinWait();
        }
        stop.set(true);
        for (Future<?> f : fs) f.get();
        readers.shutdown();
        assertTrue(failures.isEmpty(), "a call failed during swaps: " + failures);
        assertEquals(0, unknown.get(), "an answer matched no model");
        assertTrue(calls.get() > 0);
        float[] out = new float[3];
        live.predict(x, out);
        assertArrayEquals(answers.get(200), out, "after the last swap the last model answers");
        for (int m = 0; m < 200; m++) {
            Predictor old = models.get(m);
            assertThrows(IllegalStateException.class, () -> old.predict(x, new float[3]), "model " + m + " was not closed");
        }
        try (var lease = live.lease()) {
            live.close();
            lease.predictor().predict(x, out);                  // a lease keeps its model open past close
        }
        assertThrows(IllegalStateException.class, () -> models.get(200).predict(x, new float[3]));
        assertThrows(IllegalStateException.class, () -> live.predict(x, new float[3]));
        try (Network wrong = Network.create(Architecture.of(new int[] {4, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY), Init.XAVIER, 1);
             Predictor p = Predictor.of(wrong); SwappablePredictor s = new SwappablePredictor(Predictor.of(Network.create(arch, Init.XAVIER, 1)))) {
            var e = assertThrows(IllegalArgumentException.class, () -> s.swap(p));
            assertTrue(e.getMessage().contains("4 inputs"), e.getMessage());
        }
    }
}
