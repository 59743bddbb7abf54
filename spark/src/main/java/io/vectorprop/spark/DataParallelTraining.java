package io.vectorprop.spark;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.model.Standardization;

/**
 * The driver side of synchronous data-parallel mini-batch training. Once per fit: the DataFrame's
 * partitions become cached {@link RowBlock}s, and the {@link PartitionGradient.Setup}
 * (architecture, standardization, {@link BatchPlan}) is broadcast. Then per step: every partition
 * computes the gradient sum of its share of the global batch against the broadcast parameters; the
 * driver adds the partitions' results in partition order, divides by the batch's rows, applies the
 * optimizer to its own copy of the network, and broadcasts the new parameters (destroying the old
 * broadcast).
 *
 * <p>Why the results are collected and added on the driver rather than with {@code treeAggregate}:
 * Spark merges tree and driver partials in the order tasks finish, and float addition is not
 * associative, so two runs of the same fit would differ in the last bits and then diverge. Adding in
 * partition order makes a seed and a partitioning give a bit-identical model. The cost is one
 * parameter-sized array per partition reaching the driver each step, which for the partition counts
 * of one machine or a small cluster is what a tree would move too.
 *
 * <p>In this mode every step is one Spark job, and a job has a fixed cost (scheduling, task and result
 * serialization) of roughly 10–20 ms in {@code local[2]}, whatever it computes: large global batches
 * amortize it. Where the cluster allows it, the {@code exchange} param's default runs the whole fit as
 * one barrier stage instead ({@link BarrierTraining}), whose tasks add the same gradients in the same
 * order between themselves, so both modes give the same bits; {@link #choose} picks, saying why.
 * ({@code BarrierTaskContext.allGather} cannot serve a step: it waits for the driver's answer
 * polling once a second, ≈ 0.7 s per step when it was tried.)
 */
final class DataParallelTraining {
    private static final Logger LOG = LoggerFactory.getLogger(VectorpropClassifier.class);

    private DataParallelTraining() {}

    /** How the partitions' gradients are added and the update applied (the {@code exchange} param). */
    enum Exchange {
        /** The barrier exchange where it can run (see {@link #choose}), else the driver, with a log line saying why. */
        AUTO,
        /** The fit as one barrier stage whose tasks exchange gradients directly ({@link BarrierTraining}). */
        BARRIER,
        /** One Spark job per step; the driver adds the partitions' gradients and updates. */
        DRIVER;

        static Exchange parse(String s) {
            for (Exchange e : values()) if (e.name().equalsIgnoreCase(s.trim())) return e;
            throw new IllegalArgumentException("VectorpropClassifier: exchange '" + s + "' is not one of auto, barrier, driver");
        }
    }

    /** What a fit needs to know, validated by the classifier. */
    record Options(int[] layers, Activation activation, Optimizer.Kind optimizer, float stepSize, int batchSize,
                   int maxIter, long seed, double tol, boolean standardize, Exchange exchange, int exchangeTimeoutSeconds,
                   int syncInterval)
            implements java.io.Serializable {
        Architecture architecture() {
            return Architecture.of(layers, activation, Loss.SOFTMAX_CROSS_ENTROPY);
        }
    }

    /** The trained network (the caller closes it) and the mean training loss of every epoch run. */
    record Outcome(Network network, double[] lossHistory, boolean converged) {}

    /**
     * The partitions of {@code data} as row blocks, read once and cached (the caller unpersists); a block
     * that does not fit the executor's storage memory goes to its disk, not back to the DataFrame.
     */
    static JavaRDD<RowBlock> blocks(Dataset<?> data, String featuresCol, String labelCol, int features, int classes) {
        Dataset<Row> selected = data.select(functions.col(featuresCol), functions.col(labelCol).cast(DataTypes.DoubleType));
        RDD<RowBlock> blocks = BlockJobs.readBlocks(selected, features, classes, featuresCol, labelCol);
        return new JavaRDD<>(blocks, BlockJobs.ROW_BLOCK).persist(StorageLevel.MEMORY_AND_DISK());
    }

    /** Rows of every partition, in partition order (this job also reads and caches the blocks). */
    static int[] partitionRows(JavaRDD<RowBlock> blocks) {
        long started = System.nanoTime();
        List<Integer> counts = BlockJobs.onEveryBlock(blocks, (task, b) -> b.rows());
        int[] rows = new int[counts.size()];
        long total = 0;
        for (int p = 0; p < rows.length; p++) total += rows[p] = counts.get(p);
        LOG.info(String.format(java.util.Locale.ROOT, "VectorpropClassifier: read %,d rows in %d partitions into row blocks in %.2f s",
                total, rows.length, (System.nanoTime() - started) / 1e9));
        return rows;
    }

