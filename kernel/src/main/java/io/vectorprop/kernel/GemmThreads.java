package io.vectorprop.kernel;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Splits a large GEMM into independent blocks of C for several threads: columns when C is at least as
 * wide as it is tall, rows otherwise, in whole micro-tiles. The caller's thread computes the first
 * block; the others go to one fixed pool of daemon threads, created on first use and sized by the
 * system property {@code vectorprop.threads} (default: available processors). Problems under
 * {@link #MIN_FLOPS_PER_THREAD} per thread stay on the caller's thread, and so do operands from a
 * confined arena, which other threads may not touch (use a shared, global or automatic arena to get
 * threads). Each block is computed
 * exactly as it would be alone, so for a fixed thread count results are bit-identical run to run.
 */
final class GemmThreads {
    /** Below this many multiply-adds per thread, a hand-off costs more than it saves. */
    static final long MIN_FLOPS_PER_THREAD = 1L << 20;

    private static final class Pool {
        static final int SIZE = Integer.getInteger("vectorprop.threads", Runtime.getRuntime().availableProcessors());
        static final ExecutorService EXECUTOR = Executors.newFixedThreadPool(Math.max(1, SIZE), r -> {
            Thread t = new Thread(r, "vectorprop-gemm");
            t.setDaemon(true);
            return t;
        });
    }

    private GemmThreads() {}

    static void run(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, int threads,
                    int m, int n, int k) {
        long work = (long) m * n * k;
        int parts = (int) Math.min(threads, Math.max(1, work / MIN_FLOPS_PER_THREAD));
        boolean byColumns = n >= m;
        int unit = byColumns ? VectorGemm.NR : VectorGemm.MR;
        int extent = byColumns ? n : m;
        parts = Math.min(parts, (extent + unit - 1) / unit);
        if (parts > 1 && !(sharable(a) && sharable(b) && sharable(c))) {
            parts = 1;                                        // a confined arena's memory: only this thread may touch it
        }
        if (parts <= 1) {
            VectorGemm.gemmBlock(ta, tb, alpha, a, b, beta, c, 0, m, 0, n);
            return;
        }
        int unitsPerPart = ((extent + unit - 1) / unit + parts - 1) / parts;
        CountDownLatch done = new CountDownLatch(parts - 1);
        RuntimeException[] failure = new RuntimeException[1];
        for (int part = 1; part < parts; part++) {
            int from = Math.min(extent, part * unitsPerPart * unit), to = Math.min(extent, from + unitsPerPart * unit);
            Pool.EXECUTOR.execute(() -> {
                try {
                    if (from < to) block(ta, tb, alpha, a, b, beta, c, byColumns, from, to, m, n);
                } catch (RuntimeException e) {
                    failure[0] = e;
                } finally {
                    done.countDown();
                }
            });
        }
        block(ta, tb, alpha, a, b, beta, c, byColumns, 0, Math.min(extent, unitsPerPart * unit), m, n);
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("gemm: interrupted while waiting for worker threads", e);
        }
        if (failure[0] != null) throw failure[0];
    }

    /** A never-started thread, used only to ask whether a segment may be read by threads other than its owner. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });

    private static boolean sharable(Matrix m) {
        return m.segment().isAccessibleBy(OTHER_THREAD);
    }

    private static void block(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                              boolean byColumns, int from, int to, int m, int n) {
        if (byColumns) {
            VectorGemm.gemmBlock(ta, tb, alpha, a, b, beta, c, 0, m, from, to);
        } else {
            VectorGemm.gemmBlock(ta, tb, alpha, a, b, beta, c, from, to, 0, n);
        }
    }
}
