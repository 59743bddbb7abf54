package io.vectorprop.spark;

import java.io.Serial;
import java.io.Serializable;
import java.util.List;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;

import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * One epoch as one barrier stage: the driver broadcasts the parameters and the optimizer state at the
 * epoch's start; every task (one per partition, all running at once) meets the others through the
 * driver's {@link Rendezvous}, then runs all the epoch's steps itself — its share of each global batch
 * through {@link PartitionGradient#compute}, the shares all-reduced by {@link GradientExchange} (summed in
 * partition order), the same optimizer update as the driver would apply — and the task of partition 0
 * returns the parameters, the optimizer state and the epoch's loss. Every task computes the same bits
 * as the job-per-step mode, where the driver adds the partitions' results in partition order and
 * updates; a test compares the two.
 *
 * <p>The barrier stage is followed by a shuffle boundary ({@code repartition(1)}): Spark does not retry a
 * failed barrier stage that is a job's result stage, but it reruns a failed barrier map stage whole.
 * A rerun starts again from the epoch's broadcast start, and the batches depend only on (seed, epoch,
 * partition), so it gives the same bits.
 */
final class BarrierTraining {
    private BarrierTraining() {}

    /**
     * Test seam, a Spark job-local property ({@code SparkContext.setLocalProperty}) that reaches the tasks
     * in every JVM: {@code "E fail"} makes the last partition's task fail half-way through epoch E
     * (counted from 0) in the stage's first attempt, {@code "E halt"} halts that task's executor JVM there,
     * so tests can show that Spark's rerun of the stage gives the same model. Never set outside tests.
     */
    static final String FAIL_PROPERTY = "vectorprop.test.failFirstAttempt";

    /** Where every task of an epoch starts. */
    record EpochStart(float[] parameters, float[][] optimizerState, long optimizerSteps, Optimizer.Kind optimizer,
                      float stepSize) implements Serializable {}

    /** What the task of partition 0 returns: where the epoch ended, and its loss summed over the steps. */
    record EpochEnd(float[] parameters, float[][] optimizerState, long optimizerSteps, double lossSum)
            implements Serializable {}

    private static final ClassTag<EpochEnd> END = ClassTag$.MODULE$.apply(EpochEnd.class);

    /**
     * Runs epoch {@code epoch} as one barrier stage over {@code blocks}, starting from {@code net} and
     * {@code optimizer}, which it leaves where the epoch ended; returns the epoch's loss sum.
     */
    static double epoch(JavaSparkContext jsc, JavaRDD<RowBlock> blocks, Broadcast<PartitionGradient.Setup> setup,
                        Network net, Optimizer optimizer, DataParallelTraining.Options o, int epoch, Rendezvous rendezvous,
                        long timeoutMillis) {
        Broadcast<EpochStart> start = jsc.broadcast(new EpochStart(net.parameters().toArray(), optimizer.state(),
                optimizer.steps(), o.optimizer(), o.stepSize()));
        try {
            EpochTask task = new EpochTask(setup, start, rendezvous.host(), rendezvous.port(), epoch, timeoutMillis);
            RDD<EpochEnd> stage = blocks.rdd().barrier().mapPartitions(task, false, END);
            List<EpochEnd> ends = new JavaRDD<>(stage, END).repartition(1).collect();
            if (ends.size() != 1) {
                throw new IllegalStateException("VectorpropClassifier: epoch " + (epoch + 1) + " ended with " + ends.size()
                        + " results instead of the one of partition 0");
            }
            EpochEnd end = ends.getFirst();
            net.parameters().copyFrom(end.parameters());
            optimizer.restore(end.optimizerState(), end.optimizerSteps());
            return end.lossSum();
        } finally {
            start.destroy();
        }
    }

    private static void injectFailure(String seam, int epoch, int step) {
        if (seam == null || !seam.startsWith(epoch + " ")) return;
        if (seam.endsWith("halt")) Runtime.getRuntime().halt(3);
        throw new IllegalStateException("failure injected by a test into step " + step + " of epoch " + epoch);
    }

    /** The work of one task of the barrier stage (see the class comment). */
    static final class EpochTask extends AbstractFunction1<Iterator<RowBlock>, Iterator<EpochEnd>> implements Serializable {
        @Serial private static final long serialVersionUID = 1L;
        private final Broadcast<PartitionGradient.Setup> setup;
        private final Broadcast<EpochStart> start;
        private final String rendezvousHost;
        private final int rendezvousPort, epoch;
        private final long timeoutMillis;

        EpochTask(Broadcast<PartitionGradient.Setup> setup, Broadcast<EpochStart> start, String rendezvousHost,
                  int rendezvousPort, int epoch, long timeoutMillis) {
            this.setup = setup;
            this.start = start;
            this.rendezvousHost = rendezvousHost;
            this.rendezvousPort = rendezvousPort;
            this.epoch = epoch;
            this.timeoutMillis = timeoutMillis;
        }

        @Override
        public Iterator<EpochEnd> apply(Iterator<RowBlock> partition) {
            RowBlock block = partition.next();
            BarrierTaskContext context = BarrierTaskContext.get();
            int self = context.partitionId(), tasks = context.getTaskInfos().length;
            PartitionGradient.Setup s = setup.value();
            EpochStart from = start.value();
            BatchPlan plan = s.plan;
            String host = SparkEnv.get().blockManager().blockManagerId().host();
            try (GradientExchange exchange = new GradientExchange(host, self, tasks, from.parameters().length, timeoutMillis);
                 Network net = Network.create(s.architecture(), Kernels.get());
                 Optimizer optimizer = new Optimizer(DataParallelTraining.optimizerConfig(from.optimizer(), from.stepSize()), net)) {
                net.parameters().copyFrom(from.parameters());
                optimizer.restore(from.optimizerState(), from.optimizerSteps());
                exchange.meet(rendezvousHost, rendezvousPort, epoch, context.stageAttemptNumber(), host);
                float[] parameters = from.parameters().clone(), total = new float[parameters.length];
                double lossSum = 0;
                for (int step = 0; step < plan.stepsPerEpoch(); step++) {
                    if (step == plan.stepsPerEpoch() / 2 && self == tasks - 1 && context.stageAttemptNumber() == 0) {
                        injectFailure(context.getLocalProperty(FAIL_PROPERTY), epoch, step);
                    }
                    PartitionGradient.Result share = PartitionGradient.compute(block, s, parameters, epoch, step);
                    lossSum += exchange.allReduce(step, share.gradientSum(), share.lossSum(), total);
                    net.gradients().copyFrom(total);                        // as the driver does in the job-per-step mode
                    net.kernels().scale(1f / plan.batchRows(step), net.gradients());
                    optimizer.step();
                    net.parameters().copyTo(parameters);
                }
                List<EpochEnd> end = self == 0
                        ? List.of(new EpochEnd(parameters, optimizer.state(), optimizer.steps(), lossSum)) : List.of();
                return CollectionConverters.asScala(end.iterator());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("VectorpropClassifier: the task of partition " + self + " was interrupted in epoch "
                        + (epoch + 1) + " (another task of the stage failed)", e);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("VectorpropClassifier: the task of partition " + self
                        + " could not reach the other tasks of epoch " + (epoch + 1), e);
            }
        }
    }
}
