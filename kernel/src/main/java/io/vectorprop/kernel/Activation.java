package io.vectorprop.kernel;

/**
 * Activation functions {@code a = f(z)}. All but {@link #SOFTMAX} act element by element and have a
 * fused backward kernel {@code δ = g ⊙ f'(z)}. SOFTMAX acts on whole rows; its derivative is only
 * used fused with cross-entropy (BP1 becomes {@code Δ = A − Y}).
 */
public enum Activation {
    IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX;

    /** Slope of {@link #LEAKY_RELU} for negative inputs. */
    public static final float LEAKY_SLOPE = 0.01f;

    /** True for the activations that act element by element. */
    public boolean isElementwise() { return this != SOFTMAX; }

    /** Parses a command-line or file name such as {@code relu}, {@code leaky-relu}, {@code leaky_relu}. */
    public static Activation parse(String name) {
        String key = name.trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_');
        if (key.equals("LEAKYRELU")) key = "LEAKY_RELU";
        if (key.equals("LINEAR")) key = "IDENTITY";
        try {
            return valueOf(key);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown activation '" + name
                    + "' (expected identity, sigmoid, tanh, relu, leaky-relu or softmax)");
        }
    }

    /** The lower-case name used in files and on the command line. */
    public String id() { return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'); }
}
