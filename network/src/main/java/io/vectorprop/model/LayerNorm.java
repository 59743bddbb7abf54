package io.vectorprop.model;

import java.util.Locale;

/**
 * Whether a hidden layer has a layer normalization ({@link io.vectorprop.kernel.Kernels#layerNorm}, with
 * a trained scale γ and shift β per unit) and where it sits relative to the layer's activation f:
 * <pre>
 *   NONE:               A = f(Z)
 *   BEFORE_ACTIVATION:  A = f(LN(Z))      PyTorch: Linear → LayerNorm → GELU
 *   AFTER_ACTIVATION:   A = LN(f(Z))      PyTorch: Linear → GELU → LayerNorm
 * </pre>
 * with {@code Z = A_prev·Wᵀ + 1·bᵀ}. The output layer has none.
 *
 * <p>An enum: immutable, safe from any thread.
 */
public enum LayerNorm {
    NONE, BEFORE_ACTIVATION, AFTER_ACTIVATION;

    /** The name used on the command line and in model files: {@code none}, {@code before}, {@code after}. */
    public String id() {
        return switch (this) {
            case NONE -> "none";
            case BEFORE_ACTIVATION -> "before";
            case AFTER_ACTIVATION -> "after";
        };
    }

    /** Parses {@link #id()}. */
    public static LayerNorm parse(String name) {
        String key = name.trim().toLowerCase(Locale.ROOT);
        for (LayerNorm n : values()) if (n.id().equals(key)) return n;
        throw new IllegalArgumentException("unknown layer norm placement '" + name + "' (expected none, before or after:"
                + " before or after the hidden layer's activation)");
    }
}
