package io.vectorprop.spark;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.network.TransportContext;
import org.apache.spark.network.client.RpcResponseCallback;
import org.apache.spark.network.client.TransportClient;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.server.OneForOneStreamManager;
import org.apache.spark.network.server.RpcHandler;
import org.apache.spark.network.server.StreamManager;
import org.apache.spark.network.server.TransportServer;
import org.apache.spark.network.util.MapConfigProvider;
import org.apache.spark.network.util.TransportConf;

/**
 * The tasks of one barrier stage exchanging gradient sums directly, over Spark's own transport
 * ({@code spark-network-common}): task {@code i} of {@code N} owns the slice
 * {@code [⌊P·i/N⌋, ⌊P·(i+1)/N⌋)} of the P gradient elements. Every step:
 * <ol>
 *   <li><b>reduce-scatter</b>: each task sends slice j of its gradient sum (and its loss sum) to task j;
 *       task j adds the N slices <em>in partition order</em>, starting from zeros and skipping the tasks
 *       that had no rows, exactly as the driver adds the partitions' results in the job-per-step mode,
 *       so both modes give the same bits;</li>
 *   <li><b>all-gather</b>: each task sends its summed slice to every other, so every task holds the
 *       whole sum and applies the same optimizer update to the same parameters.</li>
 * </ol>
 * Each task sends {@code 2·(N−1)/N·P} floats per step and receives as many, whatever N.
 *
 * <p>Messages are one-way (no reply to wait for): a task sends all it has for a step and then waits for
 * what it needs, so a fast task may send step s+1 while a slower one still waits in step s; messages
 * are kept by (kind, step, sender) until asked for. Netty writes a channel's messages in order and
 * before the channel's close, so a peer that closes after its last message has delivered everything;
 * a peer whose connection closes while a message of it is still awaited has failed, and the wait ends
 * at once with an exception naming it. Waits are interruptible (Spark interrupts the other tasks of a
 * barrier stage when one fails) and bounded by the fit's {@code exchangeTimeout}, named in the error.
 */
final class GradientExchange implements AutoCloseable {
    private static final int SHARE = 1, SUM = 2;

    private final int self, tasks, parameters;
    private final long timeoutMillis;
    private final TransportContext context;
    private final TransportServer server;
    private final TransportClientFactory clients;
    private final List<TransportClient> peers = new ArrayList<>();
    /** Messages received and not yet taken, by {@link #key}; guarded by itself. */
    private final Map<Long, Message> mailbox = new HashMap<>();
    /** Senders whose connection closed (a failed task, unless all its messages have arrived); guarded by mailbox. */
    private final boolean[] gone;
    private final Map<TransportClient, Integer> senders = new java.util.concurrent.ConcurrentHashMap<>();

    /** A received message: the sender's loss sum, how long its share took to compute, its floats. */
    private record Message(double loss, long computeNanos, float[] values) {}

    /**
     * Time spent in {@link #allReduce} (sending, waiting for the others, adding), the part of it that only
     * waited for a share that took longer to compute than ours, and the steps it covers.
     */
    private long exchangeNanos, imbalanceNanos;
    private int exchangedSteps;

    /**
     * Starts this task's server on {@code host} (an ephemeral port); {@link #meet} then reaches the others.
     * With {@code auth}, every connection, in and out, authenticates with the application's secret.
     */
    GradientExchange(String host, int self, int tasks, int parameters, long timeoutMillis, TransportAuth auth) {
        this.self = self;
        this.tasks = tasks;
        this.parameters = parameters;
        this.timeoutMillis = timeoutMillis;
        this.gone = new boolean[tasks];
        this.context = new TransportContext(transportConf(), new Receiver(), false);
        this.server = context.createServer(host, 0, TransportAuth.server(auth, context.getConf()));
        this.clients = context.createClientFactory(TransportAuth.client(auth, context.getConf()));
    }

    /**
     * A transport configuration of our own module name ({@code spark.vectorprop.io.*}): one server and one
     * client thread, as a step's messages are few and large, and no idle timeout shorter than a step.
     */
    static TransportConf transportConf() {
        return new TransportConf("vectorprop", new MapConfigProvider(Map.of(
                "spark.vectorprop.io.serverThreads", "1",
                "spark.vectorprop.io.clientThreads", "1",
                "spark.vectorprop.io.numConnectionsPerPeer", "1",
                "spark.vectorprop.io.connectionTimeout", "600s")));
    }

    int port() { return server.getPort(); }

    /** Floats of the vectors this exchange all-reduces. */
    int length() { return parameters; }

    /**
     * Registers this task's server with the driver's {@link Rendezvous} for this attempt of the stage,
     * waits for all the stage's tasks to do so, connects to every other task, and returns the state the
     * fit goes on from.
     */
    BarrierTraining.State meet(String host, int port, int attempt, String selfHost) throws IOException, InterruptedException {
        InetSocketAddress[] addresses = new InetSocketAddress[tasks];
        BarrierTraining.State start = Rendezvous.meet(clients, host, port, attempt, self, tasks,
                InetSocketAddress.createUnresolved(selfHost, port()), timeoutMillis, addresses);
        for (int j = 0; j < tasks; j++) {
            peers.add(j == self ? null : clients.createClient(addresses[j].getHostString(), addresses[j].getPort()));
        }
        return start;
    }

