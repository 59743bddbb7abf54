package io.vectorprop.kernel;

import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Splits a large GEMM into independent blocks of C for several threads: columns when C is at least as
 * wide as it is tall (always for the no-packing dot-product path), rows otherwise, in whole
 * micro-tiles. The caller's thread computes the first block; the others go to a fixed set of
 * persistent daemon workers, created on first use, {@code vectorprop.threads − 1} of them (default:
 * available processors − 1). A hand-off writes the job into the worker's fields and unparks it: no
 * allocation per call. Problems under {@link #MIN_FLOPS_PER_THREAD} per thread, operands from a
 * confined arena (which other threads may not touch), and calls made while another thread is
 * using the workers run on the caller's thread alone. Each block is computed exactly as it would be
 * alone, so for a fixed thread count results are bit-identical run to run.
 */
final class GemmThreads {
    /** Below this many multiply-adds per thread, a hand-off costs more than it saves. */
    static final long MIN_FLOPS_PER_THREAD = 1L << 20;

    /** Spins this many times waiting before parking: hand-offs are often only tens of microseconds apart. */
    private static final int SPINS = 1 << 14;

    private static final class Worker extends Thread {
        // The job: written by the caller before `pending` is set (volatile), read by the worker after.
        int path, from, to, m, n;
        Transpose ta, tb;
        float alpha, beta;
        Matrix a, b, c;
        boolean byColumns;
        volatile boolean pending;
        volatile Thread waiter;
        volatile RuntimeException failure;

        Worker(int index) {
            super("vectorprop-gemm-" + index);
            setDaemon(true);
        }

        @Override
        public void run() {
            while (true) {
                for (int spin = 0; !pending; spin++) {
                    if (spin < SPINS) Thread.onSpinWait(); else LockSupport.park(this);
                }
                try {
                    block(path, ta, tb, alpha, a, b, beta, c, byColumns, from, to, m, n);
                } catch (RuntimeException e) {
                    failure = e;
                }
                a = b = c = null;
                pending = false;
                LockSupport.unpark(waiter);
            }
        }
    }

    private static final class Pool {
        static final int SIZE = Math.max(1, Integer.getInteger("vectorprop.threads",
                Runtime.getRuntime().availableProcessors()));
        static final Worker[] WORKERS = new Worker[SIZE - 1];
        static final ReentrantLock LOCK = new ReentrantLock();

        static {
            for (int i = 0; i < WORKERS.length; i++) {
                WORKERS[i] = new Worker(i + 1);
                WORKERS[i].start();
            }
        }
    }

    /** A never-started thread, used only to ask whether a segment may be read by threads other than its owner. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });

    private GemmThreads() {}

    static void run(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, int threads,
                    int m, int n, int k, int path) {
        long work = (long) m * n * k;
        int parts = (int) Math.min(threads, Math.max(1, work / MIN_FLOPS_PER_THREAD));
        boolean byColumns = path == VectorGemm.DOT_NT || (path == VectorGemm.PACKED && n >= m);
        int unit = byColumns ? VectorGemm.NR : VectorGemm.MR;
        int extent = byColumns ? n : m;
        parts = Math.min(parts, (extent + unit - 1) / unit);
        if (parts > 1 && !(sharable(a) && sharable(b) && sharable(c))) {
            parts = 1;                                        // a confined arena's memory: only this thread may touch it
        }
        if (parts > 1) {
            parts = Math.min(parts, Pool.SIZE);
        }
        if (parts <= 1 || !Pool.LOCK.tryLock()) {
            VectorGemm.block(path, ta, tb, alpha, a, b, beta, c, 0, m, 0, n);
            return;
        }
        try {
            int unitsPerPart = ((extent + unit - 1) / unit + parts - 1) / parts;
            Thread me = Thread.currentThread();
            for (int part = 1; part < parts; part++) {
                Worker w = Pool.WORKERS[part - 1];
                w.path = path;
                w.ta = ta;
                w.tb = tb;
                w.alpha = alpha;
                w.beta = beta;
                w.a = a;
                w.b = b;
                w.c = c;
                w.byColumns = byColumns;
                w.from = Math.min(extent, part * unitsPerPart * unit);
                w.to = Math.min(extent, w.from + unitsPerPart * unit);
                w.m = m;
                w.n = n;
                w.failure = null;
                w.waiter = me;
                w.pending = true;
                LockSupport.unpark(w);
            }
            block(path, ta, tb, alpha, a, b, beta, c, byColumns, 0, Math.min(extent, unitsPerPart * unit), m, n);
            RuntimeException failure = null;
            for (int part = 1; part < parts; part++) {
                Worker w = Pool.WORKERS[part - 1];
                for (int spin = 0; w.pending; spin++) {
                    if (spin < SPINS) Thread.onSpinWait(); else LockSupport.park(w);
                }
                if (w.failure != null) failure = w.failure;
            }
            if (failure != null) throw failure;
        } finally {
            Pool.LOCK.unlock();
        }
    }

    private static boolean sharable(Matrix m) {
        return m.segment().isAccessibleBy(OTHER_THREAD);
    }

    private static void block(int path, Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta,
                              Matrix c, boolean byColumns, int from, int to, int m, int n) {
        if (from >= to) return;
        if (byColumns) {
            VectorGemm.block(path, ta, tb, alpha, a, b, beta, c, 0, m, from, to);
        } else {
            VectorGemm.block(path, ta, tb, alpha, a, b, beta, c, from, to, 0, n);
        }
    }
}
