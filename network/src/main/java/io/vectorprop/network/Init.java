package io.vectorprop.network;

import java.util.Locale;
import io.vectorprop.model.Architecture;

/** Weight initialisers, all drawn from a seeded {@link java.util.Random}. An enum: immutable, safe from any thread. */
public enum Init {
    /** Glorot and Bengio: {@code W ~ U(±√(6/(in+out)))}, biases 0. */
    XAVIER,
    /** He et al.: {@code W ~ N(0, 2/in)}, biases 0. */
    HE,
    /** Nielsen's chapter 1: weights and biases {@code ~ N(0, 1)}. */
    NORMAL;

    /** He for (leaky) ReLU hidden layers, Xavier otherwise. */
    public static Init defaultFor(Architecture arch) {
        return switch (arch.hidden()) {
            case RELU, LEAKY_RELU -> HE;
            default -> XAVIER;
        };
    }

    public static Init parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "xavier", "glorot" -> XAVIER;
            case "he", "kaiming" -> HE;
            case "normal", "nielsen" -> NORMAL;
            default -> throw new IllegalArgumentException("unknown initialiser '" + name + "' (expected xavier, he or normal)");
        };
    }
}