    /** Per-feature mean and 1/σ over all blocks, two passes as {@link Standardization#fit} does on one machine. */
    static Standardization standardization(JavaSparkContext jsc, JavaRDD<RowBlock> blocks, int features) {
        List<double[]> sums = BlockJobs.onEveryBlock(blocks, (task, b) -> {
            double[] s = new double[features + 1];
            for (int r = 0; r < b.rows(); r++) for (int i = 0; i < features; i++) s[i] += b.feature(r, i);
            s[features] = b.rows();
            return s;
        });
        double[] sum = new double[features];
        long n = 0;
        for (double[] s : sums) {
            for (int i = 0; i < features; i++) sum[i] += s[i];
            n += (long) s[features];
        }
        double[] mean = new double[features];
        for (int i = 0; i < features; i++) mean[i] = sum[i] / n;
        Broadcast<double[]> bcMean = jsc.broadcast(mean);
        List<double[]> squares = BlockJobs.onEveryBlock(blocks, (task, b) -> {
            double[] mu = bcMean.value(), s = new double[features];
            for (int r = 0; r < b.rows(); r++) {
                for (int i = 0; i < features; i++) {
                    double d = b.feature(r, i) - mu[i];
                    s[i] += d * d;
                }
            }
            return s;
        });
        bcMean.destroy();
        double[] sumSq = new double[features];
        for (double[] s : squares) for (int i = 0; i < features; i++) sumSq[i] += s[i];
        return Standardization.fromMoments(sum, sumSq, n);
    }

    /** Trains a new network on the cached blocks. */
    static Outcome train(JavaSparkContext jsc, JavaRDD<RowBlock> blocks, int[] partitionRows, Options o) {
        Architecture arch = o.architecture();
        Standardization s = o.standardize() ? standardization(jsc, blocks, arch.inputs()) : null;
        BatchPlan plan = new BatchPlan(o.seed(), partitionRows, o.batchSize());
        Network net = Network.create(arch, Kernels.get());
        List<Double> history = new ArrayList<>();
        boolean converged = false;
        boolean barrier = choose(jsc, o.exchange(), plan.partitions(), o.syncInterval()) == Exchange.BARRIER;
        Rendezvous rendezvous = barrier
                ? new Rendezvous(jsc.getConf().get("spark.driver.host", "localhost"), TransportAuth.of(jsc.sc().applicationId()))
                : null;
        Broadcast<PartitionGradient.Setup> setup = jsc.broadcast(new PartitionGradient.Setup(arch, s, plan));
        try (Optimizer optimizer = new Optimizer(optimizerConfig(o), net)) {
            net.initialize(Init.defaultFor(arch), o.seed());
            net.setStandardization(s);
            LOG.info("VectorpropClassifier: {} on {} rows in {} partitions, {} steps of ≤ {} rows per epoch, {} epochs",
                    arch, plan.totalRows(), plan.partitions(), plan.stepsPerEpoch(), o.batchSize(), o.maxIter());
            if (barrier) {
                BarrierTraining.State end = BarrierTraining.fit(jsc, blocks, setup, net, optimizer, o, rendezvous);
                return new Outcome(net, end.lossHistory(), end.converged());
            }
            float[] total = new float[net.parameters().cols()];
            for (int epoch = 0; epoch < o.maxIter(); epoch++) {
                long started = System.nanoTime();
                double lossSum = 0;
                for (int step = 0; step < plan.stepsPerEpoch(); step++) {
                    long global = (long) epoch * plan.stepsPerEpoch() + step;
                    lossSum += gradient(jsc, blocks, setup, net.parameters().toArray(), epoch, step, global, total);
                    int rows = plan.batchRows(step);
                    net.gradients().copyFrom(total);
                    net.kernels().scale(1f / rows, net.gradients());
                    optimizer.step();
                }
                double loss = lossSum / plan.totalRows();
                checkFinite(loss, epoch, o);
                logEpoch(epoch, o, loss, (System.nanoTime() - started) / 1e9, plan.totalRows(), Double.NaN, Double.NaN);
                double previous = history.isEmpty() ? Double.NaN : history.getLast();
                history.add(loss);
                if (converged(previous, loss, o)) {
                    logConverged(o, epoch);
                    converged = true;
                    break;
                }
            }
        } catch (RuntimeException e) {
            net.close();
            throw e;
        } finally {
            setup.destroy();
            if (rendezvous != null) rendezvous.close();
        }
        return new Outcome(net, history.stream().mapToDouble(Double::doubleValue).toArray(), converged);
    }

    /** The epoch's mean training loss must be finite, or the fit stops saying what to change. */
    static void checkFinite(double loss, int epoch, Options o) {
        if (!Double.isFinite(loss)) {
            throw new IllegalStateException("VectorpropClassifier: training loss became " + loss + " in epoch "
                    + (epoch + 1) + "; lower stepSize (now " + o.stepSize() + ") or set standardize");
        }
    }

