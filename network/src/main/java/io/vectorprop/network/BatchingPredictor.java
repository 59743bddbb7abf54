package io.vectorprop.network;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;

/**
 * Coalesces concurrent single-sample predictions into batches: any number of threads, platform or
 * virtual, call {@link #predict(float[], float[])} at once, and requests that arrive while a batch runs
 * go together through one batched forward pass of the {@link Predictor}, which reads each weight once
 * for the whole batch instead of once per request.
 *
 * <p><b>Natural batching, run by the callers.</b> There is no batching thread and no timer. A call that
 * finds fewer than {@code parallelism} batches running computes at once, on its own thread, a batch of
 * whatever is queued, its own request included (alone: a batch of one, through the predictor's
 * single-sample path, so a lone request gets the plain predictor's latency). A call that finds
 * {@code parallelism} batches running queues its request and parks. When a running batch ends and its
 * runner's own answer is ready, the runner returns and hands the role to the first queued caller,
 * which runs the next batch of up to {@code maxBatch} queued requests: so batches grow with the load,
 * {@code parallelism} of them run at once (default: one per processor), and no caller computes for
 * others longer than one batch past its own answer.
 *
 * <p><b>Results</b> equal the plain predictor's within {@code 1e-5·(1 + |y|)} for each output y: a
 * batch of one is the plain single-sample path (the same bits); larger batches run the batch path, which
 * sums the same products in another order.
 *
 * <p><b>Limits and failures.</b> At most {@code queueCapacity} requests wait; a call that finds the queue
 * full fails at once with {@link RejectedExecutionException} (it does not wait for room: a service
 * sheds load rather than queueing past its latency budget). With a {@code timeout}, a request not yet
 * taken into a batch when its timeout passes is withdrawn and the call fails with
 * {@link RejectedExecutionException}. An interrupted caller gets {@link InterruptedException}: at once
 * if its request was still queued (it is withdrawn), after the batch ends if that batch already held
 * its request (its output may then have been written); nothing else is disturbed. {@link #close()}
 * fails every queued call and every later one with {@link IllegalStateException}, waits for the running
 * batches to end and frees the off-heap batch buffers; it does not close the predictor.
 *
 * <p>Thread-safe. After warm-up a call allocates nothing on the heap: requests and batch views are
 * reused (at most {@code queueCapacity + parallelism} request objects are ever made).
 */
public final class BatchingPredictor implements AutoCloseable {
    /**
     * What a batch runs: by default the predictor's single-sample and batch paths. Package-private so
     * that tests can hold a batch open while they queue, interrupt, time out or close around it.
     */
    interface Forward {
        void predictOne(float[] in, float[] out);

        void predictBatch(Matrix in, Matrix out);
    }

    private final Forward forward;
    private final Architecture architecture;
    private final String over;
    private final int maxBatch, parallelism, queueCapacity, inputs, outputs;
    private final long timeoutNanos;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition noneRunning = lock.newCondition();
    // Guarded by lock:
    private final ArrayDeque<Request> queue;
    private final ArrayDeque<Request> spareRequests = new ArrayDeque<>();
    private final ArrayDeque<BatchBuffers> spareBuffers = new ArrayDeque<>();
    private int running;                     // batch-running roles held, by runners or handed to queued callers
    private boolean closed;
    private long calls, batches, batchedRows;
    private int largestBatch;

    private final Arena arena = Arena.ofShared();

    /** One call's request: its arrays while it is queued or in a batch, then recycled. */
    private static final class Request {
        static final int QUEUED = 0, TAKEN = 1, DONE = 2, FAILED = 3;
        float[] in, out;
        Thread caller;
        volatile int state;
        /**
         * Whether this request's caller holds a role: from the start (it found a free one), or handed to
         * it by a runner while it waited (it then runs batches). At most one per caller.
         */
        volatile boolean promoted;
        RuntimeException failure;
    }

    /** One runner's off-heap input and output rows, and views of their first r rows (made once each). */
    private static final class BatchBuffers {
        final Matrix in, out;
        final Matrix[] inRows, outRows;
        final Request[] batch;

        BatchBuffers(Arena arena, int maxBatch, int inputs, int outputs) {
            in = Matrix.allocate(arena, maxBatch, inputs);
            out = Matrix.allocate(arena, maxBatch, outputs);
            inRows = new Matrix[maxBatch + 1];
            outRows = new Matrix[maxBatch + 1];
            batch = new Request[maxBatch];
        }

        Matrix inRows(int r) {
            Matrix v = inRows[r];
            return v != null ? v : (inRows[r] = in.rows(0, r));
        }

