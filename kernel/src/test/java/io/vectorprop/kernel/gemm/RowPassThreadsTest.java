package io.vectorprop.kernel.gemm;

import static io.vectorprop.kernel.TestData.assertCloseRel;
import static io.vectorprop.kernel.TestData.copy;
import static io.vectorprop.kernel.TestData.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;

/**
 * Element-wise passes cut by rows between the GEMM's threads ({@link GemmThreads#rows}): every row
 * computed exactly once, by the thread that computes it in a team product of as many rows, and every
 * activation on two threads bit-identical to one thread and close to the scalar reference.
 */
class RowPassThreadsTest {
    static final Kernels ONE = Kernels.get().withThreads(1), TWO = Kernels.get().withThreads(2);

    /** Row counts that form a team on two threads (batch sizes of training, and odd ones that cut an MR sliver). */
    static final int[] ROWS = {64, 100, 256, 301};

    /**
     * Each row is passed to exactly one call, the calls run on two threads, and each thread gets the rows
     * it writes in a team product of the same rows: a team's member writes its rows of C, which the
     * product's own thread names here by filling them with its member index.
     */
    @Test
    void everyRowOnceOnTheThreadThatComputedItInTheProduct() {
        try (Arena arena = Arena.ofShared()) {
            for (int m : ROWS) {
                assertTrue(GemmThreads.byTeam(GemmPath.PACKED, m, 2), m + " rows should form a team of two");
                Matrix x = random(arena, new Random(m), m, 8, false);
                AtomicIntegerArray passes = new AtomicIntegerArray(m);
                ConcurrentHashMap<Thread, Boolean> threads = new ConcurrentHashMap<>();
                int[] firstRowOf = new int[3];
                java.util.Arrays.fill(firstRowOf, -1);
                Gemm.rows(x, x, null, 2, (from, to) -> {
                    threads.put(Thread.currentThread(), true);
                    for (int r = from; r < to; r++) passes.incrementAndGet(r);
                    int member = Thread.currentThread().getName().startsWith("vectorprop-gemm-") ? 1 : 0;
                    if (from < to) firstRowOf[member] = from;
                });
                for (int r = 0; r < m; r++) assertEquals(1, passes.get(r), "row " + r + " of " + m + " passed once");
                assertEquals(2, threads.size(), m + " rows on two threads");
                assertEquals(0, firstRowOf[0], "the caller takes the first rows");
                // The team product's own cut: where member 1's first chunk begins in the nest.
                int chunkRows = GemmThreads.chunkRows(m, 2), chunks = (m + chunkRows - 1) / chunkRows;
                int slivers = (m + GemmBlocking.MR - 1) / GemmBlocking.MR, share = (chunks + 1) / 2;
                assertEquals(share * slivers / chunks * GemmBlocking.MR, firstRowOf[1], m + " rows: where the worker starts");
            }
        }
    }

    /** Every activation (softmax included) and its derivative: two threads give one thread's bits, and the scalar reference's values. */
    @Test
    void everyActivationOnTwoThreadsMatchesOneThreadAndTheReference() {
        try (Arena arena = Arena.ofShared()) {
            for (int m : ROWS) {
                for (boolean strided : new boolean[] {false, true}) {
                    for (Activation f : Activation.values()) {
                        int cols = f == Activation.SOFTMAX ? 10 : 257;      // a softmax output layer; past a vector
                        long seed = m * 31L + cols + (strided ? 1 : 0);
                        Matrix z = random(arena, new Random(seed), m, cols, strided);
                        ONE.scale(4f, z);
                        Matrix one = copy(arena, z, strided), two = copy(arena, z, strided), ref = copy(arena, z, strided);
                        two.fill(Float.NaN);                                 // a row no thread writes stays NaN
                        ONE.activate(f, z, one);
                        TWO.activate(f, z, two);
                        Kernels.scalar().activate(f, z, ref);
                        String what = f + " " + m + "x" + cols + (strided ? " strided" : "");
                        assertArrayEquals(one.toArray(), two.toArray(), "activate " + what);
                        assertCloseRel(ref, two, 4e-6, "activate " + what + " against the scalar reference");
                        if (!f.isElementwise()) continue;
                        Matrix g = random(arena, new Random(seed + 1), m, cols, strided);
                        Matrix gOne = copy(arena, g, strided), gTwo = copy(arena, g, strided), gRef = copy(arena, g, strided);
                        gTwo.fill(Float.NaN);
                        ONE.activationBackward(f, z, g, gOne);
                        TWO.activationBackward(f, z, g, gTwo);
                        Kernels.scalar().activationBackward(f, z, g, gRef);
                        assertArrayEquals(gOne.toArray(), gTwo.toArray(), "activationBackward " + what);
                        assertCloseRel(gRef, gTwo, 4e-6, "activationBackward " + what + " against the scalar reference");
                    }
                }
            }
        }
    }

