package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetSocketAddress;
import java.util.List;

import org.apache.spark.network.TransportContext;
import org.apache.spark.network.client.TransportClientFactory;
import org.apache.spark.network.sasl.SecretKeyHolder;
import org.apache.spark.network.server.NoOpRpcHandler;
import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.network.Optimizer;

/**
 * The driver's rendezvous with {@code spark.authenticate}'s handshake on: a client holding the
 * application's secret meets and gets the start state; one with another secret, or none, is refused.
 * (Across JVMs, {@code LocalClusterTest} runs the whole barrier fit with authentication on.)
 */
class TransportAuthTest {
    record Secret(String secret) implements SecretKeyHolder {
        @Override public String getSaslUser(String appId) { return "sparkSaslUser"; }
        @Override public String getSecretKey(String appId) { return secret; }
    }

    static BarrierTraining.State meet(Rendezvous r, TransportAuth auth) throws Exception {
        try (TransportContext context = new TransportContext(GradientExchange.transportConf(), new NoOpRpcHandler(), false);
             TransportClientFactory clients = context.createClientFactory(TransportAuth.client(auth, context.getConf()))) {
            return Rendezvous.meet(clients, r.host(), r.port(), 0, 0, 1, InetSocketAddress.createUnresolved("127.0.0.1", 1),
                    5_000, new InetSocketAddress[1]);
        }
    }

    @Test
    void onlyClientsWithTheApplicationsSecretGetIn() throws Exception {
        var options = new DataParallelTraining.Options(new int[] {2, 2}, Activation.RELU, Optimizer.Kind.SGD, 0.1f, 1, 1, 0, 0,
                false, DataParallelTraining.Exchange.BARRIER, 5, 1);
        var start = new BarrierTraining.State(0, new float[] {1, 2, 3, 4, 5, 6}, new float[][] {new float[6]}, 0, new double[0], false);
        try (Rendezvous r = new Rendezvous("127.0.0.1", new TransportAuth("app-1", new Secret("right")))) {
            r.startFrom(start, options, 10);
            assertArrayEquals(start.parameters(), meet(r, new TransportAuth("app-1", new Secret("right"))).parameters());
            for (TransportAuth wrong : new TransportAuth[] {new TransportAuth("app-1", new Secret("wrong")), null}) {
                assertThrows(Exception.class, () -> meet(r, wrong), String.valueOf(wrong));
            }
            assertEquals(0, meet(r, new TransportAuth("app-1", new Secret("right"))).epochs(), "still serves after refusals");
        }
    }
}
