package io.vectorprop.model;

import java.util.Arrays;
import java.util.StringJoiner;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;

/**
 * The shape of a dense network: layer sizes {@code n₀, n₁, …, n_L} (inputs first), the activation of
 * each dense layer, the {@link LayerNorm layer normalization} of each hidden layer, and the loss.
 * Most networks have one hidden activation: {@link #Architecture(int[], Activation, Activation, Loss)}
 * and {@link #of} make those; {@link #withHiddenActivations} and {@link #withLayerNorms} give layers their own.
 *
 * @param sizes            n₀ … n_L, at least two entries, each ≥ 1
 * @param activations      the activation of dense layers 0 … L−1 (layer 0 maps n₀ → n₁); hidden ones
 *                         element-wise, the last SOFTMAX exactly when the loss is softmax cross-entropy
 * @param layerNorms       per dense layer; the last (the output layer) must be {@link LayerNorm#NONE}
 * @param layerNormEpsilon ε of every layer normalization, finite and > 0 (PyTorch's default 1e-5)
 * @param loss             the loss the network is trained on
 *
 * <p>Immutable (accessors return copies): safe to share between threads.
 */
public record Architecture(int[] sizes, Activation[] activations, LayerNorm[] layerNorms, float layerNormEpsilon, Loss loss) {
    /** PyTorch's default ε of {@code nn.LayerNorm}. */
    public static final float DEFAULT_LAYER_NORM_EPSILON = 1e-5f;

    public Architecture {
        sizes = sizes.clone();
        activations = activations.clone();
        layerNorms = layerNorms.clone();
        if (sizes.length < 2) {
            throw new IllegalArgumentException("layers " + Arrays.toString(sizes) + ": need at least an input and an output size");
        }
        for (int s : sizes) {
            if (s < 1) throw new IllegalArgumentException("layers " + Arrays.toString(sizes) + ": every size must be at least 1");
        }
        int layers = sizes.length - 1;
        if (activations.length != layers || layerNorms.length != layers) {
            throw new IllegalArgumentException("layers " + sizesText(sizes) + ": " + activations.length + " activations and "
                    + layerNorms.length + " layer norm placements for " + layers + " dense layers");
        }
        for (int l = 0; l < layers; l++) {
            if (activations[l] == null || layerNorms[l] == null) {
                throw new IllegalArgumentException("layer " + l + ": no activation or layer norm placement given");
            }
            if (l < layers - 1 && !activations[l].isElementwise()) {
                throw new IllegalArgumentException("hidden activation " + activations[l].id() + " (layer " + (l + 1)
                        + ") is not element-wise");
            }
        }
        if (layerNorms[layers - 1] != LayerNorm.NONE) {
            throw new IllegalArgumentException("the output layer cannot have a layer norm; put it after a hidden layer");
        }
        if (!(layerNormEpsilon > 0) || !Float.isFinite(layerNormEpsilon)) {
            throw new IllegalArgumentException("layer norm epsilon " + layerNormEpsilon + " must be finite and > 0");
        }
        Activation output = activations[layers - 1];
        if ((loss == Loss.SOFTMAX_CROSS_ENTROPY) != (output == Activation.SOFTMAX)) {
            throw new IllegalArgumentException("output activation " + output.id() + " with loss " + loss.id()
                    + ": softmax cross-entropy goes with a softmax output, and only with it");
        }
    }

    /** One activation for every hidden layer, {@code output} for the last, no layer norms. */
    public Architecture(int[] sizes, Activation hidden, Activation output, Loss loss) {
        this(sizes, uniform(sizes.length - 1, hidden, output), none(sizes.length - 1), DEFAULT_LAYER_NORM_EPSILON, loss);
    }

    private static Activation[] uniform(int layers, Activation hidden, Activation output) {
        Activation[] a = new Activation[Math.max(layers, 0)];
        Arrays.fill(a, hidden);
        if (layers > 0) a[layers - 1] = output;
        return a;
    }

