package io.vectorprop.spark;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
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
 * Where the tasks of a barrier stage meet once per epoch: a small server on the driver. Each task
 * registers its partition and the address of its own {@link GradientExchange} server and gets the
 * answer when all the stage's tasks have registered: every task's address, in partition order. A new
 * attempt of the stage (Spark reruns a barrier stage whole after a failure) meets afresh, and a
 * registration for a later attempt fails the waiting ones of an earlier attempt. Unlike
 * {@code BarrierTaskContext.allGather}, which polls the driver once a second, the answer goes out the
 * moment the last task registers.
 */
final class Rendezvous implements AutoCloseable {
    private final TransportContext context;
    private final TransportServer server;
    private final String host;
    /** Meetings in progress, by (epoch, attempt); guarded by itself. */
    private final Map<String, Meeting> meetings = new HashMap<>();

    private static final class Meeting {
        final String[] addresses;
        final List<RpcResponseCallback> waiting = new ArrayList<>();
        int registered;

        Meeting(int tasks) {
            addresses = new String[tasks];
        }
    }

    Rendezvous(String host) {
        this.host = host;
        this.context = new TransportContext(GradientExchange.transportConf(), new Handler(), false);
        this.server = context.createServer(host, 0, List.of());
    }

    String host() { return host; }

    int port() { return server.getPort(); }

    /**
     * Called by a task: registers partition {@code partition} of {@code tasks} at {@code self} for
     * {@code epoch}, attempt {@code attempt} of the stage, and returns every task's address.
     */
    static InetSocketAddress[] meet(TransportClientFactory factory, String host, int port, int epoch, int attempt,
                                    int partition, int tasks, InetSocketAddress self, long timeoutMillis)
            throws IOException, InterruptedException {
        TransportClient client = factory.createClient(host, port);
        String request = epoch + " " + attempt + " " + partition + " " + tasks + " " + self.getHostString() + ":" + self.getPort();
        ByteBuffer reply;
        try {
            reply = client.sendRpcSync(ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8)), timeoutMillis);
        } catch (RuntimeException e) {
            throw new IllegalStateException("VectorpropClassifier: the tasks of epoch " + (epoch + 1) + " did not all reach the "
                    + "driver's rendezvous at " + host + ":" + port + " within exchangeTimeout = " + timeoutMillis / 1000
                    + " s: " + e.getMessage(), e);
        }
        String[] parts = StandardCharsets.UTF_8.decode(reply).toString().split(" ");
        InetSocketAddress[] out = new InetSocketAddress[parts.length];
        for (int i = 0; i < parts.length; i++) {
            int colon = parts[i].lastIndexOf(':');
            out[i] = InetSocketAddress.createUnresolved(parts[i].substring(0, colon), Integer.parseInt(parts[i].substring(colon + 1)));
        }
        return out;
    }

    private final class Handler extends RpcHandler {
        private final StreamManager streams = new OneForOneStreamManager();

        @Override
        public void receive(TransportClient client, ByteBuffer message, RpcResponseCallback callback) {
            String[] f = StandardCharsets.UTF_8.decode(message).toString().split(" ");
            int epoch = Integer.parseInt(f[0]), attempt = Integer.parseInt(f[1]), partition = Integer.parseInt(f[2]),
                    tasks = Integer.parseInt(f[3]);
            List<RpcResponseCallback> answer = null;
            String addresses = null;
            synchronized (meetings) {
                String id = epoch + "/" + attempt;
                for (var it = meetings.entrySet().iterator(); it.hasNext(); ) {   // an earlier attempt will not complete
                    var e = it.next();
                    String[] k = e.getKey().split("/");
                    if (Integer.parseInt(k[0]) < epoch || (Integer.parseInt(k[0]) == epoch && Integer.parseInt(k[1]) < attempt)) {
                        for (RpcResponseCallback c : e.getValue().waiting) {
                            c.onFailure(new IllegalStateException("a later attempt of the stage has started"));
                        }
                        it.remove();
                    }
                }
                Meeting m = meetings.computeIfAbsent(id, k -> new Meeting(tasks));
                if (m.addresses[partition] == null) m.registered++;
                m.addresses[partition] = f[4];
                m.waiting.add(callback);
                if (m.registered == tasks) {
                    answer = m.waiting;
                    addresses = String.join(" ", m.addresses);
                    meetings.remove(id);
                }
            }
            if (answer != null) {
                byte[] bytes = addresses.getBytes(StandardCharsets.UTF_8);
                for (RpcResponseCallback c : answer) c.onSuccess(ByteBuffer.wrap(bytes));
            }
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
