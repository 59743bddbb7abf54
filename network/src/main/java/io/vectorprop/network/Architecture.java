package io.vectorprop.network;

import java.util.Arrays;
import java.util.StringJoiner;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;

/**
 * The shape of a dense network: layer sizes {@code n₀, n₁, …, n_L} (inputs first), the activation of
 * the hidden layers, the activation of the output layer, and the loss.
 *
 * @param sizes  n₀ … n_L, at least two entries, each ≥ 1
 * @param hidden activation of layers 1 … L−1 (element-wise)
 * @param output activation of layer L: SOFTMAX exactly when the loss is softmax cross-entropy
 * @param loss   the loss the network is trained on
 */
public record Architecture(int[] sizes, Activation hidden, Activation output, Loss loss) {
    public Architecture {
        sizes = sizes.clone();
        if (sizes.length < 2) {
            throw new IllegalArgumentException("layers " + Arrays.toString(sizes) + ": need at least an input and an output size");
        }
        for (int s : sizes) {
            if (s < 1) throw new IllegalArgumentException("layers " + Arrays.toString(sizes) + ": every size must be at least 1");
        }
        if (!hidden.isElementwise()) {
            throw new IllegalArgumentException("hidden activation " + hidden.id() + " is not element-wise");
        }
        if ((loss == Loss.SOFTMAX_CROSS_ENTROPY) != (output == Activation.SOFTMAX)) {
            throw new IllegalArgumentException("output activation " + output.id() + " with loss " + loss.id()
                    + ": softmax cross-entropy goes with a softmax output, and only with it");
        }
    }

    /**
     * The usual output for a loss: softmax for softmax cross-entropy, sigmoid for binary
     * cross-entropy, and the hidden activation for the quadratic loss (Nielsen's networks).
     */
    public static Architecture of(int[] sizes, Activation hidden, Loss loss) {
        Activation output = switch (loss) {
            case SOFTMAX_CROSS_ENTROPY -> Activation.SOFTMAX;
            case BINARY_CROSS_ENTROPY -> Activation.SIGMOID;
            case QUADRATIC -> hidden;
        };
        return new Architecture(sizes, hidden, output, loss);
    }

    /** Parses {@code 784,256,128,10}. */
    public static int[] parseSizes(String text) {
        String[] parts = text.split(",");
        int[] sizes = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                sizes[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("layers '" + text + "': '" + parts[i].trim() + "' is not a whole number");
            }
        }
        return sizes;
    }

    /** Number of dense layers, L. */
    public int layers() { return sizes.length - 1; }

    public int inputs() { return sizes[0]; }

    public int outputs() { return sizes[sizes.length - 1]; }

    /** Activation of dense layer {@code l} (0-based: layer 0 maps n₀ → n₁). */
    public Activation activation(int l) { return l == layers() - 1 ? output : hidden; }

    /** {@code 784,256,128,10}. */
    public String sizesText() {
        return sizesText(sizes);
    }

    /** Layer sizes as {@code --layers} takes them: {@code 784,256,128,10}. */
    public static String sizesText(int... sizes) {
        StringJoiner j = new StringJoiner(",");
        for (int s : sizes) j.add(Integer.toString(s));
        return j.toString();
    }

    @Override public int[] sizes() { return sizes.clone(); }

    /** n_l without copying the array. */
    public int size(int l) { return sizes[l]; }

    @Override
    public boolean equals(Object o) {
        return o instanceof Architecture a && Arrays.equals(sizes, a.sizes) && hidden == a.hidden && output == a.output
                && loss == a.loss;
    }

    @Override public int hashCode() { return Arrays.hashCode(sizes) * 31 + hidden.hashCode() * 7 + loss.hashCode(); }

    @Override
    public String toString() {
        return sizesText() + " " + hidden.id() + " → " + output.id() + ", " + loss.id();
    }
}