    private static LayerNorm[] none(int layers) {
        LayerNorm[] n = new LayerNorm[Math.max(layers, 0)];
        Arrays.fill(n, LayerNorm.NONE);
        return n;
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

    /** This architecture with hidden layer {@code i} (1 … L−1, the layer after dense layer i−1) activated by {@code hidden[i − 1]}. */
    public Architecture withHiddenActivations(Activation... hidden) {
        if (hidden.length != layers() - 1) {
            throw new IllegalArgumentException("hidden activations " + Arrays.toString(hidden) + ": the network " + sizesText()
                    + " has " + (layers() - 1) + " hidden layers");
        }
        Activation[] a = activations.clone();
        System.arraycopy(hidden, 0, a, 0, hidden.length);
        return new Architecture(sizes, a, layerNorms, layerNormEpsilon, loss);
    }

    /** This architecture with hidden layer {@code i} (1 … L−1) normalized as {@code norms[i − 1]}, with ε {@code epsilon}. */
    public Architecture withLayerNorms(float epsilon, LayerNorm... norms) {
        if (norms.length != layers() - 1) {
            throw new IllegalArgumentException("layer norms " + Arrays.toString(norms) + ": the network " + sizesText()
                    + " has " + (layers() - 1) + " hidden layers");
        }
        LayerNorm[] n = Arrays.copyOf(norms, layers());
        n[layers() - 1] = LayerNorm.NONE;
        return new Architecture(sizes, activations, n, epsilon, loss);
    }

    /**
     * The architecture the command line describes: {@code layers} as {@code 784,256,128,10};
     * {@code activation} one name for every hidden layer or one per hidden layer ({@code gelu,silu});
     * {@code layerNorm} {@code none}, {@code before} or {@code after} (the activation) for every hidden
     * layer, or one per hidden layer ({@code after,none}); the output's activation follows the loss
     * ({@link #of}).
     */
    public static Architecture parse(String layers, String activation, String layerNorm, float layerNormEpsilon, Loss loss) {
        int[] sizes = parseSizes(layers);
        String[] acts = activation.split(","), norms = layerNorm.split(",");
        int hidden = sizes.length - 2;
        if (acts.length != 1 && acts.length != hidden) {
            throw new IllegalArgumentException("--activation '" + activation + "': give one activation or one per hidden layer ("
                    + hidden + " for --layers " + layers + ")");
        }
        if (norms.length != 1 && norms.length != hidden) {
            throw new IllegalArgumentException("--layer-norm '" + layerNorm + "': give one placement or one per hidden layer ("
                    + hidden + " for --layers " + layers + ")");
        }
        Architecture a = of(sizes, Activation.parse(acts[0]), loss);
        if (hidden < 1) return a;
        Activation[] f = new Activation[hidden];
        LayerNorm[] n = new LayerNorm[hidden];
        for (int i = 0; i < hidden; i++) {
            f[i] = Activation.parse(acts[acts.length == 1 ? 0 : i]);
            n[i] = LayerNorm.parse(norms[norms.length == 1 ? 0 : i]);
        }
        return a.withHiddenActivations(f).withLayerNorms(layerNormEpsilon, n);
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
    public Activation activation(int l) { return activations[l]; }

    /** Layer normalization of dense layer {@code l}'s output (always NONE for the last). */
    public LayerNorm layerNorm(int l) { return layerNorms[l]; }

    /** The activation of the first hidden layer (the output's for a network without hidden layers). */
    public Activation hidden() { return activations[0]; }

    /** The activation of the output layer. */
    public Activation output() { return activations[layers() - 1]; }

    /** True when every hidden layer has the same activation and none has a layer norm: what {@link #Architecture(int[], Activation, Activation, Loss)} makes. */
    public boolean isPlain() {
        for (int l = 0; l < layers() - 1; l++) if (activations[l] != activations[0] || layerNorms[l] != LayerNorm.NONE) return false;
        return true;
    }

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

    /** The hidden layers' activations as {@code --activation} takes them: {@code gelu,silu}. */
    public String hiddenActivationsText() {
        StringJoiner j = new StringJoiner(",");
        for (int l = 0; l < layers() - 1; l++) j.add(activations[l].id());
        return j.toString();
    }

    /** The hidden layers' layer norm placements as {@code --layer-norm} takes them: {@code after,none}. */
    public String layerNormsText() {
        StringJoiner j = new StringJoiner(",");
        for (int l = 0; l < layers() - 1; l++) j.add(layerNorms[l].id());
        return j.toString();
    }

    @Override public int[] sizes() { return sizes.clone(); }

    @Override public Activation[] activations() { return activations.clone(); }

    @Override public LayerNorm[] layerNorms() { return layerNorms.clone(); }

    /** n_l without copying the array. */
    public int size(int l) { return sizes[l]; }

    /**
     * The model's parameters in their order, with PyTorch's names inside an {@code nn.Sequential}-like
     * container, each with its shape {@code {rows, cols}}: for every dense layer {@code l},
     * {@code layers.l.weight} (out × in) and {@code layers.l.bias} (1 × out), and when it has a layer norm
     * {@code layers.l.norm.weight} and {@code layers.l.norm.bias} (γ and β, 1 × out each). Model files
     * and {@code Network} both follow this list.
     */
    public java.util.SequencedMap<String, int[]> parameterShapes() {
        java.util.SequencedMap<String, int[]> m = new java.util.LinkedHashMap<>();
        for (int l = 0; l < layers(); l++) {
            m.put("layers." + l + ".weight", new int[] {sizes[l + 1], sizes[l]});
            m.put("layers." + l + ".bias", new int[] {1, sizes[l + 1]});
            if (layerNorms[l] != LayerNorm.NONE) {
                m.put("layers." + l + ".norm.weight", new int[] {1, sizes[l + 1]});
                m.put("layers." + l + ".norm.bias", new int[] {1, sizes[l + 1]});
            }
        }
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Architecture a && Arrays.equals(sizes, a.sizes) && Arrays.equals(activations, a.activations)
                && Arrays.equals(layerNorms, a.layerNorms) && layerNormEpsilon == a.layerNormEpsilon && loss == a.loss;
    }

    @Override
    public int hashCode() {
        return (Arrays.hashCode(sizes) * 31 + Arrays.hashCode(activations)) * 31 + Arrays.hashCode(layerNorms) * 7 + loss.hashCode();
    }

    @Override
    public String toString() {
        if (isPlain()) return sizesText() + " " + hidden().id() + " → " + output().id() + ", " + loss.id();
        StringJoiner hidden = new StringJoiner(", ");
        for (int l = 0; l < layers() - 1; l++) {
            hidden.add(switch (layerNorms[l]) {
                case NONE -> activations[l].id();
                case BEFORE_ACTIVATION -> "layer-norm+" + activations[l].id();
                case AFTER_ACTIVATION -> activations[l].id() + "+layer-norm";
            });
        }
        return sizesText() + " " + hidden + " → " + output().id() + ", " + loss.id()
                + (layerNormEpsilon == DEFAULT_LAYER_NORM_EPSILON ? "" : ", layer norm eps " + layerNormEpsilon);
    }
}
