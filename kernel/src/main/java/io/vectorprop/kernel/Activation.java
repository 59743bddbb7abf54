package io.vectorprop.kernel;

/**
 * Activation functions {@code a = f(z)}. All but {@link #SOFTMAX} act element by element and have a
 * fused backward kernel {@code δ = g ⊙ f'(z)}. SOFTMAX acts on whole rows; its derivative is only
 * used fused with cross-entropy (BP1 becomes {@code Δ = A − Y}).
 *
 * <p>{@link #GELU}, {@link #GELU_TANH} and {@link #SILU} are PyTorch's {@code nn.GELU()},
 * {@code nn.GELU(approximate='tanh')} and {@code nn.SiLU()}.
 *
 * <p>An enum: immutable, safe from any thread.
 */
public enum Activation {
    IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX,
    /** {@code z·Φ(z) = ½·z·(1 + erf(z/√2))}, Φ the standard normal distribution function. */
    GELU,
    /** GELU's tanh approximation {@code ½·z·(1 + tanh(√(2/π)·(z + 0.044715·z³)))}. */
    GELU_TANH,
    /** SiLU (swish) {@code z·σ(z)}. */
    SILU;

    /** Slope of {@link #LEAKY_RELU} for negative inputs. */
    public static final float LEAKY_SLOPE = 0.01f;

    /** True for the activations that act element by element. */
    public boolean isElementwise() { return this != SOFTMAX; }

    /** Parses a command-line or file name such as {@code relu}, {@code leaky-relu}, {@code leaky_relu}. */
    public static Activation parse(String name) {
        String key = name.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        if (key.equals("LEAKYRELU")) key = "LEAKY_RELU";
        if (key.equals("LINEAR")) key = "IDENTITY";
        if (key.equals("SWISH")) key = "SILU";
        try {
            return valueOf(key);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown activation '" + name
                    + "' (expected identity, sigmoid, tanh, relu, leaky-relu, gelu, gelu-tanh, silu or softmax)");
        }
    }

    /** The lower-case name used in files and on the command line. */
    public String id() { return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'); }
}
