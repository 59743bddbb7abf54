package io.vectorprop.spark;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.Serial;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.rdd.ShuffledRDD;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;

import scala.Tuple2;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * A whole fit as one barrier stage, the epoch being the unit that is redone after a failure. The tasks
 * (one per partition, all running at once) meet through the driver's {@link Rendezvous}, which also
 * hands them where to start: the state after the last epoch that completed (at first, the initialized
 * network). Each task then runs the remaining epochs itself: its share of each global batch through
 * {@link PartitionGradient#compute}; the shares reduce-scattered by {@link GradientExchange} (each task
 * gets its slice of the parameters summed in partition order); on that slice, and on its slice of the
 * optimizer's state, the update the driver applies in the job-per-step mode
 * ({@link Optimizer#step(int, int)}, bit for bit); the updated slices all-gathered. Every task knows every
 * step's loss, so all decide alike when the loss stops falling or stops being finite. After each epoch
 * the slices of the optimizer's state are gathered into the task of partition 0, which sends the state to
 * the driver; the driver logs the epoch and keeps the state as the next restart point. So the tasks
 * compute the same bits as the job-per-step mode, where the driver adds the partitions' results in
 * partition order and updates; a test compares them.
 *
 * <p>The barrier stage is followed by a shuffle boundary (to one partition, as {@code repartition(1)}): Spark does not retry a
 * failed barrier stage that is a job's result stage, but it reruns a failed barrier map stage whole.
 * The rerun starts from the last completed epoch, and the batches depend only on (seed, epoch,
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

    /**
     * The state of a fit after {@code epochs} epochs: where a (re)started stage begins, and what the fit
     * returns at the end. {@code converged}: the last epoch's loss fell by less than tol.
     */
    record State(int epochs, float[] parameters, float[][] optimizerState, long optimizerSteps, double[] lossHistory,
                 boolean converged) implements Serializable {
        /**
         * Big-endian, as {@code DataOutputStream} writes: epochs, the parameters (length, floats), the
         * optimizer's state blocks (count, then each as length and floats), steps, the loss history
         * (length, doubles), converged. The float arrays go through whole-array buffer copies, not a call
         * per float: the state is sent every epoch and is as large as three copies of the parameters.
         */
        byte[] encode() {
            long size = 4 + floatsBytes(parameters) + 4 + 8 + 4 + 8L * lossHistory.length + 1;
            for (float[] block : optimizerState) size += floatsBytes(block);
            if (size > Integer.MAX_VALUE - 64) {
                throw new IllegalStateException("VectorpropClassifier: the fit's state (" + parameters.length
                        + " parameters and " + optimizerState.length + " optimizer blocks) needs " + size
                        + " bytes, more than one message can hold");
            }
            ByteBuffer out = ByteBuffer.allocate((int) size);
            out.putInt(epochs);
            putFloats(out, parameters);
            out.putInt(optimizerState.length);
            for (float[] block : optimizerState) putFloats(out, block);
            out.putLong(optimizerSteps);
            out.putInt(lossHistory.length);
            out.asDoubleBuffer().put(lossHistory);
            out.position(out.position() + 8 * lossHistory.length);
            out.put((byte) (converged ? 1 : 0));
            return out.array();
        }

        static State decode(DataInputStream in) throws IOException {
            int epochs = in.readInt();
            float[] parameters = readFloats(in);
            float[][] state = new float[in.readInt()][];
            for (int i = 0; i < state.length; i++) state[i] = readFloats(in);
            long steps = in.readLong();
            double[] history = new double[in.readInt()];
            ByteBuffer.wrap(readExactly(in, 8 * history.length)).asDoubleBuffer().get(history);
            return new State(epochs, parameters, state, steps, history, in.readBoolean());
        }

        private static long floatsBytes(float[] v) {
            return 4 + 4L * v.length;
        }

        private static void putFloats(ByteBuffer out, float[] v) {
            out.putInt(v.length);
            out.asFloatBuffer().put(v);
            out.position(out.position() + 4 * v.length);
        }

        private static float[] readFloats(DataInputStream in) throws IOException {
            float[] v = new float[in.readInt()];
            ByteBuffer.wrap(readExactly(in, 4 * v.length)).asFloatBuffer().get(v);
            return v;
        }

        private static byte[] readExactly(DataInputStream in, int n) throws IOException {
            byte[] bytes = in.readNBytes(n);
            if (bytes.length != n) throw new EOFException("a state message ended after " + bytes.length + " of the " + n + " bytes expected");
            return bytes;
        }
    }

    private static final ClassTag<State> STATE = ClassTag$.MODULE$.apply(State.class);
    private static final ClassTag<Tuple2<Object, State>> KEYED_STATE = ClassTag$.MODULE$.apply(Tuple2.class);
    private static final ClassTag<Object> ANY = ClassTag$.MODULE$.AnyRef();

    /**
     * Runs the fit as one barrier stage over {@code blocks}, starting from {@code net} and
     * {@code optimizer} (initialized), which it leaves where the fit ended; returns the end state.
     */
    static State fit(JavaSparkContext jsc, JavaRDD<RowBlock> blocks, Broadcast<PartitionGradient.Setup> setup,
                     Network net, Optimizer optimizer, DataParallelTraining.Options o, Rendezvous rendezvous) {
        rendezvous.startFrom(new State(0, net.parameters().toArray(), optimizer.state(), optimizer.steps(), new double[0], false),
                o, setup.value().plan.totalRows());
        FitTask task = new FitTask(setup, o, rendezvous.host(), rendezvous.port(), jsc.sc().applicationId());
        RDD<Tuple2<Object, State>> stage = blocks.rdd().barrier().mapPartitions(task, false, KEYED_STATE);
        // The shuffle boundary: what repartition(1) builds, minus the lambdas Spark's closure cleaner would read.
        List<State> ends = BlockJobs.elements(new ShuffledRDD<Object, State, State>(stage, new HashPartitioner(1), ANY, STATE, STATE))
                .stream().map(Tuple2::_2).toList();
        if (ends.size() != 1) {
            throw new IllegalStateException("VectorpropClassifier: the fit's stage ended with " + ends.size()
                    + " results instead of the one of partition 0");
        }
        State end = ends.getFirst();
        double[] h = end.lossHistory();
        if (h.length > 0) DataParallelTraining.checkFinite(h[h.length - 1], h.length - 1, o);
        net.parameters().copyFrom(end.parameters());
        optimizer.restore(end.optimizerState(), end.optimizerSteps());
        return end;
    }

    /**
     * Periodic averaging ({@code syncInterval} K &gt; 1): replaces every task's parameters and optimizer
     * state by their mean over the tasks, summed in partition order (so every task gets the same bits),
     * and sets the optimizer's step count to the global steps taken so far; returns the loss summed over
     * the tasks since the last average.
     */
    private static double average(GradientExchange exchange, Network net, Optimizer optimizer, long step, double loss,
                                  long computeNanos, int tasks, long stepsSoFar, float[] sum) throws InterruptedException {
        float[] parameters = net.parameters().toArray();
        float[][] state = optimizer.state();
        int p = parameters.length;
        float[] mine = new float[p * (1 + state.length)];
        System.arraycopy(parameters, 0, mine, 0, p);
        for (int b = 0; b < state.length; b++) System.arraycopy(state[b], 0, mine, p * (b + 1), p);
        double lossSum = exchange.allReduce(step, mine, loss, computeNanos, sum);
        for (int i = 0; i < sum.length; i++) sum[i] /= tasks;
        net.parameters().copyFrom(Arrays.copyOfRange(sum, 0, p));
        for (int b = 0; b < state.length; b++) state[b] = Arrays.copyOfRange(sum, p * (b + 1), p * (b + 2));
        optimizer.restore(state, stepsSoFar);
        return lossSum;
    }

    private static void injectFailure(String seam, int epoch, int step) {
        if (seam == null || !seam.startsWith(epoch + " ")) return;
        if (seam.endsWith("halt")) Runtime.getRuntime().halt(3);
        throw new IllegalStateException("failure injected by a test into step " + step + " of epoch " + epoch);
    }

    /** The work of one task of the barrier stage (see the class comment). */
    static final class FitTask extends AbstractFunction1<Iterator<RowBlock>, Iterator<Tuple2<Object, State>>> implements Serializable {
        @Serial private static final long serialVersionUID = 1L;
        private final Broadcast<PartitionGradient.Setup> setup;
        private final DataParallelTraining.Options o;
        private final String rendezvousHost, appId;
        private final int rendezvousPort;

        FitTask(Broadcast<PartitionGradient.Setup> setup, DataParallelTraining.Options o, String rendezvousHost, int rendezvousPort,
                String appId) {
            this.setup = setup;
            this.o = o;
            this.rendezvousHost = rendezvousHost;
            this.rendezvousPort = rendezvousPort;
            this.appId = appId;
        }

        @Override
        public Iterator<Tuple2<Object, State>> apply(Iterator<RowBlock> partition) {
            RowBlock block = partition.next();
            BarrierTaskContext context = BarrierTaskContext.get();
            int self = context.partitionId(), tasks = context.getTaskInfos().length;
            PartitionGradient.Setup s = setup.value();
            BatchPlan plan = s.plan;
            String host = SparkEnv.get().blockManager().blockManagerId().host();
            long timeoutMillis = o.exchangeTimeoutSeconds() * 1000L;
            int k = o.syncInterval();
            try (Network net = Network.create(s.architecture(), Kernels.get());
                 Optimizer optimizer = new Optimizer(DataParallelTraining.optimizerConfig(o.optimizer(), o.stepSize()), net);
                 GradientExchange exchange = new GradientExchange(host, self, tasks,
                         k == 1 ? net.parameters().cols() : net.parameters().cols() * (1 + optimizer.state().length), timeoutMillis,
                         TransportAuth.of(appId))) {
                State from = exchange.meet(rendezvousHost, rendezvousPort, context.stageAttemptNumber(), host);
                net.parameters().copyFrom(from.parameters());
                optimizer.restore(from.optimizerState(), from.optimizerSteps());
                float[] params = from.parameters().clone(), total = new float[exchange.length()];
                float[] shareSum = new float[params.length];      // reused: the exchange has taken each step's sum before the next
                // Exact SGD (k = 1): this task's slice of the parameters, which it alone updates.
                int sliceFrom = exchange.sliceStart(self), sliceTo = exchange.sliceStart(self + 1);
                boolean ownSlice = k == 1 && sliceTo > sliceFrom;
                Matrix mySums = ownSlice ? net.gradients().view(0, sliceFrom, 1, sliceTo - sliceFrom) : null;
                Matrix myParams = ownSlice ? net.parameters().view(0, sliceFrom, 1, sliceTo - sliceFrom) : null;
                double[] history = Arrays.copyOf(from.lossHistory(), o.maxIter());
                boolean converged = from.converged(), stop = converged;
                State last = from;                                  // partition 0: the state after the last epoch run
                int epoch = from.epochs();
                for (; epoch < o.maxIter() && !stop; epoch++) {
                    double lossSum = 0, localLoss = 0;
                    long localNanos = 0;
                    for (int step = 0; step < plan.stepsPerEpoch(); step++) {
                        if (step == plan.stepsPerEpoch() / 2 && self == tasks - 1 && context.stageAttemptNumber() == 0) {
                            injectFailure(context.getLocalProperty(FAIL_PROPERTY), epoch, step);
                        }
                        long computeStarted = System.nanoTime();
                        PartitionGradient.Result share = PartitionGradient.compute(block, s, params, epoch, step, shareSum);
                        if (k == 1) {                                       // the driver's update, on this task's slice
                            long global = (long) epoch * plan.stepsPerEpoch() + step;
                            lossSum += exchange.reduceScatter(global, share.gradientSum(), share.lossSum(),
                                    System.nanoTime() - computeStarted, total);
                            if (mySums != null) {
                                mySums.copyFrom(total, sliceFrom);
                                net.kernels().scale(1f / plan.batchRows(step), mySums);
                            }
                            optimizer.step(sliceFrom, sliceTo);
                            if (myParams != null) myParams.copyTo(params, sliceFrom);
                            exchange.allGather(global, params);
                        } else {                                            // periodic averaging: a step on the own share
                            if (share.rows() > 0) {
                                net.gradients().copyFrom(share.gradientSum());
                                net.kernels().scale(1f / share.rows(), net.gradients());
                                optimizer.step();
                            }
                            localLoss += share.lossSum();
                            localNanos += System.nanoTime() - computeStarted;
                            if ((step + 1) % k == 0 || step == plan.stepsPerEpoch() - 1) {
                                long stepsSoFar = (long) epoch * plan.stepsPerEpoch() + step + 1;
                                lossSum += average(exchange, net, optimizer, stepsSoFar - 1, localLoss, localNanos, tasks, stepsSoFar, total);
                                localLoss = 0;
                                localNanos = 0;
                            }
                            net.parameters().copyTo(params);
                        }
                    }
                    double loss = lossSum / plan.totalRows();
                    history[epoch] = loss;
                    converged = DataParallelTraining.converged(epoch == 0 ? Double.NaN : history[epoch - 1], loss, o);
                    stop = converged || !Double.isFinite(loss);
                    // Exact SGD: each task updated its slice of the state, which the first gathers; averaging: all hold the same.
                    float[][] state = k == 1 || self == 0 ? optimizer.state() : null;
                    if (k == 1) exchange.gatherToFirst(epoch, state);
                    if (self == 0) {
                        last = new State(epoch + 1, params.clone(), state, optimizer.steps(), Arrays.copyOf(history, epoch + 1),
                                converged);
                        exchange.reportEpoch(rendezvousHost, rendezvousPort, last);
                    }
                }
                List<Tuple2<Object, State>> end = self == 0 ? List.of(new Tuple2<>(0, last)) : List.of();
                return CollectionConverters.asScala(end.iterator());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("VectorpropClassifier: the task of partition " + self
                        + " was interrupted (another task of the stage failed)", e);
            } catch (IOException e) {
                throw new UncheckedIOException("VectorpropClassifier: the task of partition " + self
                        + " could not reach the driver or the other tasks", e);
            }
        }
    }
}