        Matrix outRows(int r) {
            Matrix v = outRows[r];
            return v != null ? v : (outRows[r] = out.rows(0, r));
        }
    }

    /**
     * Batches of at most {@code maxBatch} rows, one running per available processor, at most 16,384
     * requests waiting, no timeout.
     */
    public BatchingPredictor(Predictor predictor, int maxBatch) {
        this(builder(predictor).maxBatch(maxBatch), null);
    }

    private BatchingPredictor(Builder b, Forward forward) {
        this.forward = forward != null ? forward : b.forward;
        this.architecture = b.architecture;
        this.over = b.over;
        this.maxBatch = b.maxBatch;
        this.parallelism = b.parallelism;
        this.queueCapacity = b.queueCapacity;
        this.timeoutNanos = b.timeout == null ? 0 : b.timeout.toNanos();
        this.inputs = architecture.inputs();
        this.outputs = architecture.outputs();
        this.queue = new ArrayDeque<>(queueCapacity);
        for (int i = 0; i < parallelism; i++) spareBuffers.push(new BatchBuffers(arena, maxBatch, inputs, outputs));
    }

    /** Batches through {@code predictor}; options, each checked when set; {@link Builder#build()} makes it. */
    public static Builder builder(Predictor predictor) {
        if (predictor == null) throw new IllegalArgumentException("BatchingPredictor: predictor is null");
        return new Builder(new Forward() {
            @Override public void predictOne(float[] in, float[] out) { predictor.predict(in, out); }

            @Override public void predictBatch(Matrix in, Matrix out) { predictor.predict(in, out); }
        }, predictor.architecture(), predictor.toString());
    }

    /**
     * Batches through whichever predictor {@code model} holds when each batch runs (each batch runs
     * wholly on one model, see {@link SwappablePredictor}), so a service can replace its model without
     * failing a call. A model swapped in must take and give as many values as the first.
     */
    public static Builder builder(SwappablePredictor model) {
        if (model == null) throw new IllegalArgumentException("BatchingPredictor: model is null");
        return new Builder(new Forward() {
            @Override public void predictOne(float[] in, float[] out) { model.predict(in, out); }

            @Override public void predictBatch(Matrix in, Matrix out) { model.predict(in, out); }
        }, model.current().architecture(), "a swappable model");
    }

    /** The options of a {@link BatchingPredictor}. Not thread-safe; use it on one thread. */
    public static final class Builder {
        private final Forward forward;
        private final Architecture architecture;
        private final String over;
        private int maxBatch = 64, parallelism = Runtime.getRuntime().availableProcessors(), queueCapacity = 16_384;
        private Duration timeout;

        private Builder(Forward forward, Architecture architecture, String over) {
            this.forward = forward;
            this.architecture = architecture;
            this.over = over;
        }

        /** Most rows in one batch (default 64); 1 turns batching off. */
        public Builder maxBatch(int rows) {
            if (rows < 1 || rows > 65_536) {
                throw new IllegalArgumentException("BatchingPredictor: maxBatch " + rows + " must be from 1 to 65536");
            }
            maxBatch = rows;
            return this;
        }

        /** Batches running at once (default: available processors), each on the thread of one caller. */
        public Builder parallelism(int batches) {
            if (batches < 1 || batches > 1024) {
                throw new IllegalArgumentException("BatchingPredictor: parallelism " + batches + " must be from 1 to 1024");
            }
            parallelism = batches;
            return this;
        }

        /**
         * Most requests waiting for a batch (default 16,384: about 40 ms of the most that 784-256-128-10
         * sustains on two cores); a call that finds it full fails at once.
         */
        public Builder queueCapacity(int requests) {
            if (requests < 1 || requests > 1 << 24) {
                throw new IllegalArgumentException("BatchingPredictor: queueCapacity " + requests + " must be from 1 to 16777216");
            }
            queueCapacity = requests;
            return this;
        }

        /** How long a request may wait to be taken into a batch before its call fails (default: no limit). */
        public Builder timeout(Duration wait) {
            if (wait == null || wait.isNegative() || wait.isZero()) {
                throw new IllegalArgumentException("BatchingPredictor: timeout " + wait + " must be positive");
            }
            timeout = wait;
            return this;
        }

        public BatchingPredictor build() {
            return new BatchingPredictor(this, null);
        }

        /** For tests: batches run through {@code forward} instead of the predictor. */
        BatchingPredictor build(Forward forward) {
            return new BatchingPredictor(this, forward);
        }
    }

