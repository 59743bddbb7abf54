package io.vectorprop.spark;

import java.util.List;

import org.apache.spark.SparkEnv;
import org.apache.spark.network.client.TransportClientBootstrap;
import org.apache.spark.network.crypto.AuthClientBootstrap;
import org.apache.spark.network.crypto.AuthServerBootstrap;
import org.apache.spark.network.sasl.SecretKeyHolder;
import org.apache.spark.network.server.TransportServerBootstrap;
import org.apache.spark.network.util.TransportConf;

/**
 * Authentication of the barrier exchange's connections when {@code spark.authenticate} is on: Spark's
 * own handshake ({@code AuthServerBootstrap}, {@code AuthClientBootstrap}) with the application's
 * secret, the one Spark's RPC and block transfers use, so only processes of the same application can
 * register with the driver's rendezvous or send a task gradients. Null (no bootstraps) when
 * authentication is off.
 *
 * @param appId   the application's id, which the client names in the handshake
 * @param secrets where the secret comes from: Spark's {@code SecurityManager} of this JVM
 */
record TransportAuth(String appId, SecretKeyHolder secrets) {
    /** This JVM's authentication for application {@code appId}, or null when {@code spark.authenticate} is off. */
    static TransportAuth of(String appId) {
        var security = SparkEnv.get().securityManager();
        return security.isAuthenticationEnabled() ? new TransportAuth(appId, security) : null;
    }

    static List<TransportServerBootstrap> server(TransportAuth auth, TransportConf conf) {
        return auth == null ? List.of() : List.of(new AuthServerBootstrap(conf, auth.secrets()));
    }

    static List<TransportClientBootstrap> client(TransportAuth auth, TransportConf conf) {
        return auth == null ? List.of() : List.of(new AuthClientBootstrap(conf, auth.appId(), auth.secrets()));
    }
}