    /**
     * The progress line of an epoch; with the barrier exchange, partition 0's time per step in the exchange
     * and how much of it was only waiting for a share that took longer to compute than its own.
     */
    static void logEpoch(int epoch, Options o, double loss, double seconds, long rows, double exchangeMicrosPerStep,
                         double waitingMicrosPerStep) {
        LOG.info(String.format("VectorpropClassifier: epoch %d/%d  loss %.5f  %.2f s  %,.0f rows/s%s", epoch + 1,
                o.maxIter(), loss, seconds, rows / seconds, Double.isNaN(exchangeMicrosPerStep) ? ""
                        : String.format("  exchange %,.0f µs/step (%,.0f of it waiting for a slower share)",
                                exchangeMicrosPerStep, waitingMicrosPerStep)));
    }

    /** Whether the fit stops after an epoch: its loss fell by less than tol of the one before. */
    static boolean converged(double previous, double loss, Options o) {
        return !Double.isNaN(previous) && previous - loss < o.tol() * previous;
    }

    static void logConverged(Options o, int epoch) {
        LOG.info("VectorpropClassifier: loss fell by less than tol = {} of itself; stopping after epoch {}", o.tol(), epoch + 1);
    }

    private static Optimizer.Config optimizerConfig(Options o) {
        return optimizerConfig(o.optimizer(), o.stepSize());
    }

    /** The optimizer of a fit: the step size, momentum 0.9 for the rules that use it, no weight decay. */
    static Optimizer.Config optimizerConfig(Optimizer.Kind kind, float stepSize) {
        return Optimizer.Config.of(kind, stepSize, kind == Optimizer.Kind.SGD ? 0f : 0.9f, 0f);
    }

    /**
     * The exchange a fit runs with: {@code BARRIER} needs every partition's task running at once (no more
     * partitions than task slots, no dynamic allocation); asked for where it cannot run it is refused, and
     * {@code AUTO} then takes the driver, saying why.
     */
    static Exchange choose(JavaSparkContext jsc, Exchange asked, int partitions, int syncInterval) {
        if (asked == Exchange.DRIVER && syncInterval > 1) {
            throw new IllegalArgumentException("VectorpropClassifier: syncInterval " + syncInterval
                    + " (periodic averaging) needs the barrier exchange, not exchange 'driver'");
        }
        if (asked == Exchange.DRIVER) return Exchange.DRIVER;
        var conf = jsc.getConf();
        String obstacle = null;
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false)) {
            obstacle = "dynamic allocation is on, and a barrier stage needs all its tasks running at once";
        } else if (partitions > jsc.defaultParallelism()) {
            obstacle = "the data has " + partitions + " partitions but the cluster " + jsc.defaultParallelism()
                    + " task slots, and a barrier stage runs one task per partition at once (repartition to at most that)";
        }
        if (obstacle == null) {
            LOG.info("VectorpropClassifier: the fit as one barrier stage, gradients exchanged between its {} tasks", partitions);
            return Exchange.BARRIER;
        }
        if (asked == Exchange.BARRIER || syncInterval > 1) {
            throw new IllegalArgumentException("VectorpropClassifier: " + (asked == Exchange.BARRIER ? "exchange 'barrier'"
                    : "syncInterval " + syncInterval + " (periodic averaging) needs the barrier exchange, which") + " cannot run: " + obstacle
                    + "; use exchange 'driver' (or 'auto')");
        }
        LOG.info("VectorpropClassifier: one Spark job per step, gradients added on the driver: {}", obstacle);
        return Exchange.DRIVER;
    }

    /**
     * One distributed step: broadcasts {@code params}, lets every partition compute its share of batch
     * {@code step} of {@code epoch}, writes the sum of the partitions' gradient sums (in partition order)
     * into {@code total} and returns the sum of their losses. {@code global} counts steps over the fit.
     */
    static double gradient(JavaSparkContext jsc, JavaRDD<RowBlock> blocks, Broadcast<PartitionGradient.Setup> setup,
                           float[] params, int epoch, int step, long global, float[] total) {
        Broadcast<float[]> bcParams = jsc.broadcast(params);
        try {
            List<PartitionGradient.Result> results = BlockJobs.onEveryBlock(blocks, (task, b) -> {
                if (PartitionGradient.failFirstAttemptAtStep == global && task.attemptNumber() == 0) {
                    PartitionGradient.injectedFailures.incrementAndGet();
                    throw new IllegalStateException("failure injected by a test into the first attempt of step " + global);
                }
                return PartitionGradient.compute(b, setup.value(), bcParams.value(), epoch, step);
            });
            java.util.Arrays.fill(total, 0f);
            double loss = 0;
            for (PartitionGradient.Result r : results) {        // in partition order
                loss += r.lossSum();
                float[] g = r.gradientSum();
                if (g == null) continue;
                for (int i = 0; i < total.length; i++) total[i] += g[i];
            }
            return loss;
        } finally {
            bcParams.destroy();
        }
    }
}