    /**
     * One sample: {@code input} has n₀ features, {@code output} receives n_L outputs. Blocks until the
     * answer is written; see the class comment for when it fails instead.
     *
     * @throws InterruptedException       if the calling thread is interrupted while it waits
     * @throws RejectedExecutionException if the queue is full, or the timeout passed before a batch took the request
     * @throws IllegalStateException      if this batching predictor is (or gets) closed before a batch took the request
     */
    public void predict(float[] input, float[] output) throws InterruptedException {
        if (input.length != inputs || output.length != outputs) {
            throw new IllegalArgumentException("BatchingPredictor.predict: input of " + input.length + " and output of "
                    + output.length + " floats; the network " + architecture.sizesText() + " needs " + inputs
                    + " and " + outputs);
        }
        Request r;
        boolean runs, busy;
        lock.lock();
        try {
            if (closed) throw new IllegalStateException("BatchingPredictor.predict: closed");
            if (queue.size() >= queueCapacity) {
                throw new RejectedExecutionException("BatchingPredictor.predict: " + queue.size()
                        + " requests are waiting already (queueCapacity " + queueCapacity + ")");
            }
            r = spareRequests.isEmpty() ? new Request() : spareRequests.pop();
            r.in = input;
            r.out = output;
            r.caller = Thread.currentThread();
            r.failure = null;
            r.state = Request.QUEUED;
            queue.addLast(r);
            calls++;
            runs = running < parallelism;
            if (runs) running++;
            r.promoted = runs;                             // its caller holds a role: none may be handed to it
            busy = running > 1 || queue.size() > 1;
        } finally {
            lock.unlock();
        }
        try {
            if (runs) {
                runBatches(r, busy);
            } else {
                awaitOrRun(r);
            }
            if (r.state == Request.FAILED) throw r.failure;
        } finally {
            recycle(r);
        }
    }

