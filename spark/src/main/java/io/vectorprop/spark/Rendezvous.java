package io.vectorprop.spark;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
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

/**
 * The driver's side of a barrier fit ({@link BarrierTraining}), a small server on Spark's transport.
 * <ul>
 *   <li><b>Meeting</b>: each task registers its partition and the address of its own
 *       {@link GradientExchange} server, and gets the answer when all the stage's tasks have registered:
 *       every task's address in partition order, and the state to start from. A new attempt of the
 *       stage (Spark reruns a barrier stage whole after a failure) meets afresh; a registration for a
 *       later attempt fails the waiting ones of an earlier attempt. Unlike
 *       {@code BarrierTaskContext.allGather}, which polls the driver once a second, the answer goes out
 *       the moment the last task registers.</li>
 *   <li><b>Epoch reports</b>: after each epoch the task of partition 0 sends the state; the driver logs
 *       the epoch and keeps the state as the start of a rerun.</li>
 * </ul>
 */
final class Rendezvous implements AutoCloseable {
    private final TransportContext context;
    private final TransportServer server;
    private static final byte MEET = 1, REPORT = 2;
    private final String host;
    /** Meetings in progress, by stage attempt; guarded by itself. */
    private final Map<Integer, Meeting> meetings = new HashMap<>();
    /** Where a (re)started stage begins: the state after the last epoch reported, encoded. */
    private volatile byte[] start;
    private volatile DataParallelTraining.Options options;
    private volatile long rows, lastReport;

    private static final class Meeting {
        final InetSocketAddress[] addresses;
        final List<RpcResponseCallback> waiting = new ArrayList<>();
        int registered;

        Meeting(int tasks) {
            addresses = new InetSocketAddress[tasks];
        }
    }

    /** A rendezvous server on {@code host}; with {@code auth}, only clients with the application's secret get in. */
    Rendezvous(String host, TransportAuth auth) {
        this.host = host;
        this.context = new TransportContext(GradientExchange.transportConf(), new Handler(), false);
        this.server = context.createServer(host, 0, TransportAuth.server(auth, context.getConf()));
    }

    String host() { return host; }

    int port() { return server.getPort(); }

    /** Sets the state the stage's tasks start from (before the stage runs), and what its epoch lines need. */
    void startFrom(BarrierTraining.State state, DataParallelTraining.Options options, long rows) {
        this.start = state.encode();
        this.options = options;
        this.rows = rows;
        this.lastReport = System.nanoTime();
    }

    /**
     * Called by a task: registers partition {@code partition} of {@code tasks} at {@code self} for
     * attempt {@code attempt} of the stage; returns every task's address, in partition order, into
     * {@code addresses}, and the state to start from.
     */
    static BarrierTraining.State meet(TransportClientFactory factory, String host, int port, int attempt, int partition,
                                      int tasks, InetSocketAddress self, long timeoutMillis, InetSocketAddress[] addresses)
            throws IOException, InterruptedException {
        var request = new ByteArrayOutputStream();
        try (var out = new DataOutputStream(request)) {
            out.writeByte(MEET);
            out.writeInt(attempt);
            out.writeInt(partition);
            out.writeInt(tasks);
            out.writeUTF(self.getHostString());
            out.writeInt(self.getPort());
        }
        ByteBuffer reply = call(factory, host, port, request.toByteArray(), timeoutMillis, "did not all reach");
        var in = new DataInputStream(new ByteArrayInputStream(toArray(reply)));
        for (int i = 0; i < tasks; i++) addresses[i] = InetSocketAddress.createUnresolved(in.readUTF(), in.readInt());
        return BarrierTraining.State.decode(in);
    }

    /** Called by the task of partition 0 after each epoch. */
    static void report(TransportClientFactory factory, String host, int port, BarrierTraining.State state,
                       double exchangeMicrosPerStep, double waitingMicrosPerStep, long timeoutMillis)
            throws IOException, InterruptedException {
        var request = new ByteArrayOutputStream();
        try (var out = new DataOutputStream(request)) {
            out.writeByte(REPORT);
            out.writeDouble(exchangeMicrosPerStep);
            out.writeDouble(waitingMicrosPerStep);
            out.write(state.encode());
        }
        call(factory, host, port, request.toByteArray(), timeoutMillis, "could not report an epoch to");
    }