    /** Flat passes cut into equal parts at whole vectors: every element once, on two threads, parts starting at multiples of the vector. */
    @Test
    void everyElementOnceInRangesCutAtWholeVectors() {
        for (int n : new int[] {64, 1000, 200_003}) {
            AtomicIntegerArray passes = new AtomicIntegerArray(n);
            ConcurrentHashMap<Thread, Boolean> threads = new ConcurrentHashMap<>();
            ConcurrentHashMap<Integer, Boolean> starts = new ConcurrentHashMap<>();
            Gemm.ranges(n, 16, true, 2, (from, to) -> {
                threads.put(Thread.currentThread(), true);
                starts.put(from, true);
                for (int i = from; i < to; i++) passes.incrementAndGet(i);
            });
            for (int i = 0; i < n; i++) assertEquals(1, passes.get(i), "element " + i + " of " + n + " passed once");
            assertEquals(2, threads.size(), n + " elements on two threads");
            for (int from : starts.keySet()) assertEquals(0, from % 16, "a part of " + n + " starts at " + from);
        }
    }

    /** The optimizers' steps over a parameter block too long for one thread: two threads give one thread's bits. */
    @Test
    void optimizerStepsOnTwoThreadsMatchOneThread() {
        int n = 200_003;                                          // past the split bound, not a whole number of vectors
        try (Arena arena = Arena.ofShared()) {
            Matrix grad = random(arena, new Random(11), 1, n, false), mask = random(arena, new Random(12), 1, n, false);
            for (int i = 0; i < n; i++) mask.set(0, i, mask.get(0, i) > 0 ? 1f : 0f);
            Matrix[] theta = new Matrix[2], first = new Matrix[2], second = new Matrix[2];
            Kernels[] kernels = {ONE, TWO};
            for (int t = 0; t < 2; t++) {
                theta[t] = random(arena, new Random(13), 1, n, false);
                first[t] = random(arena, new Random(14), 1, n, false);
                second[t] = random(arena, new Random(15), 1, n, false);
                for (int i = 0; i < n; i++) second[t].set(0, i, Math.abs(second[t].get(0, i)));   // a second moment
            }
            for (int t = 0; t < 2; t++) {
                kernels[t].adamStep(theta[t], grad, first[t], second[t], mask, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3);
                kernels[t].momentumStep(theta[t], grad, first[t], mask, 1e-2f, 0.9f, 0.01f, false);
                kernels[t].momentumStep(theta[t], grad, second[t], mask, 1e-2f, 0.9f, 0f, true);                // Nesterov
            }
            assertArrayEquals(theta[0].toArray(), theta[1].toArray(), "parameters");
            assertArrayEquals(first[0].toArray(), first[1].toArray(), "Adam's first moment, then a velocity");
            assertArrayEquals(second[0].toArray(), second[1].toArray(), "Adam's second moment, then a Nesterov velocity");
        }
    }

    /** A confined arena's rows stay on the caller's thread (a worker may not touch them), and are still all computed. */
    @Test
    void confinedMemoryStaysOnTheCallersThread() {
        try (Arena arena = Arena.ofConfined()) {
            Matrix z = random(arena, new Random(3), 256, 256, false), out = Matrix.allocate(arena, 256, 256);
            Thread me = Thread.currentThread();
            ConcurrentHashMap<Thread, Boolean> threads = new ConcurrentHashMap<>();
            Gemm.rows(z, out, null, 2, (from, to) -> threads.put(Thread.currentThread(), true));
            assertEquals(java.util.Set.of(me), threads.keySet());
            out.fill(Float.NaN);
            TWO.activate(Activation.RELU, z, out);
            for (float v : out.toArray()) assertNotEquals(Float.NaN, v);
        }
    }
}