    /** Waits for r's answer, or for the role of running batches (then runs them until r is answered). */
    private void awaitOrRun(Request r) throws InterruptedException {
        long deadline = timeoutNanos == 0 ? 0 : System.nanoTime() + timeoutNanos;
        while (true) {
            if (r.promoted) {
                runBatches(r, true);
                if (Thread.interrupted()) throw new InterruptedException("BatchingPredictor.predict: interrupted");
                return;
            }
            if (answered(r)) return;
            if (Thread.interrupted()) {
                if (withdraw(r)) throw new InterruptedException("BatchingPredictor.predict: interrupted while queued");
                awaitTaken(r);                             // in a batch already (or promoted): see it through
                throw new InterruptedException("BatchingPredictor.predict: interrupted while its batch ran");
            }
            if (deadline != 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    if (withdraw(r)) {
                        throw new RejectedExecutionException("BatchingPredictor.predict: not taken into a batch within the timeout of "
                                + Duration.ofNanos(timeoutNanos));
                    }
                    deadline = 0;                          // taken meanwhile: wait for the answer
                    continue;
                }
                LockSupport.parkNanos(this, left);
            } else {
                LockSupport.park(this);
            }
        }
    }

    /** Waits, ignoring interrupts, until r is answered (running batches if r's caller holds the role). */
    private void awaitTaken(Request r) {
        while (true) {
            if (r.promoted) {
                runBatches(r, true);
                return;
            }
            if (answered(r)) return;
            LockSupport.park(this);
            Thread.interrupted();                          // the caller is told once, after
        }
    }

    /**
     * Whether r is answered, its caller's role (if one was handed to it meanwhile) given up or passed on.
     * A role is handed only to a queued request, under the lock, before any batch can take it: so once
     * r's state says answered, a handed role is visible here, and is never left without a holder.
     */
    private boolean answered(Request r) {
        int state = r.state;
        if (state != Request.DONE && state != Request.FAILED) return false;
        if (r.promoted) runBatches(r, false);              // returns at once: r is answered
        return true;
    }

    /** Removes r from the queue if no batch took it and no role was handed to it; true if removed. */
    private boolean withdraw(Request r) {
        lock.lock();
        try {
            if (r.state != Request.QUEUED || r.promoted) return false;
            queue.remove(r);
            r.state = Request.FAILED;
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Holds one role: runs batches of queued requests until r is answered, then hands the role to the
     * first queued caller that has none, or gives it up when nobody waits. {@code busy}: other batches
     * run or others wait, so callers may be about to queue (see the yield below).
     */
    private void runBatches(Request r, boolean busy) {
        BatchBuffers b;
        lock.lock();
        try {
            b = spareBuffers.pop();                        // roles ≤ parallelism = buffers
        } finally {
            lock.unlock();
        }
        for (boolean first = true; ; first = false) {
            // When busy, let the callers that are ready to run queue their requests first: the callers
            // answered by the last batch are runnable but may not have had a core yet, and a batch
            // drained before they queue holds only what was already there (with 64 virtual threads on
            // 2 cores, about one request). A lone caller on an idle predictor does not yield: for a
            // virtual thread a yield is a trip through the scheduler, which a batch of one need not pay.
            if ((busy || !first) && r.state == Request.QUEUED) Thread.yield();   // not once r is answered
            int n = 0;
            lock.lock();
            try {
                int state = r.state;
                if (state == Request.DONE || state == Request.FAILED) {
                    spareBuffers.push(b);
                    handOffOrStop();
                    return;
                }
                for (Request q; n < maxBatch && (q = queue.pollFirst()) != null; n++) {
                    q.state = Request.TAKEN;
                    b.batch[n] = q;
                }
                if (n > 0) {
                    batches++;
                    batchedRows += n;
                    largestBatch = Math.max(largestBatch, n);
                }
            } finally {
                lock.unlock();
            }
            if (n > 0) compute(b, n);
        }
    }

    /** Under the lock: the role goes to the first queued caller without one, else it ends. */
    private void handOffOrStop() {
        for (Request q : queue) {
            if (!q.promoted) {
                q.promoted = true;
                LockSupport.unpark(q.caller);
                return;
            }
        }
        if (--running == 0) noneRunning.signalAll();
    }

    /** One batch of n taken requests through the predictor; answers them (a failure fails them all). */
    private void compute(BatchBuffers b, int n) {
        Request[] batch = b.batch;
        RuntimeException failure = null;
        try {
            if (n == 1) {
                forward.predictOne(batch[0].in, batch[0].out);
            } else {
                MemorySegment in = b.in.segment(), out = b.out.segment();
                long inRow = (long) b.in.stride() * Float.BYTES, outRow = (long) b.out.stride() * Float.BYTES;
                for (int i = 0; i < n; i++) {
                    MemorySegment.copy(batch[i].in, 0, in, ValueLayout.JAVA_FLOAT, i * inRow, inputs);
                }
                forward.predictBatch(b.inRows(n), b.outRows(n));
                for (int i = 0; i < n; i++) {
                    MemorySegment.copy(out, ValueLayout.JAVA_FLOAT, i * outRow, batch[i].out, 0, outputs);
                }
            }
        } catch (RuntimeException e) {
            failure = e;
        }
        Thread self = Thread.currentThread();
        for (int i = 0; i < n; i++) {
            Request q = batch[i];
            batch[i] = null;
            Thread caller = q.caller;
            if (failure != null) {
                q.failure = failure;
                q.state = Request.FAILED;
            } else {
                q.state = Request.DONE;
            }
            if (caller != self) LockSupport.unpark(caller);
        }
    }

    private void recycle(Request r) {
        lock.lock();
        try {
            r.in = r.out = null;
            r.caller = null;
            if (spareRequests.size() < queueCapacity + parallelism) spareRequests.push(r);
        } finally {
            lock.unlock();
        }
    }

    /** What has been done so far: calls accepted, batches run, rows in them, the largest batch. */
    public record Stats(long calls, long batches, long batchedRows, int largestBatch) {
        /** Mean rows per batch (0 before the first batch). */
        public double meanBatch() { return batches == 0 ? 0 : (double) batchedRows / batches; }
    }

    public Stats stats() {
        lock.lock();
        try {
            return new Stats(calls, batches, batchedRows, largestBatch);
        } finally {
            lock.unlock();
        }
    }

    /** The network's shape (of the first model, for a swappable one). */
    public Architecture architecture() { return architecture; }

    public int maxBatch() { return maxBatch; }

    public int parallelism() { return parallelism; }

    public int queueCapacity() { return queueCapacity; }

    /**
     * Fails the queued calls and all later ones with {@link IllegalStateException}, waits for the
     * running batches to end, and frees the batch buffers. Idempotent. The predictor stays open.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            IllegalStateException failure = new IllegalStateException("BatchingPredictor.predict: closed while queued");
            for (Request q; (q = queue.pollFirst()) != null; ) {
                q.failure = failure;
                q.state = Request.FAILED;
                LockSupport.unpark(q.caller);
            }
            while (running > 0) noneRunning.awaitUninterruptibly();
        } finally {
            lock.unlock();
        }
        arena.close();
    }

    @Override
    public String toString() {
        return "BatchingPredictor (maxBatch " + maxBatch + ", parallelism " + parallelism + ", queueCapacity "
                + queueCapacity + (timeoutNanos == 0 ? "" : ", timeout " + Duration.ofNanos(timeoutNanos)) + ") over " + over;
    }
}
