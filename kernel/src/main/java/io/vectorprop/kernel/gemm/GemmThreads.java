package io.vectorprop.kernel.gemm;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.RowPass;
import io.vectorprop.kernel.internal.Settings;
import io.vectorprop.kernel.internal.Sharing;

/**
 * Runs a large GEMM on several threads. A packed product tall enough for {@link #CHUNKS_PER_THREAD}
 * chunks of rows per thread (except an NT product as wide as tall or wider, on two threads: {@link #columnsBeforeTeam})
 * is computed by a team ({@link PackedLoops#computeAsMember}, the loop nest
 * a single thread runs as a team of one): B packed once into
 * one shared buffer (by each of two members into its own: {@link PackedLoops#OWN_PANEL_MAX_MEMBERS}),
 * chunks of rows of C dealt out so that each thread computes the same rows call
 * after call while the cores keep pace, and a thread on a slower core (shared machines: another
 * tenant on it) computes fewer instead of holding the others back.
 * Other products are cut into independent blocks of C, about {@link #CHUNKS_PER_THREAD} per thread,
 * dealt the same way ({@link Team#deal}: each thread its own run first, then help for the others):
 * columns when C is at least as wide as it is tall (always for the no-packing dot-product path, in its
 * column chunks), rows otherwise, in whole micro-tiles. The
 * caller's thread works alongside a fixed set of persistent daemon workers,
 * created on first use, {@code vectorprop.threads − 1} of them (default: available processors − 1). A
 * hand-off gives each worker the one immutable {@link Job} of the call and unparks it. Problems
 * under {@link #MIN_FLOPS_PER_THREAD} per thread, operands from a confined arena (which other threads
 * may not touch), and calls made while another thread is using the workers run on the caller's thread
 * alone. Every element of C is computed by the same operations whichever thread computes it, so
 * results are bit-identical run to run (and, for the team, to the single-thread result). The same
 * workers also run element-wise passes: {@link #rows} (an activation over the Z a team has just
 * written, each thread the rows it computed) and {@link #ranges} (an optimizer's step, equal parts).
 */
final class GemmThreads {
    /**
     * Below this many multiply-adds per thread, a hand-off costs more than it saves
     * ({@code -Dvectorprop.gemm.minWorkPerThread}). The default is low enough to split the 2-M products of
     * a batch-10 training step (the 784-input layer's forward and weight update), which pays on two
     * threads; much higher thresholds leave the batch-64 and batch-256 steps on one thread.
     */
    static final long MIN_FLOPS_PER_THREAD = Settings.GEMM_MIN_WORK_PER_THREAD;

    /** A team splits the rows of C into about this many chunks per thread (fewer if they would be under MR rows). */
    static final int CHUNKS_PER_THREAD = 4;

    /** Spins this many times waiting before parking: hand-offs are often only tens of microseconds apart. */
    private static final int SPINS = 1 << 14;

    /**
     * What a split product's threads share: the operands, the path, and how C is split (as a team, or
     * in blocks of {@code chunk} columns or rows; m, rows and align unused); or, for an element-wise pass,
     * its m rows ({@link #rows}, align 0) or elements ({@link #ranges}, cut at multiples of align) and the
     * pass ({@code call} and {@code path} null). Made only when a product is split, so a product
     * computed on the caller's thread alone allocates nothing (C2 would not scalar-replace a record
     * that a worker may receive on another branch).
     */
    private record Job(GemmCall call, GemmPath path, boolean team, boolean byColumns, int chunk, int m, RowPass rows, int align) {}

