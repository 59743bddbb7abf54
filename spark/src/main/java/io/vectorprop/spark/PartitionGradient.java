package io.vectorprop.spark;

import java.io.Serial;
import java.io.Serializable;
import java.util.concurrent.ConcurrentHashMap;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.internal.ScratchPool;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Network;
import io.vectorprop.model.Standardization;
import io.vectorprop.network.Workspace;

/**
 * The executor side of one data-parallel step: a partition's share of global batch {@code s} (see
 * {@link BatchPlan}) goes through {@link Network#forward} and {@link Network#backward} with our
 * kernels, and the partition returns the gradient <em>sum</em> over its rows ({@code rows ×} the mean
 * gradient that backward computes) and its loss sum. The driver adds the partitions' sums in partition
 * order and divides by the batch's rows, which is the single-machine mean gradient over the same batch.
 *
 * <p>The computation is pure: it reads the cached {@link RowBlock}, the broadcast parameters and the
 * broadcast {@link Setup}, and writes only into a pooled scratch {@link Worker}, so a task that fails
 * and is retried (here or on another executor) returns the same numbers. Per step and partition it
 * allocates the one array it sends back; nothing per row.
 */
final class PartitionGradient {
    private PartitionGradient() {}

    /**
     * Test seam: when ≥ 0, the first attempt of every task of that step (counted from 0 over the whole
     * fit) throws, so a test can show Spark's retry gives the same model. Never set outside tests.
     */
    static volatile long failFirstAttemptAtStep = -1;
    /** Failures injected through {@link #failFirstAttemptAtStep}, so the test can check the retries happened. */
    static final java.util.concurrent.atomic.AtomicInteger injectedFailures = new java.util.concurrent.atomic.AtomicInteger();

    /** What a partition returns for one step: its rows, loss sum and gradient sum (null when it had no rows). */
    record Result(int partition, int rows, double lossSum, float[] gradientSum) implements Serializable {}

    /** What every step of one fit shares, broadcast once: the architecture, the standardization, the plan. */
    static final class Setup implements Serializable {
        @Serial private static final long serialVersionUID = 1L;
        final int[] sizes;
        final String activation;
        final float[] mean, scale;    // null without standardization
        final BatchPlan plan;
        private transient volatile Standardization standardization;

        Setup(Architecture arch, Standardization s, BatchPlan plan) {
            this.sizes = arch.sizes();
            this.activation = arch.hidden().id();
            this.mean = s == null ? null : s.mean();
            this.scale = s == null ? null : s.scale();
            this.plan = plan;
        }

        private transient volatile Architecture architecture;

        /** Built once per executor JVM, like the standardization: every step of every task asks for it. */
        Architecture architecture() {
            Architecture a = architecture;
            if (a == null) {
                architecture = a = Architecture.of(sizes, Activation.parse(activation), Loss.SOFTMAX_CROSS_ENTROPY);
            }
            return a;
        }

        /** Built once per executor JVM from the broadcast arrays (the broadcast value is one object there). */
        Standardization standardization() {
            Standardization s = standardization;
            if (s == null && mean != null) standardization = s = new Standardization(mean, scale);
            return s;
        }
    }

    /** Computation per task runs on one thread: Spark's task slots already use the executor's cores. */
    private static final Kernels ONE_THREAD = Kernels.get().withThreads(1);

    /**
     * Executor-wide pools of workers, one per (architecture, workspace capacity), each holding at most
     * one worker per core: tasks of successive steps take back the network and workspace of the last one.
     */
    private static final ConcurrentHashMap<String, ScratchPool<Worker>> POOLS = new ConcurrentHashMap<>();

    /** A network, a workspace and a shuffled row order: one task's scratch, owned by no thread. */
    static final class Worker {
        final Network net;
        final Workspace ws;
        int[] order = new int[0];
        int orderPartition = -1, orderEpoch = -1;
        BatchPlan orderPlan;

        Worker(Architecture arch, int capacity) {
            net = Network.create(arch, ONE_THREAD);
            ws = net.newWorkspace(capacity);
        }

        void close() {
            ws.close();
            net.close();
        }
    }

    private static ScratchPool<Worker> pool(Setup setup, int capacity) {
        Architecture arch = setup.architecture();
        return POOLS.computeIfAbsent(arch + "/" + capacity, k -> new ScratchPool<>(
                Runtime.getRuntime().availableProcessors(), () -> new Worker(arch, capacity), Worker::close));
    }

    /** The partition's contribution to step {@code step} of epoch {@code epoch}, with {@code params} as parameters. */
    static Result compute(RowBlock block, Setup setup, float[] params, int epoch, int step) {
        return compute(block, setup, params, epoch, step, null);
    }

    /**
     * As above, the gradient sum written into {@code into} (as many floats as parameters; null: a new
     * array), for a caller that has used the previous step's sum before it asks for the next one, as
     * the barrier exchange has, so that a step allocates no gradient array.
     */
    static Result compute(RowBlock block, Setup setup, float[] params, int epoch, int step, float[] into) {
        BatchPlan plan = setup.plan;
        int p = block.partition();
        if (block.rows() != plan.rows(p)) {
            throw new IllegalStateException("partition " + p + " has " + block.rows() + " rows but the plan counted "
                    + plan.rows(p) + " (the cached training data changed during the fit)");
        }
        int start = plan.shareStart(p, step), rows = plan.shareEnd(p, step) - start;
        if (rows == 0) return new Result(p, 0, 0, null);
        ScratchPool<Worker> pool = pool(setup, plan.largestShare());
        Worker w = pool.acquire();
        try {
            Network net = w.net;
            Workspace ws = w.ws;
            net.parameters().copyFrom(params);
            if (net.standardization() != setup.standardization()) net.setStandardization(setup.standardization());
            if (w.orderPlan != plan || w.orderPartition != p || w.orderEpoch != epoch) {
                if (w.order.length < block.rows()) w.order = new int[block.rows()];
                plan.order(p, epoch, w.order);
                w.orderPlan = plan;
                w.orderPartition = p;
                w.orderEpoch = epoch;
            }
            ws.setRows(rows);
            gather(block, w.order, start, rows, ws.x(), ws.y());
            net.standardize(ws.x());
            net.forward(ws);
            double loss = net.loss(ws) * rows;
            net.backward(ws);
            Matrix g = net.gradients();
            ONE_THREAD.scale(rows, g);            // mean over the share → sum over the share
            if (into == null) return new Result(p, rows, loss, g.toArray());
            g.copyTo(into);
            return new Result(p, rows, loss, into);
        } finally {
            pool.release(w);
        }
    }

    /** Copies rows {@code order[start … start+rows)} of the block into {@code x} and their one-hot targets into {@code y}. */
    static void gather(RowBlock block, int[] order, int start, int rows, Matrix x, Matrix y) {
        y.fill(0f);
        for (int i = 0; i < rows; i++) {
            int r = order[start + i];
            block.copyRow(r, x.segment(), (x.offset() + (long) i * x.stride()) * Float.BYTES);
            y.set(i, block.label(r), 1f);
        }
    }
}
