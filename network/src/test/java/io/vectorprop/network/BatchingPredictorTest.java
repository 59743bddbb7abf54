package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Matrix;

/**
 * {@link BatchingPredictor}: every answer against the plain {@link Predictor}'s for the same input
 * (within the stated 1e-5·(1 + |y|)), batches that form behind a running one, and each way a call can
 * fail. Where a batch must still be running while others queue behind it, a {@link Gate} holds it
 * open until the test has queued, interrupted, timed out or closed around it: no timing involved.
 */
class BatchingPredictorTest {
    static Network net;
    static Predictor plain;

    @BeforeAll
    static void setUp() {
        net = Network.create(ServingTest.DEFAULT, Init.HE, 11);
        plain = Predictor.of(net);
    }

    @AfterAll
    static void tearDown() {
        plain.close();
        net.close();
    }

    static float[] input(int n, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
        return x;
    }

    static void assertWithinBound(float[] expected, float[] actual, String what) {
        for (int j = 0; j < expected.length; j++) {
            if (Math.abs(expected[j] - actual[j]) > 1e-5 * (1 + Math.abs(expected[j]))) {
                fail(what + ": output " + j + " expected " + expected[j] + " got " + actual[j]);
            }
        }
    }

    @Test
    void sixtyFourVirtualThreadsGetThePlainPredictorsAnswers() throws Exception {
        try (BatchingPredictor batching = new BatchingPredictor(plain, 64)) {
            int threads = 64, callsEach = 200;
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> started = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                started.add(Thread.ofVirtual().start(() -> {
                    float[] out = new float[10], expected = new float[10];
                    try {
                        for (int c = 0; c < callsEach; c++) {
                            float[] x = input(784, id * 10_000L + c);
                            batching.predict(x, out);
                            plain.predict(x, expected);
                            assertWithinBound(expected, out, "thread " + id + " call " + c);
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            for (Thread t : started) t.join();
            if (failure.get() != null) throw new AssertionError(failure.get());
            BatchingPredictor.Stats s = batching.stats();
            assertEquals((long) threads * callsEach, s.calls());
            assertEquals(s.calls(), s.batchedRows(), "every call in exactly one batch");
            assertTrue(s.largestBatch() <= 64, "batches within maxBatch: " + s);
        }
    }

    @Test
    void aLoneCallIsABatchOfOneWithThePlainAnswerBitForBit() throws Exception {
        try (BatchingPredictor batching = new BatchingPredictor(plain, 64)) {
            for (int c = 0; c < 50; c++) {
                float[] x = input(784, c), out = new float[10], expected = new float[10];
                batching.predict(x, out);
                plain.predict(x, expected);
                assertEquals(java.util.Arrays.toString(expected), java.util.Arrays.toString(out), "call " + c);
            }
            assertEquals(50, batching.stats().batches(), "one batch per call when calls do not overlap");
            assertEquals(1, batching.stats().largestBatch());
        }
    }

    /**
     * The predictor's paths, with the first batch held open until {@link #release}: while it is held,
     * its caller holds the only role (parallelism 1), so every other call queues.
     */
    static final class Gate implements BatchingPredictor.Forward {
        final CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        final AtomicBoolean first = new AtomicBoolean(true);

        @Override
        public void predictOne(float[] in, float[] out) {
            hold();
            plain.predict(in, out);
        }

        @Override
        public void predictBatch(Matrix in, Matrix out) {
            hold();
            plain.predict(in, out);
        }

        private void hold() {
            if (!first.getAndSet(false)) return;
            entered.countDown();
            while (true) {
                try {
                    release.await();
                    return;
                } catch (InterruptedException e) {
                    // held until released, whatever the test interrupts
                }
            }
        }
    }

    /** Starts a call that enters the gate and holds the only role; returns its thread once it is inside. */
    static Thread holdFirstBatch(BatchingPredictor batching, Gate gate, float[] out) throws InterruptedException {
        Thread t = Thread.ofVirtual().start(() -> call(batching, input(784, 1), out));
        gate.entered.await();
        return t;
    }

    /** Starts a call (input 2) on a virtual thread; what it throws, if anything, goes to {@code seen}. */
    static Thread queueCall(BatchingPredictor batching, AtomicReference<Throwable> seen) {
        return Thread.ofVirtual().start(() -> {
            try {
                batching.predict(input(784, 2), new float[10]);
            } catch (Throwable e) {
                seen.set(e);
            }
        });
    }

    static void awaitCalls(BatchingPredictor batching, long calls) {
        while (batching.stats().calls() < calls) Thread.onSpinWait();
    }

    /** Calls that arrive while a batch runs go together in the next one. */
    @Test
    void callsQueuedBehindARunningBatchGoTogether() throws Exception {
        Gate gate = new Gate();
        try (BatchingPredictor batching = BatchingPredictor.builder(plain).maxBatch(32).parallelism(1).build(gate)) {
            Thread first = holdFirstBatch(batching, gate, new float[10]);
            List<Thread> queued = new ArrayList<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            for (int t = 0; t < 8; t++) {
                float[] x = input(784, 100 + t);
                queued.add(Thread.ofVirtual().start(() -> {
                    try {
                        float[] out = new float[10], expected = new float[10];
                        batching.predict(x, out);
                        plain.predict(x, expected);
                        assertWithinBound(expected, out, "queued call");
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            awaitCalls(batching, 9);
            gate.release.countDown();
            first.join();
            for (Thread t : queued) t.join();
            if (failure.get() != null) throw new AssertionError(failure.get());
            BatchingPredictor.Stats s = batching.stats();
            assertEquals(2, s.batches(), "the held batch, then one batch of the 8 queued: " + s);
            assertEquals(8, s.largestBatch(), s.toString());
        }
    }

    @Test
    void aFullQueueRefusesAtOnce() throws Exception {
        Gate gate = new Gate();
        try (BatchingPredictor batching = BatchingPredictor.builder(plain).parallelism(1).queueCapacity(1).build(gate)) {
            Thread first = holdFirstBatch(batching, gate, new float[10]);
            Thread queued = Thread.ofVirtual().start(() -> call(batching, input(784, 2)));
            awaitCalls(batching, 2);
            var e = assertThrows(RejectedExecutionException.class, () -> batching.predict(input(784, 3), new float[10]));
            assertTrue(e.getMessage().contains("queueCapacity 1"), e.getMessage());
            gate.release.countDown();
            first.join();
            queued.join();
            assertEquals(2, batching.stats().batchedRows(), "the refused call never reached a batch");
        }
    }

    @Test
    void anInterruptedQueuedCallerGetsInterruptedExceptionAndOthersTheirAnswers() throws Exception {
        Gate gate = new Gate();
        try (BatchingPredictor batching = BatchingPredictor.builder(plain).parallelism(1).build(gate)) {
            float[] firstOut = new float[10];
            Thread first = holdFirstBatch(batching, gate, firstOut);
            AtomicReference<Throwable> seen = new AtomicReference<>();
            Thread queued = queueCall(batching, seen);
            awaitCalls(batching, 2);
            queued.interrupt();
            queued.join();
            assertTrue(seen.get() instanceof InterruptedException, "the queued caller got " + seen.get());
            gate.release.countDown();
            first.join();
            float[] expected = new float[10];
            plain.predict(input(784, 1), expected);
            assertWithinBound(expected, firstOut, "the running call");
            float[] later = new float[10], laterExpected = new float[10], x = input(784, 3);
            batching.predict(x, later);
            plain.predict(x, laterExpected);
            assertWithinBound(laterExpected, later, "a later call");
            assertEquals(2, batching.stats().batchedRows(), "the withdrawn request was never computed");
        }
    }

    @Test
    void aRequestNotTakenWithinTheTimeoutFails() throws Exception {
        Gate gate = new Gate();
        try (BatchingPredictor batching = BatchingPredictor.builder(plain).parallelism(1).timeout(Duration.ofMillis(5))
                .build(gate)) {
            Thread first = holdFirstBatch(batching, gate, new float[10]);
            var e = assertThrows(RejectedExecutionException.class, () -> batching.predict(input(784, 2), new float[10]));
            assertTrue(e.getMessage().contains("timeout of PT0.005S"), e.getMessage());
            gate.release.countDown();
            first.join();
            assertEquals(1, batching.stats().batchedRows(), "the timed-out request was never computed");
        }
    }

    @Test
    void closeFailsQueuedAndLaterCallsWaitsForTheRunningBatchAndIsIdempotent() throws Exception {
        Gate gate = new Gate();
        BatchingPredictor batching = BatchingPredictor.builder(plain).parallelism(1).build(gate);
        float[] firstOut = new float[10];
        Thread first = holdFirstBatch(batching, gate, firstOut);
        AtomicReference<Throwable> seen = new AtomicReference<>();
        Thread queued = queueCall(batching, seen);
        awaitCalls(batching, 2);
        Thread closing = Thread.ofVirtual().start(batching::close);
        queued.join();                                   // failed by close while the first batch is still held
        assertTrue(seen.get() instanceof IllegalStateException e && e.getMessage().contains("closed"),
                "the queued caller got " + seen.get());
        assertTrue(closing.isAlive(), "close waits for the running batch");
        gate.release.countDown();
        closing.join();
        first.join();
        float[] expected = new float[10];
        plain.predict(input(784, 1), expected);
        assertWithinBound(expected, firstOut, "the batch running at close");
        batching.close();
        var later = assertThrows(IllegalStateException.class, () -> batching.predict(input(784, 3), new float[10]));
        assertTrue(later.getMessage().contains("closed"), later.getMessage());
    }

    @Test
    void refusesBadArgumentsByName() {
        try (BatchingPredictor batching = new BatchingPredictor(plain, 8)) {
            var e = assertThrows(IllegalArgumentException.class, () -> batching.predict(new float[783], new float[10]));
            assertTrue(e.getMessage().contains("783") && e.getMessage().contains("784"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new BatchingPredictor(plain, 0));
        assertTrue(e.getMessage().contains("maxBatch 0"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BatchingPredictor.builder(plain).parallelism(0));
        assertThrows(IllegalArgumentException.class, () -> BatchingPredictor.builder(plain).queueCapacity(0));
        assertThrows(IllegalArgumentException.class, () -> BatchingPredictor.builder(plain).timeout(Duration.ZERO));
    }

    private static void call(BatchingPredictor batching, float[] x) {
        call(batching, x, new float[10]);
    }

    private static void call(BatchingPredictor batching, float[] x, float[] out) {
        try {
            batching.predict(x, out);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
