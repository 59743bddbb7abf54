package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.model.Standardization;
import io.vectorprop.network.Workspace;

/**
 * The distributed step against the single-machine one: the gradient the partitions' sums add up to
 * must be {@link Network#backward}'s gradient on the same global batch, computed in one workspace on
 * the driver from the same rows (found from the cached blocks and the plan, independently of the
 * executor code that gathers them).
 */
class DistributedGradientTest {
    static SparkSession spark;
    static JavaSparkContext jsc;
    static JavaRDD<RowBlock> blocks;
    static List<RowBlock> local;
    static int[] partitionRows;
    static final int FEATURES = 12, CLASSES = 3;

    @BeforeAll
    static void start() {
        spark = TestData.spark();
        jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        // Three partitions of unequal size, so shares differ between partitions and steps.
        Dataset<Row> df = spark.createDataFrame(TestData.blobs(1003, FEATURES, CLASSES, 2, 1.0, 5), TestData.SCHEMA)
                .repartition(3);
        blocks = DataParallelTraining.blocks(df, "features", "label", FEATURES, CLASSES);
        partitionRows = DataParallelTraining.partitionRows(blocks);
        local = blocks.collect();     // serialized and read back: also exercises RowBlock's serialization
    }

    @AfterAll
    static void stop() { blocks.unpersist(false); }

    /** Distributed mean gradient of (epoch, step) at the parameters of {@code net}. */
    static float[] distributed(Network net, PartitionGradient.Setup setup, int epoch, int step) {
        Broadcast<PartitionGradient.Setup> bc = jsc.broadcast(setup);
        float[] total = new float[net.parameters().cols()];
        DataParallelTraining.gradient(jsc, blocks, bc, net.parameters().toArray(), epoch, step, 0, total);
        bc.destroy();
        int rows = setup.plan.batchRows(step);
        for (int i = 0; i < total.length; i++) total[i] /= rows;
        return total;
    }

    /** The same batch on one machine: rows in partition order, each partition's share of its shuffled order. */
    static float[] singleMachine(Network net, BatchPlan plan, Standardization s, int epoch, int step) {
        List<float[]> xs = new ArrayList<>();
        List<Integer> ys = new ArrayList<>();
        for (RowBlock b : local) {
            int p = b.partition();
            int[] order = new int[b.rows()];
            plan.order(p, epoch, order);
            for (int i = plan.shareStart(p, step); i < plan.shareEnd(p, step); i++) {
                float[] x = new float[FEATURES];
                for (int f = 0; f < FEATURES; f++) x[f] = b.feature(order[i], f);
                xs.add(x);
                ys.add(b.label(order[i]));
            }
        }
        assertEquals(plan.batchRows(step), xs.size());
        net.setStandardization(s);
        try (Workspace ws = net.newWorkspace(xs.size())) {
            Matrix x = ws.x(), y = ws.y();
            for (int r = 0; r < xs.size(); r++) {
                for (int f = 0; f < FEATURES; f++) x.set(r, f, xs.get(r)[f]);
                y.set(r, ys.get(r), 1f);
            }
            net.standardize(x);
            net.forward(ws);
            net.backward(ws);
            return net.gradients().toArray();
        }
    }

    static double relativeError(float[] got, float[] want) {
        double maxDiff = 0, maxWant = 0;
        for (int i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
            maxWant = Math.max(maxWant, Math.abs(want[i]));
        }
        return maxDiff / maxWant;
    }

    @Test
    void distributedGradientEqualsSingleMachineGradientForEveryActivation() {
        for (Activation a : Activation.values()) {
            if (!a.isElementwise()) continue;
            var options = new DataParallelTraining.Options(new int[] {FEATURES, 16, 8, CLASSES}, a, Optimizer.Kind.SGD,
                    0.1f, 100, 1, 3, 0, false, DataParallelTraining.Exchange.DRIVER, 120, 1);
            BatchPlan plan = new BatchPlan(11, partitionRows, 100);
            try (Network net = Network.create(options.architecture(), Kernels.get())) {
                net.initialize(Init.defaultFor(options.architecture()), 3);
                for (int[] es : new int[][] {{0, 0}, {1, 4}, {2, plan.stepsPerEpoch() - 1}}) {
                    float[] got = distributed(net, new PartitionGradient.Setup(options.architecture(), null, plan), es[0], es[1]);
                    float[] want = singleMachine(net, plan, null, es[0], es[1]);
                    double err = relativeError(got, want);
                    System.out.printf("%s epoch %d step %d (%d rows): relative error %.2e%n", a.id(), es[0], es[1],
                            plan.batchRows(es[1]), err);
                    assertTrue(err <= 1e-5, a + " epoch " + es[0] + " step " + es[1] + ": relative error " + err);
                }
            }
        }
    }

    @Test
    void standardizationAndItsGradientMatchTheSingleMachineOnes() {
        Standardization s = DataParallelTraining.standardization(jsc, blocks, FEATURES);
        // Reference: the single-machine fit over the same rows.
        float[] all = new float[1003 * FEATURES];
        int[] labels = new int[1003];
        int r = 0;
        for (RowBlock b : local) {
            for (int i = 0; i < b.rows(); i++, r++) {
                for (int f = 0; f < FEATURES; f++) all[r * FEATURES + f] = b.feature(i, f);
                labels[r] = b.label(i);
            }
        }
        try (var data = io.vectorprop.data.Dataset.of(all, FEATURES, labels, CLASSES, "blocks")) {
            Standardization want = Standardization.fit(data);
            for (int f = 0; f < FEATURES; f++) {
                assertEquals(want.mean()[f], s.mean()[f], 1e-5f * Math.abs(want.mean()[f]), "mean of feature " + f);
                assertEquals(want.scale()[f], s.scale()[f], 1e-5f * want.scale()[f], "scale of feature " + f);
            }
        }
        var options = new DataParallelTraining.Options(new int[] {FEATURES, 10, CLASSES}, Activation.TANH,
                Optimizer.Kind.ADAM, 0.01f, 64, 1, 5, 0, true, DataParallelTraining.Exchange.DRIVER, 120, 1);
        BatchPlan plan = new BatchPlan(2, partitionRows, 64);
        try (Network net = Network.create(options.architecture(), Kernels.get())) {
            net.initialize(Init.defaultFor(options.architecture()), 9);
            float[] got = distributed(net, new PartitionGradient.Setup(options.architecture(), s, plan), 0, 3);
            float[] want = singleMachine(net, plan, s, 0, 3);
            double err = relativeError(got, want);
            assertTrue(err <= 1e-5, "standardized: relative error " + err);
        }
    }
}