    /**
     * Sends the state after an epoch to the driver's {@link Rendezvous} (the task of partition 0 does), with
     * the mean time per step spent in {@link #allReduce} since the last report: an upper bound of the
     * exchange's cost, as it includes waiting for a task whose share took longer to compute.
     */
    void reportEpoch(String host, int port, BarrierTraining.State state) throws IOException, InterruptedException {
        double micros = exchangedSteps == 0 ? Double.NaN : exchangeNanos / 1e3 / exchangedSteps;
        double waiting = exchangedSteps == 0 ? Double.NaN : imbalanceNanos / 1e3 / exchangedSteps;
        exchangeNanos = 0;
        imbalanceNanos = 0;
        exchangedSteps = 0;
        Rendezvous.report(clients, host, port, state, micros, waiting, timeoutMillis);
    }

    int sliceStart(int task) {
        return (int) ((long) parameters * task / tasks);
    }

    /**
     * All-reduces one step: {@code gradientSum} is this task's gradient sum (null when it had no rows in
     * this step), {@code loss} its loss sum, {@code computeNanos} how long it took to compute (for the
     * statistics only). Writes the sum over all tasks, added in partition order, into {@code total} and
     * returns the loss sum added in partition order.
     */
    double allReduce(long step, float[] gradientSum, double loss, long computeNanos, float[] total) throws InterruptedException {
        long started = System.nanoTime(), slowest = computeNanos;
        for (int j = 0; j < tasks; j++) {
            if (j != self) send(j, SHARE, step, loss, computeNanos, gradientSum, sliceStart(j), sliceStart(j + 1));
        }
        int from = sliceStart(self), to = sliceStart(self + 1);
        java.util.Arrays.fill(total, from, to, 0f);
        double lossSum = 0;
        for (int p = 0; p < tasks; p++) {
            float[] share;
            if (p == self) {
                lossSum += loss;
                share = gradientSum;
            } else {
                Message m = take(SHARE, step, p);
                lossSum += m.loss();
                share = m.values();
                slowest = Math.max(slowest, m.computeNanos());
            }
            if (share == null) continue;                       // a partition with no rows in this step
            int offset = p == self ? 0 : -from;                // our own array is whole, a received one is our slice
            for (int e = from; e < to; e++) total[e] += share[e + offset];
        }
        for (int j = 0; j < tasks; j++) {
            if (j != self) send(j, SUM, step, lossSum, 0, total, from, to);
        }
        for (int j = 0; j < tasks; j++) {
            if (j == self) continue;
            float[] slice = take(SUM, step, j).values();
            System.arraycopy(slice, 0, total, sliceStart(j), slice.length);
        }
        exchangeNanos += System.nanoTime() - started;
        imbalanceNanos += slowest - computeNanos;
        exchangedSteps++;
        return lossSum;
    }

    private void send(int to, int kind, long step, double loss, long computeNanos, float[] values, int from, int end) {
        int count = values == null ? -1 : end - from;
        ByteBuffer b = ByteBuffer.allocate(36 + Math.max(0, count) * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(kind).putLong(step).putInt(self).putInt(count).putDouble(loss).putLong(computeNanos);
        if (values != null) b.asFloatBuffer().put(values, from, count);   // a view: b's position stays after the header
        peers.get(to).send(b.rewind());
    }

    /** (kind, step, sender) as one key: steps are counted over the whole fit, so they never repeat. */
    private static long key(int kind, long step, int from) {
        return (step << 24) | ((long) kind << 20) | from;
    }

    private Message take(int kind, long step, int from) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        synchronized (mailbox) {
            while (true) {
                Message m = mailbox.remove(key(kind, step, from));
                if (m != null) return m;
                if (gone[from]) {
                    throw new IllegalStateException("VectorpropClassifier: the task of partition " + from
                            + " stopped before sending its " + (kind == SHARE ? "gradient share" : "summed slice")
                            + " of step " + step + " of the fit (its executor failed or it was killed)");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("VectorpropClassifier: no " + (kind == SHARE ? "gradient share" : "summed slice")
                            + " from the task of partition " + from + " for step " + step + " of the fit within exchangeTimeout = "
                            + timeoutMillis / 1000 + " s (raise exchangeTimeout if steps are that slow)");
                }
                mailbox.wait(Math.max(1, left / 1_000_000L));
            }
        }
    }

    /** Receives the one-way messages of the other tasks (called on the transport's thread). */
    private final class Receiver extends RpcHandler {
        private final StreamManager streams = new OneForOneStreamManager();

        @Override
        public void receive(TransportClient client, ByteBuffer message) {
            ByteBuffer b = message.order(ByteOrder.LITTLE_ENDIAN);
            int kind = b.getInt();
            long step = b.getLong();
            int from = b.getInt(), count = b.getInt();
            double loss = b.getDouble();
            long computeNanos = b.getLong();
            float[] values = null;
            if (count >= 0) {                                  // copied: the buffer is released after this call
                values = new float[count];
                b.asFloatBuffer().get(values);
            }
            senders.put(client, from);
            synchronized (mailbox) {
                mailbox.put(key(kind, step, from), new Message(loss, computeNanos, values));
                mailbox.notifyAll();
            }
        }

        @Override
        public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
            callback.onFailure(new UnsupportedOperationException("the gradient exchange takes one-way messages only"));
        }

        @Override
        public void channelInactive(TransportClient client) {
            Integer from = senders.remove(client);
            if (from == null) return;
            synchronized (mailbox) {
                gone[from] = true;
                mailbox.notifyAll();
            }
        }

        @Override
        public StreamManager getStreamManager() { return streams; }
    }

    @Override
    public void close() {
        try {
            clients.close();
        } finally {
            try {
                server.close();
            } finally {
                context.close();
            }
        }
    }
}
