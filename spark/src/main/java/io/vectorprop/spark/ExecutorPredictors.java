package io.vectorprop.spark;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.spark.broadcast.Broadcast;

import io.vectorprop.network.Network;
import io.vectorprop.network.Predictor;

/**
 * One {@link Predictor} per model per executor JVM, built from the model's broadcast file the first
 * time a partition of that executor scores with it, and shared by all its tasks (a predictor is safe
 * on any number of threads). The predictors of the {@value #KEEP} models used last stay; an older one
 * is closed once the partitions scoring with it are done.
 */
final class ExecutorPredictors {
    static final int KEEP = 4;

    private ExecutorPredictors() {}

    /** A predictor and the partitions using it now. */
    static final class Lease {
        final Predictor predictor;
        private int users;
        private boolean evicted;

        private Lease(Predictor predictor) { this.predictor = predictor; }
    }

    private static final LinkedHashMap<String, Lease> LEASES = new LinkedHashMap<>(16, 0.75f, true);

    /**
     * The predictor for {@code model}, counted as used until {@link #release}. {@code key} names the
     * model uniquely in the JVM: broadcast ids restart with every SparkContext, so they alone could
     * hand a new context's model the predictor of an old one.
     */
    static Lease acquire(String key, Broadcast<byte[]> model) {
        synchronized (LEASES) {
            Lease lease = LEASES.get(key);
            if (lease == null) {
                try (Network net = ModelBytes.toNetwork(model.value(), "broadcast " + model.id())) {
                    lease = new Lease(Predictor.of(net));
                }
                LEASES.put(key, lease);
                evictBeyondKeep();
            }
            lease.users++;
            return lease;
        }
    }

    static void release(Lease lease) {
        synchronized (LEASES) {
            lease.users--;
            if (lease.evicted && lease.users == 0) lease.predictor.close();
        }
    }

    private static void evictBeyondKeep() {
        Iterator<Map.Entry<String, Lease>> it = LEASES.entrySet().iterator();
        while (LEASES.size() > KEEP && it.hasNext()) {
            Lease eldest = it.next().getValue();
            it.remove();
            eldest.evicted = true;
            if (eldest.users == 0) eldest.predictor.close();
        }
    }

    /** Predictors held now (for tests). */
    static int held() {
        synchronized (LEASES) {
            return LEASES.size();
        }
    }
}