    private static final class Worker extends Thread {
        /** Written by the caller before {@code pending} is set (volatile), read by the worker after. */
        Job job;
        int member;
        volatile boolean pending;
        volatile Thread waiter;
        volatile Throwable failure;

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
                    share(job, member);
                } catch (Throwable e) {                       // an Error too: nobody may be left waiting
                    failure = e;
                    Pool.TEAM.broken = true;                  // releases the others from the barrier, stops the chunks
                }
                job = null;
                pending = false;
                LockSupport.unpark(waiter);
            }
        }
    }

    private static final class Pool {
        static final int SIZE = Settings.THREADS;
        static final Worker[] WORKERS = new Worker[SIZE - 1];
        static final ReentrantLock LOCK = new ReentrantLock();
        static final Team TEAM = new Team(SIZE, PanelBuffers.allocate(GemmBlocking.KC * GemmBlocking.NC));

        static {
            for (int i = 0; i < WORKERS.length; i++) {
                WORKERS[i] = new Worker(i + 1);
                WORKERS[i].start();
            }
        }
    }

    /**
     * What the members of a team share: the packed B panel, the counters that deal out chunks of C, and
     * a spinning barrier. The pool's team serves one split product at a time, under {@link Pool#LOCK};
     * each GEMM workspace holds a team of one for a thread computing alone.
     */
    static final class Team {
        final float[] packB;
        /**
         * Each member's own B panel where the team is small enough to use them
         * ({@link PackedLoops#OWN_PANEL_MAX_MEMBERS}): held by the team, by member index, so that a member
         * (a pool worker is always the same thread) refills the buffer its own core read last, never one
         * the other core has in its cache, which is the cost the own panels avoid. None in a team of one.
         */
        final float[][] ownPanels;
        /** Member t's next chunk at index 16·t (a cache line each), its share ending before end[t]. */
        private final AtomicIntegerArray next;
        private final int[] end;
        int size, chunkRows;
        private final AtomicInteger arrived = new AtomicInteger();
        private volatile int phase;
        volatile boolean broken;

        Team(int capacity, float[] packB) {
            this.packB = packB;
            // As long as packB (from PanelBuffers.allocate): so each is humongous too, and panels from START sit on lines.
            this.ownPanels = new float[capacity > 1 ? Math.min(capacity, PackedLoops.OWN_PANEL_MAX_MEMBERS) : 0][packB.length];
            this.next = new AtomicIntegerArray(16 * capacity);
            this.end = new int[capacity];
        }

        /** Prepares the team for a new product (before the workers are handed their share). */
        void reset(int size, int chunkRows) {
            this.size = size;
            this.chunkRows = chunkRows;
            arrived.set(0);
            broken = false;
        }

        /**
         * Shares chunks 0 … count−1 out: member t owns a contiguous run of them, takes those first and
         * in order, then helps the others with theirs. With cores of equal speed every member computes
         * just its own run, the same rows or columns call after call (what it wrote stays in its cache
         * for the next product); a slower member's last chunks go to the others. Called by one member
         * while nobody takes chunks (before a barrier or before the hand-off).
         */
        void deal(int count) {
            int share = (count + size - 1) / size;
            for (int t = 0; t < size; t++) {
                next.set(16 * t, Math.min(count, t * share));
                end[t] = Math.min(count, (t + 1) * share);
            }
        }

        /** The next chunk for member t, or −1 when all are taken. */
        int take(int t) {
            for (int q = 0; q < size; q++) {
                int v = (t + q) % size, chunk = next.getAndIncrement(16 * v);
                if (chunk < end[v]) return chunk;
            }
            return -1;
        }

        /** Waits until all {@code size} members have called it; throws if a member failed meanwhile. */
        void await() {
            if (size == 1) return;
            int p = phase;                                 // cannot advance before this member arrives
            if (arrived.incrementAndGet() == size) {
                arrived.set(0);
                phase = p + 1;
                return;
            }
            for (int spin = 0; phase == p; spin++) {
                if (broken) throw new TeamBroken();
                if (spin < SPINS) Thread.onSpinWait(); else Thread.yield();
            }
        }
    }

    /** Thrown by the members a failed member leaves waiting; the failure reported is the original one. */
    private static final class TeamBroken extends IllegalStateException {
        TeamBroken() {
            super("gemm: another thread of the team failed");
        }
    }

    private GemmThreads() {}

    /**
     * Computes the product on up to {@code threads} threads (the caller's included), or on the caller's
     * thread alone when it is too small to split, its memory is confined to this thread, or another
     * thread is using the workers.
     */
    static void run(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, Matrix bias,
                    int threads, GemmPath path) {
        int m = c.rows(), n = c.cols(), k = ta.cols(a);
        long work = (long) m * n * k;
        int parts = (int) Math.min(threads, Math.max(1, work / MIN_FLOPS_PER_THREAD));
        boolean byColumns = path.splitsByColumns(m, n);
        int unit = path.splitUnit(byColumns);
        int extent = byColumns ? n : m;
        parts = Math.min(parts, (extent + unit - 1) / unit);
        if (parts > 1 && !(Sharing.isShared(a.segment()) && Sharing.isShared(b.segment()) && Sharing.isShared(c.segment())
                && (bias == null || Sharing.isShared(bias.segment())))) {
            parts = 1;                                        // a confined arena's memory: only this thread may touch it
        }
        if (parts > 1) {
            parts = Math.min(parts, Pool.SIZE);
        }
        if (parts <= 1 || !Pool.LOCK.tryLock()) {
            path.compute(ta, tb, alpha, a, b, beta, c, bias, 0, m, 0, n);
            return;
        }
        try {
            boolean team = !columnsBeforeTeam(ta, tb, m, n, parts) && byTeam(path, m, parts);
            Pool.TEAM.reset(parts, chunkRows(m, parts));
            int units = (extent + unit - 1) / unit;
            int chunk = Math.max(1, (units + parts * CHUNKS_PER_THREAD - 1) / (parts * CHUNKS_PER_THREAD)) * unit;
            if (!team) Pool.TEAM.deal((extent + chunk - 1) / chunk);
            Job job = new Job(new GemmCall(ta, tb, alpha, a, b, beta, c, bias), path, team, byColumns, chunk, 0, null, 0);
            handOut(job, parts);
        } finally {
            Pool.LOCK.unlock();
        }
    }

    /**
     * Rows [0, m) of an element-wise pass over x, y and z (the same shape; z may be null) on up to
     * {@code threads} threads, member t taking rows {@link #memberRows memberRows(m, parts, t)} up to
     * those of member t + 1: the rows a team product of m rows on as many threads gives it when each
     * computes its own run of chunks, so that it reads what its own core has just written. On the
     * caller's thread alone when a product of m rows would not form a team, the memory is confined, or
     * another thread is using the workers. The caller decides whether the pass is worth a hand-off.
     */
    static void rows(Matrix x, Matrix y, Matrix z, int threads, RowPass pass) {
        int m = x.rows(), parts = Math.min(threads, Pool.SIZE);
        if (parts <= 1 || !byTeam(GemmPath.PACKED, m, parts)
                || !(Sharing.isShared(x.segment()) && Sharing.isShared(y.segment()) && (z == null || Sharing.isShared(z.segment())))
                || !Pool.LOCK.tryLock()) {
            pass.compute(0, m);
            return;
        }
        try {
            Pool.TEAM.reset(parts, 0);                         // a pass takes no chunks: memberRows cuts it
            handOut(new Job(null, null, false, false, 0, m, pass, 0), parts);
        } finally {
            Pool.LOCK.unlock();
        }
    }

    /**
     * Elements [0, n) of a pass over flat arrays (an optimizer's step over all parameters) on up to
     * {@code threads} threads, cut into equal parts at multiples of {@code align} (the last part ends at
     * n); on the caller's thread alone when the operands are not {@code sharable} or another thread is
     * using the workers. The caller decides whether the pass is worth a hand-off.
     */
    static void ranges(int n, int align, boolean sharable, int threads, RowPass pass) {
        int parts = Math.min(threads, Pool.SIZE);
        if (parts <= 1 || !sharable || n < parts * align || !Pool.LOCK.tryLock()) {
            pass.compute(0, n);
            return;
        }
        try {
            Pool.TEAM.reset(parts, 0);
            handOut(new Job(null, null, false, false, 0, n, pass, align), parts);
        } finally {
            Pool.LOCK.unlock();
        }
    }

    /** Where part t of n elements cut into {@code parts} at multiples of {@code align} starts; n for t = parts. */
    static int rangeStart(int n, int parts, int align, int t) {
        return t >= parts ? n : (int) ((long) n * t / parts) / align * align;
    }

    /**
     * The first row of member t's share when a team of {@code parts} computes m rows: the start of its
     * first dealt chunk ({@link Team#deal}), chunks being whole MR-row slivers spread evenly as
     * {@link PackedLoops}' nest cuts them; m for t = parts.
     */
    static int memberRows(int m, int parts, int t) {
        int chunkRows = chunkRows(m, parts), chunks = (m + chunkRows - 1) / chunkRows;
        int slivers = (m + GemmBlocking.MR - 1) / GemmBlocking.MR, share = (chunks + parts - 1) / parts;
        int chunk = Math.min(chunks, t * share);
        return Math.min(m, (int) ((long) chunk * slivers / chunks) * GemmBlocking.MR);
    }

    /**
     * Hands {@code job} to workers 1 … parts−1, computes member 0's share on the caller's thread, waits for
     * the others and rethrows the first failure; called under the pool's lock.
     */
    private static void handOut(Job job, int parts) {
        Thread me = Thread.currentThread();
        for (int part = 1; part < parts; part++) {
            Worker w = Pool.WORKERS[part - 1];
            w.job = job;
            w.member = part;
            w.failure = null;
            w.waiter = me;
            w.pending = true;
            LockSupport.unpark(w);
        }
        Throwable failure = null;
        try {
            share(job, 0);
        } catch (Throwable e) {                           // an Error too: the workers must not be left waiting
            failure = e;
            Pool.TEAM.broken = true;
        }
        for (int part = 1; part < parts; part++) {
            Worker w = Pool.WORKERS[part - 1];
            for (int spin = 0; w.pending; spin++) {
                if (spin < SPINS) Thread.onSpinWait(); else LockSupport.park(w);
            }
            if (w.failure != null && (failure == null || failure instanceof TeamBroken)) failure = w.failure;
        }
        if (failure instanceof RuntimeException e) throw e;
        if (failure instanceof Error e) throw e;
        if (failure != null) throw new IllegalStateException("gemm: a worker failed", failure);
    }

    /** Member t's part of a split product (its share of the team's loop nest, or blocks of C as dealt) or of a pass. */
    private static void share(Job job, int t) {
        if (job.rows() != null && job.align() > 0) {
            int parts = Pool.TEAM.size, a = job.align();
            job.rows().compute(rangeStart(job.m(), parts, a, t), rangeStart(job.m(), parts, a, t + 1));
        } else if (job.rows() != null) {
            int parts = Pool.TEAM.size;
            job.rows().compute(memberRows(job.m(), parts, t), memberRows(job.m(), parts, t + 1));
        } else if (job.team()) {
            PackedLoops.computeAsMember(job.call(), Pool.TEAM, t);
        } else {
            blocks(job, t);
        }
    }

    /**
     * Whether an NT product at least as wide as tall is cut into blocks of columns rather than computed by
     * a team of two (a forward pass at a batch up to the layer's width). Each member of such a team packs
     * all of B for itself ({@link PackedLoops#OWN_PANEL_MAX_MEMBERS}) while blocks of columns each pack all
     * of A: with n ≥ m the blocks copy no more. And in training B is the weights, whose rows the weight
     * update's team has just split between the threads (it splits C = ∇W, out × in, by rows); a block of
     * Z's columns reads mostly the weight rows its own thread updated, where a member packing all of B
     * reads half of them from the other core (the figures are in docs/performance.md, "Two threads").
     * Larger teams share one B panel, so they keep the team; TN and NN products keep it too (the weight
     * update's TN product measured slower by columns).
     */
    static boolean columnsBeforeTeam(Transpose ta, Transpose tb, int m, int n, int parts) {
        return ta == Transpose.N && tb == Transpose.T && n >= m && parts <= PackedLoops.OWN_PANEL_MAX_MEMBERS;
    }

    /** Whether {@code parts} threads compute the product as a team: packed, with at least two chunks of rows each. */
    static boolean byTeam(GemmPath path, int m, int parts) {
        int chunkRows = chunkRows(m, parts);
        return path.canFormTeam() && parts > 1 && (m + chunkRows - 1) / chunkRows >= 2 * parts;
    }

    /** Rows per team chunk: about {@link #CHUNKS_PER_THREAD} chunks per thread, whole micro-tiles, at most one A block. */
    static int chunkRows(int m, int parts) {
        int rows = (m + parts * CHUNKS_PER_THREAD - 1) / (parts * CHUNKS_PER_THREAD);
        rows = (rows + GemmBlocking.MR - 1) / GemmBlocking.MR * GemmBlocking.MR;
        return Math.min(GemmBlocking.MC, rows);
    }

    /**
     * Member t computes blocks of {@code chunk} columns (or rows) of C, as the team deals them, until
     * none is left; each block is computed exactly as it would be alone, so the split changes no result.
     */
    private static void blocks(Job job, int t) {
        GemmCall call = job.call();
        int m = call.m(), n = call.n(), extent = job.byColumns() ? n : m;
        for (int next; !Pool.TEAM.broken && (next = Pool.TEAM.take(t)) >= 0; ) {
            int from = next * job.chunk(), to = Math.min(extent, (next + 1) * job.chunk());
            if (from >= to) continue;
            if (job.byColumns()) {
                job.path().compute(call.ta(), call.tb(), call.alpha(), call.a(), call.b(), call.beta(), call.c(), call.bias(), 0, m, from, to);
            } else {
                job.path().compute(call.ta(), call.tb(), call.alpha(), call.a(), call.b(), call.beta(), call.c(), call.bias(), from, to, 0, n);
            }
        }
    }
}
