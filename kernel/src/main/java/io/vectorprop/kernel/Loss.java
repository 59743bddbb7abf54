package io.vectorprop.kernel;

/**
 * Loss functions. Values are the mean over the batch of the per-sample loss:
 * <ul>
 *   <li>{@link #QUADRATIC}: {@code C = ½‖a − y‖²}, {@code ∇ₐC = a − y};</li>
 *   <li>{@link #BINARY_CROSS_ENTROPY}: {@code C = −Σ [y ln a + (1−y) ln(1−a)]} on outputs in (0, 1),
 *       {@code ∇ₐC = (a − y) / (a(1 − a))};</li>
 *   <li>{@link #SOFTMAX_CROSS_ENTROPY}: {@code C = −Σ y ln a} with {@code a = softmax(z)};
 *       the gradient with respect to {@code z} is {@code a − y}.</li>
 * </ul>
 * Logarithms clamp their argument to at least {@link #LOG_EPSILON} so a saturated output gives a large
 * finite loss, not infinity.
 *
 * <p>An enum: immutable, safe from any thread.
 */
public enum Loss {
    QUADRATIC, BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY;

    /** Smallest argument given to a logarithm. */
    public static final float LOG_EPSILON = 1e-7f;

    /** Parses {@code quadratic}/{@code mse}, {@code bce}/{@code binary-cross-entropy}, {@code cross-entropy}/{@code softmax-cross-entropy}. */
    public static Loss parse(String name) {
        return switch (name.trim().toLowerCase(java.util.Locale.ROOT).replace('_', '-')) {
            case "quadratic", "mse" -> QUADRATIC;
            case "bce", "binary-cross-entropy" -> BINARY_CROSS_ENTROPY;
            case "cross-entropy", "softmax-cross-entropy", "ce" -> SOFTMAX_CROSS_ENTROPY;
            default -> throw new IllegalArgumentException("unknown loss '" + name
                    + "' (expected quadratic, binary-cross-entropy or softmax-cross-entropy)");
        };
    }

    /** The lower-case name used in files and on the command line. */
    public String id() { return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'); }
}
