package io.vectorprop.spark;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
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
 *   <li><b>all-gather</b>: each task sends its slice to every other — in the barrier fit the slice of the
 *       parameters it has just updated from its summed slice ({@link #reduceScatter}, the optimizer on the
 *       slice, {@link #allGather}); in periodic averaging the summed slice itself ({@link #allReduce}).</li>
 * </ol>
 * Each task sends {@code 2·(N−1)/N·P} floats per step and receives as many, whatever N. Once per epoch
 * {@link #gatherToFirst} brings the slices of the optimizer's state to the first task, which reports it.
 *
 * <p>Tasks that run in the same JVM (an executor with several cores, or {@code local[n]}) hand their
 * messages to each other through memory instead: the sender copies its floats into the receiver's slot
 * and wakes it, which is what the transport's path ends with after two thread hand-offs, a socket and
 * three more copies. The messages, their order and the sums are the same either way.
 *
 * <p>Messages are one-way (no reply to wait for): a task sends all it has for a step and then waits for
 * what it needs, so a fast task may send step s+1 while a slower one still waits in step s; a message
 * waits in the receiver's slot for its (kind, sender) until taken. Netty writes a channel's messages in order and
 * before the channel's close, so a peer that closes after its last message has delivered everything;
 * a peer whose connection closes while a message of it is still awaited has failed, and the wait ends
 * at once with an exception naming it. Waits are interruptible (Spark interrupts the other tasks of a
 * barrier stage when one fails) and bounded by the fit's {@code exchangeTimeout}, named in the error.
 */
final class GradientExchange implements AutoCloseable {
    private static final int SHARE = 1, GATHER = 2, STATE = 3;
    /** A message's header: kind, step, sender, float count, loss sum, compute nanoseconds. */
    private static final int HEADER = 4 + 8 + 4 + 4 + 8 + 8;

    private final int self, tasks, parameters;
    private final long timeoutMillis;
    private final TransportContext context;
    private final TransportServer server;
    private final TransportClientFactory clients;
    private final List<TransportClient> peers = new ArrayList<>();
    /** Whether peers in this JVM exchange through memory (false only where a test wants the transport's path). */
    private final boolean inMemory;
    /** The exchanges of this JVM that peers may reach through memory, by the address their server has at the rendezvous. */
    private static final Map<String, GradientExchange> IN_THIS_JVM = new java.util.concurrent.ConcurrentHashMap<>();
    /** Our address at the rendezvous once we registered it in {@link #IN_THIS_JVM}; null otherwise. */
    private String registeredAs;
    /** The peers that run in this JVM, by partition (null for the others and ourselves). */
    private final GradientExchange[] local;
    /**
     * The messages to each peer reached through the transport, one direct buffer per (kind, peer), made by
     * the first {@link #send} of its kind to that peer and written again every step after: direct, so that
     * the transport writes it to the socket without copying it first, and reused, so that a step allocates
     * nothing. See {@link #send} for why a buffer is free again when it is rewritten.
     */
    private final ByteBuffer[][] outbox;
    /**
     * What each peer sent, one slot per (kind, sender), filled by the transport's thread (or, for a peer in
     * this JVM, by the peer's own thread) and emptied by {@link #allReduce}: at most one message per kind
     * and sender is ever outstanding (see {@link #send}). Guarded by {@code inbox} itself, as are
     * {@link #gone} and {@link #broken}.
     */
    private final Slot[][] inbox;
    /** Senders whose connection closed (a failed task, unless all its messages have arrived). */
    private final boolean[] gone;
    /** Set when a message arrived whose slot was still full: the exchange's order was broken. */
    private String broken;
    private final Map<TransportClient, Integer> senders = new java.util.concurrent.ConcurrentHashMap<>();

    /** A received message: its step (−1 while the slot is empty), the sender's loss sum, how long its share took to compute, its floats. */
    private static final class Slot {
        long step = -1;
        double loss;
        long computeNanos;
        /** −1 for a partition that had no rows in the step. */
        int count;
        float[] values = new float[0];
    }

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
        this(host, self, tasks, parameters, timeoutMillis, auth, true);
    }

    /** As above; {@code inMemory} false sends every message through the transport, even to a peer in this JVM. */
    GradientExchange(String host, int self, int tasks, int parameters, long timeoutMillis, TransportAuth auth, boolean inMemory) {
        this.self = self;
        this.inMemory = inMemory;
        this.local = new GradientExchange[tasks];
        this.tasks = tasks;
        this.parameters = parameters;
        this.timeoutMillis = timeoutMillis;
        this.gone = new boolean[tasks];
        this.inbox = new Slot[STATE + 1][tasks];
        this.outbox = new ByteBuffer[STATE + 1][tasks];
        for (int j = 0; j < tasks; j++) {
            for (int kind = SHARE; kind <= STATE; kind++) inbox[kind][j] = new Slot();
        }
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
        InetSocketAddress me = InetSocketAddress.createUnresolved(selfHost, port());
        if (inMemory) {                      // before the rendezvous: a peer that learns our address finds us here
            registeredAs = me.toString();
            IN_THIS_JVM.put(registeredAs, this);
        }
        BarrierTraining.State start = Rendezvous.meet(clients, host, port, attempt, self, tasks, me, timeoutMillis, addresses);
        for (int j = 0; j < tasks; j++) {
            GradientExchange peer = inMemory && j != self ? IN_THIS_JVM.get(addresses[j].toString()) : null;
            if (peer != null && (peer.self != j || peer.tasks != tasks || peer.parameters != parameters)) peer = null;
            local[j] = peer;
            if (j == self || peer != null) {
                peers.add(null);
                continue;
            }
            peers.add(clients.createClient(addresses[j].getHostString(), addresses[j].getPort()));
        }
        return start;
    }

    /** How many of the other tasks this one reaches through memory (the rest through the transport). */
    int peersInThisJvm() {
        int n = 0;
        for (GradientExchange peer : local) if (peer != null) n++;
        return n;
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

    /**
     * Where task {@code task}'s slice starts (task N: the end). Slices start at multiples of 16 floats, so a
     * task that updates its slice with {@link io.vectorprop.network.Optimizer#step(int, int)} gives each
     * element the bits a whole-vector update gives it (see there); a slice may be empty when there are
     * fewer than 16 elements per task.
     */
    int sliceStart(int task) {
        return task == tasks ? parameters : (int) ((long) parameters * task / tasks) & ~15;
    }

    /**
     * All-reduces one step: {@code gradientSum} is this task's gradient sum (null when it had no rows in
     * this step), {@code loss} its loss sum, {@code computeNanos} how long it took to compute (for the
     * statistics only). Writes the sum over all tasks, added in partition order, into {@code total} and
     * returns the loss sum added in partition order.
     */
    double allReduce(long step, float[] gradientSum, double loss, long computeNanos, float[] total) throws InterruptedException {
        double lossSum = reduceScatter(step, gradientSum, loss, computeNanos, total);
        allGather(step, total);
        return lossSum;
    }

    /**
     * The first half of {@link #allReduce}: writes the sum over all tasks of this task's slice only,
     * {@code total[sliceStart(self) … sliceStart(self+1))}, added in partition order, and returns the loss
     * sum added in partition order. {@link #allGather} for the same step must follow.
     */
    double reduceScatter(long step, float[] gradientSum, double loss, long computeNanos, float[] total) throws InterruptedException {
        long started = System.nanoTime(), slowest = computeNanos;
        for (int j = 0; j < tasks; j++) {
            if (j != self) send(j, SHARE, step, loss, computeNanos, gradientSum, sliceStart(j), sliceStart(j + 1));
        }
        int from = sliceStart(self), to = sliceStart(self + 1);
        java.util.Arrays.fill(total, from, to, 0f);
        double lossSum = 0;
        for (int p = 0; p < tasks; p++) {
            if (p == self) {
                lossSum += loss;
                if (gradientSum != null) add(gradientSum, from, total, from, to - from);
                continue;
            }
            Slot m = take(SHARE, step, p);
            lossSum += m.loss;
            slowest = Math.max(slowest, m.computeNanos);
            if (m.count >= 0) add(m.values, 0, total, from, to - from);   // a partition with no rows in this step sent none
            empty(m);
        }
        exchangeNanos += System.nanoTime() - started;
        imbalanceNanos += slowest - computeNanos;
        exchangedSteps++;
        return lossSum;
    }

    /**
     * The second half of {@link #allReduce}: sends this task's slice of {@code values} to every other task
     * and writes theirs into {@code values}, which then holds every task's slice.
     */
    void allGather(long step, float[] values) throws InterruptedException {
        long started = System.nanoTime();
        int from = sliceStart(self), to = sliceStart(self + 1);
        for (int j = 0; j < tasks; j++) {
            if (j != self) send(j, GATHER, step, 0, 0, values, from, to);
        }
        for (int j = 0; j < tasks; j++) {
            if (j == self) continue;
            Slot m = take(GATHER, step, j);
            System.arraycopy(m.values, 0, values, sliceStart(j), m.count);
            empty(m);
        }
        exchangeNanos += System.nanoTime() - started;
    }

    /**
     * Gathers the slices of {@code blocks} (each of the exchange's length) into the task of partition 0:
     * every other task sends its slice of each block, the first task writes them into its own
     * {@code blocks}, which then hold every task's slice; the other tasks' {@code blocks} are not changed.
     * {@code tag} (e.g. the epoch) must grow from one gather to the next.
     */
    void gatherToFirst(long tag, float[][] blocks) throws InterruptedException {
        int from = sliceStart(self), n = sliceStart(self + 1) - from;
        if (self != 0) {
            float[] mine = new float[blocks.length * n];
            for (int b = 0; b < blocks.length; b++) System.arraycopy(blocks[b], from, mine, b * n, n);
            send(0, STATE, tag, 0, 0, mine, 0, mine.length);
            return;
        }
        for (int j = 1; j < tasks; j++) {
            Slot m = take(STATE, tag, j);
            int at = sliceStart(j), count = sliceStart(j + 1) - at;
            for (int b = 0; b < blocks.length; b++) System.arraycopy(m.values, b * count, blocks[b], at, count);
            empty(m);
        }
    }

    /** {@code total[at … at+n) += share[from … from+n)}, element by element in this order. */
    private static void add(float[] share, int from, float[] total, int at, int n) {
        for (int e = 0; e < n; e++) total[at + e] += share[from + e];
    }

    /**
     * Sends {@code values[from … end)} (none when null) as a message of {@code kind} for {@code step}.
     * A peer in this JVM gets the floats copied into its slot at once. Otherwise the buffer for (kind, peer)
     * is rewritten, and the transport could still be writing the last message from it, unless that message
     * has arrived; it has, by the order of the exchange: our share of step s+1 goes out after the peer's slice
     * of step s came in, which the peer sent after receiving our share of step s; our slice of step s+1 goes
     * out after the peer's share of step s+1 came in, which it sent after receiving our slice of step s; our
     * state of epoch e+1 goes to the first task after its slice of the next epoch's first step came in, which
     * it sent after taking our state of epoch e. The
     * same order keeps at most one message per (kind, sender) in flight, which {@link #claim} checks.
     */
    private void send(int to, int kind, long step, double loss, long computeNanos, float[] values, int from, int end) {
        int count = values == null ? -1 : end - from;
        if (local[to] != null) {
            local[to].deliver(kind, step, self, count, loss, computeNanos, values, from);
            return;
        }
        int bytes = HEADER + Math.max(0, count) * Float.BYTES;
        if (outbox[kind][to] == null || outbox[kind][to].capacity() < bytes) outbox[kind][to] = ByteBuffer.allocateDirect(bytes);
        ByteBuffer b = outbox[kind][to].clear().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(kind).putLong(step).putInt(self).putInt(count).putDouble(loss).putLong(computeNanos);
        if (values != null) b.asFloatBuffer().put(values, from, count);   // a view: b's position stays after the header
        b.limit(bytes).position(0);
        peers.get(to).send(b.duplicate());
    }

    /** Waits for the message of {@code kind} for {@code step} from {@code from}; the caller {@link #empty empties} its slot. */
    private Slot take(int kind, long step, int from) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        Slot slot = inbox[kind][from];
        synchronized (inbox) {
            while (true) {
                if (broken != null) throw new IllegalStateException(broken);
                if (slot.step == step) return slot;
                if (gone[from]) {
                    throw new IllegalStateException("VectorpropClassifier: the task of partition " + from
                            + " stopped before sending its " + what(kind)
                            + " of step " + step + " of the fit (its executor failed or it was killed)");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("VectorpropClassifier: no " + what(kind)
                            + " from the task of partition " + from + " for step " + step + " of the fit within exchangeTimeout = "
                            + timeoutMillis / 1000 + " s (raise exchangeTimeout if steps are that slow)");
                }
                inbox.wait(Math.max(1, left / 1_000_000L));
            }
        }
    }

    private static String what(int kind) {
        return switch (kind) {
            case SHARE -> "gradient share";
            case GATHER -> "slice for the all-gather";
            case STATE -> "slice of the optimizer state";
            default -> throw new IllegalArgumentException("message kind " + kind);
        };
    }

    private void empty(Slot slot) {
        synchronized (inbox) {
            slot.step = -1;
        }
    }

    /** A message from a peer in this JVM: {@code count} floats of {@code values} from {@code offset} (none when −1). */
    private void deliver(int kind, long step, int from, int count, double loss, long computeNanos, float[] values, int offset) {
        Slot slot = claim(kind, step, from, count);
        if (slot == null) return;
        if (count > 0) System.arraycopy(values, offset, slot.values, 0, count);
        publish(slot, step, count, loss, computeNanos);
    }

    /**
     * The empty slot for a message of {@code kind} from {@code from}, with room for {@code count} floats,
     * or null (after recording why) if it is still full. Only the sender's thread fills a given slot (the
     * transport's thread of its connection, or its own thread in this JVM), so the caller copies into it
     * outside the lock and then {@link #publish}es it under the lock.
     */
    private Slot claim(int kind, long step, int from, int count) {
        Slot slot = inbox[kind][from];
        synchronized (inbox) {
            if (slot.step != -1) {
                broken = "VectorpropClassifier: the task of partition " + from + " sent its " + what(kind)
                        + " of step " + step + " before this task had taken that of step " + slot.step + " (a bug in the exchange)";
                inbox.notifyAll();
                return null;
            }
        }
        if (count > slot.values.length) slot.values = new float[count];
        return slot;
    }

    private void publish(Slot slot, long step, int count, double loss, long computeNanos) {
        synchronized (inbox) {
            slot.loss = loss;
            slot.computeNanos = computeNanos;
            slot.count = count;
            slot.step = step;
            inbox.notifyAll();
        }
    }

    /** The peer of partition {@code from} closed its exchange or its connection (a failed task, unless all its messages have arrived). */
    private void peerClosed(int from) {
        synchronized (inbox) {
            gone[from] = true;
            inbox.notifyAll();
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
            senders.put(client, from);
            Slot slot = claim(kind, step, from, count);
            if (slot == null) return;
            if (count > 0) b.asFloatBuffer().get(slot.values, 0, count);   // copied: the buffer is released after this call
            publish(slot, step, count, loss, computeNanos);
        }

        @Override
        public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
            callback.onFailure(new UnsupportedOperationException("the gradient exchange takes one-way messages only"));
        }

        @Override
        public void channelInactive(TransportClient client) {
            Integer from = senders.remove(client);
            if (from != null) peerClosed(from);
        }

        @Override
        public StreamManager getStreamManager() { return streams; }
    }

    @Override
    public void close() {
        if (registeredAs != null) IN_THIS_JVM.remove(registeredAs, this);
        for (GradientExchange peer : local) if (peer != null) peer.peerClosed(self);
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