    private static ByteBuffer call(TransportClientFactory factory, String host, int port, byte[] request, long timeoutMillis,
                                   String failed) throws IOException, InterruptedException {
        TransportClient client = factory.createClient(host, port);
        try {
            return client.sendRpcSync(ByteBuffer.wrap(request), timeoutMillis);
        } catch (RuntimeException e) {
            throw new IllegalStateException("VectorpropClassifier: the tasks " + failed + " the driver's rendezvous at " + host
                    + ":" + port + " within exchangeTimeout = " + timeoutMillis / 1000 + " s: " + e.getMessage(), e);
        }
    }

    private static byte[] toArray(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    private final class Handler extends RpcHandler {
        private final StreamManager streams = new OneForOneStreamManager();

        @Override
        public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
            try {
                var in = new DataInputStream(new ByteArrayInputStream(toArray(message)));
                switch (in.readByte()) {
                    case MEET -> meet(in, callback);
                    case REPORT -> {
                        double micros = in.readDouble(), waiting = in.readDouble();
                        byte[] encoded = in.readAllBytes();       // the state as the task encoded it
                        report(BarrierTraining.State.decode(new DataInputStream(new ByteArrayInputStream(encoded))), encoded,
                                micros, waiting);
                        callback.onSuccess(ByteBuffer.allocate(0));
                    }
                    default -> callback.onFailure(new IllegalArgumentException("unknown rendezvous message"));
                }
            } catch (IOException | RuntimeException e) {
                callback.onFailure(e);
            }
        }

        private void meet(DataInputStream in, RpcResponseCallback callback) throws IOException {
            int attempt = in.readInt(), partition = in.readInt(), tasks = in.readInt();
            String address = in.readUTF();
            int port = in.readInt();
            List<RpcResponseCallback> answer = null;
            Meeting complete = null;
            synchronized (meetings) {
                for (var it = meetings.entrySet().iterator(); it.hasNext(); ) {   // an earlier attempt will not complete
                    var e = it.next();
                    if (e.getKey() < attempt) {
                        for (RpcResponseCallback c : e.getValue().waiting) {
                            c.onFailure(new IllegalStateException("a later attempt of the stage has started"));
                        }
                        it.remove();
                    }
                }
                Meeting m = meetings.computeIfAbsent(attempt, k -> new Meeting(tasks));
                if (m.addresses[partition] == null) m.registered++;
                m.addresses[partition] = InetSocketAddress.createUnresolved(address, port);
                m.waiting.add(callback);
                if (m.registered == tasks) {
                    answer = m.waiting;
                    complete = m;
                    meetings.remove(attempt);
                }
            }
            if (answer == null) return;
            var reply = new ByteArrayOutputStream();
            try (var out = new DataOutputStream(reply)) {
                for (InetSocketAddress a : complete.addresses) {
                    out.writeUTF(a.getHostString());
                    out.writeInt(a.getPort());
                }
                out.write(start);
            }
            byte[] bytes = reply.toByteArray();
            for (RpcResponseCallback c : answer) c.onSuccess(ByteBuffer.wrap(bytes));
        }

        /** An epoch's end: the new restart point (kept as the task encoded it), and its progress line. */
        private void report(BarrierTraining.State state, byte[] encoded, double exchangeMicrosPerStep, double waitingMicrosPerStep) {
            start = encoded;
            long now = System.nanoTime();
            double seconds = (now - lastReport) / 1e9;
            lastReport = now;
            int epoch = state.epochs() - 1;
            DataParallelTraining.logEpoch(epoch, options, state.lossHistory()[epoch], seconds, rows, exchangeMicrosPerStep,
                    waitingMicrosPerStep);
            if (state.converged()) DataParallelTraining.logConverged(options, epoch);
        }

        @Override
        public StreamManager getStreamManager() { return streams; }
    }

    @Override
    public void close() {
        try {
            server.close();
        } finally {
            context.close();
        }
    }
}
