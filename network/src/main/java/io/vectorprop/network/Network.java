package io.vectorprop.network;

import java.lang.foreign.Arena;
import java.util.Random;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;

/**
 * A dense network and its backpropagation. All parameters live in one contiguous off-heap block
 * ({@code layers.0.weight, layers.0.bias, layers.1.weight, …}, each tensor starting on a 64-byte
 * boundary), the gradients in a twin block of the same layout, so an optimizer update and a model
 * save are each a single pass. Mini-batch algorithm, with {@code B} rows per batch:
 * <pre>
 *   forward:  Zˡ = Aˡ⁻¹·Wˡᵀ + 1·bˡᵀ,  Aˡ = f(Zˡ)
 *   BP1:      Δᴸ = ∇ₐC ⊙ f'(Zᴸ)              (A − Y for softmax + cross-entropy)
 *   BP2:      Δˡ = (Δˡ⁺¹·Wˡ⁺¹) ⊙ f'(Zˡ)
 *   BP3:      ∇bˡ = Σ_rows Δˡ / B
 *   BP4:      ∇Wˡ = Δˡᵀ·Aˡ⁻¹ / B
 * </pre>
 * Not thread-safe: train from one thread. For serving, build a {@link Predictor}.
 */
public final class Network implements AutoCloseable {
    private static final int TENSOR_ALIGN_FLOATS = 16;

    private final Architecture arch;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final Matrix parameters, gradients, decayMask;
    private final DenseLayer[] layers;
    private final long[] weightOffsets, biasOffsets;
    private Standardization standardization;
    /**
     * Test seam: the derivative BP2 uses for layer {@code l} when not null, instead of the layer's own
     * activation. A test breaks backpropagation with it and shows the gradient check catching it.
     */
    Activation[] derivativeOverride;
    /** The standardization's rows, allocated the first time one is set (setting another reuses them). */
    private StandardizationRows standardizationRows;

    private Network(Architecture arch, Kernels kernels) {
        this.arch = arch;
        this.kernels = kernels;
        int count = arch.layers();
        weightOffsets = new long[count];
        biasOffsets = new long[count];
        long total = 0;
        for (int l = 0; l < count; l++) {
            weightOffsets[l] = total;
            total = align(total + (long) arch.size(l + 1) * arch.size(l));
            biasOffsets[l] = total;
            total = align(total + arch.size(l + 1));
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("network " + arch + " has " + total + " parameters; at most "
                    + Integer.MAX_VALUE + " are supported");
        }
        parameters = Matrix.allocate(arena, 1, (int) total);
        gradients = Matrix.allocate(arena, 1, (int) total);
        decayMask = Matrix.allocate(arena, 1, (int) total);
        layers = new DenseLayer[count];
        for (int l = 0; l < count; l++) {
            layers[l] = new DenseLayer(view(parameters, weightOffsets[l], arch.size(l + 1), arch.size(l)),
                    view(parameters, biasOffsets[l], 1, arch.size(l + 1)),
                    view(gradients, weightOffsets[l], arch.size(l + 1), arch.size(l)),
                    view(gradients, biasOffsets[l], 1, arch.size(l + 1)),
                    arch.activation(l));
            view(decayMask, weightOffsets[l], arch.size(l + 1), arch.size(l)).fill(1f);   // decay weights, not biases
        }
    }

    private static long align(long floats) {
        return (floats + TENSOR_ALIGN_FLOATS - 1) / TENSOR_ALIGN_FLOATS * TENSOR_ALIGN_FLOATS;
    }

    private static Matrix view(Matrix block, long offset, int rows, int cols) {
        return Matrix.wrap(block.segment(), block.offset() + offset, rows, cols, cols);
    }

    /** A network with zeroed parameters (fill them with {@link #initialize} or a model file). */
    public static Network create(Architecture arch, Kernels kernels) {
        return new Network(arch, kernels);
    }

    /** A network initialised by {@code init} from {@code seed}, using the kernels picked at start-up. */
    public static Network create(Architecture arch, Init init, long seed) {
        Network n = new Network(arch, Kernels.get());
        n.initialize(init, seed);
        return n;
    }

    /** Draws all parameters from {@code init} with a {@link Random} seeded by {@code seed}, layer by layer. */
    public void initialize(Init init, long seed) {
        Random rnd = new Random(seed);
        for (DenseLayer layer : layers) {
            int in = layer.in(), out = layer.out();
            float[] w = new float[in * out];
            float[] b = new float[out];
            double xavier = Math.sqrt(6.0 / (in + out)), he = Math.sqrt(2.0 / in);
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) switch (init) {
                    case XAVIER -> (rnd.nextDouble() * 2 - 1) * xavier;
                    case HE -> rnd.nextGaussian() * he;
                    case NORMAL -> rnd.nextGaussian();
                };
            }
            if (init == Init.NORMAL) {
                for (int i = 0; i < out; i++) b[i] = (float) rnd.nextGaussian();
            }
            layer.weight.copyFrom(w);
            layer.bias.copyFrom(b);
        }
    }

    public Architecture architecture() { return arch; }

    public Kernels kernels() { return kernels; }

    /** The same network computing with other kernels (for instance more threads); shares nothing mutable. */
    public Network withKernels(Kernels k) {
        Network copy = new Network(arch, k);
        copy.parameters.copyFrom(parameters);
        copy.setStandardization(standardization);
        return copy;
    }

    /** All parameters as one 1 × P row (weights and biases of every layer, with alignment padding). */
    public Matrix parameters() { return parameters; }

    /** The gradients of the last {@link #backward}, same layout as {@link #parameters()}. */
    public Matrix gradients() { return gradients; }

    /** 1 where weight decay applies (weights), 0 elsewhere (biases, padding). */
    public Matrix decayMask() { return decayMask; }

    /** Number of real parameters (no padding). */
    public long parameterCount() {
        long n = 0;
        for (DenseLayer l : layers) n += (long) l.in() * l.out() + l.out();
        return n;
    }

    /** Weight of dense layer {@code l}, out × in (a view into the parameter block). */
    public Matrix weight(int l) { return layer(l).weight; }

    /** Bias of dense layer {@code l}, 1 × out. */
    public Matrix bias(int l) { return layer(l).bias; }

    public Matrix weightGradient(int l) { return layer(l).weightGrad; }

    public Matrix biasGradient(int l) { return layer(l).biasGrad; }

    private DenseLayer layer(int l) {
        if (l < 0 || l >= layers.length) {
            throw new IllegalArgumentException("layer " + l + " does not exist; the network has " + layers.length + " dense layers");
        }
        return layers[l];
    }

    /** A workspace sized for batches of up to {@code capacity} samples. */
    public Workspace newWorkspace(int capacity) {
        return new Workspace(arch, capacity);
    }

    /**
     * Forward pass over the rows in use of {@code ws.x}; the output is {@code ws.output()}. With
     * {@link Workspace#setDropout dropout on}, each hidden activation is multiplied by its mask.
     */
    public void forward(Workspace ws) {
        for (int l = 0; l < layers.length; l++) {
            layers[l].forward(kernels, ws.a(l), ws.z(l + 1), ws.a(l + 1));
            if (ws.dropout() && l + 1 < layers.length) {
                kernels.hadamard(ws.a(l + 1), ws.dropoutMask(l + 1), ws.a(l + 1));   // inverted dropout
            }
        }
    }

    /**
     * The input standardization that is part of this model, or null. {@link Trainer} applies it to
     * every batch it loads, {@link Predictor} to every input, and model files store it.
     */
    public Standardization standardization() { return standardization; }

    /** Makes {@code s} (null: none) part of this model; its feature count must be the input size. */
    public void setStandardization(Standardization s) {
        if (s != null && s.features() != arch.inputs()) {
            throw new IllegalArgumentException("standardization of " + s.features() + " features for a network with "
                    + arch.inputs() + " inputs");
        }
        standardization = s;
        if (s == null) return;
        if (standardizationRows == null) standardizationRows = new StandardizationRows(arena, arch.inputs());
        standardizationRows.set(s);
    }

    /** {@code x = (x − μ) ⊙ (1/σ)} in place when the model has a standardization; else nothing. */
    public void standardize(Matrix x) {
        if (standardization != null) standardizationRows.apply(kernels, x);
    }

    /** The loss of the last forward pass against {@code ws.y}, averaged over the batch. */
    public double loss(Workspace ws) {
        return kernels.loss(arch.loss(), ws.output(), ws.y());
    }

    /** Backward pass (BP1–BP4) after {@link #forward}: fills {@link #gradients()} for the batch's mean loss. */
    public void backward(Workspace ws) {
        backpropagate(ws, null);
    }

    /**
     * Backward pass and one optimizer step, as {@link #backward} then {@link Optimizer#step()} would do.
     * For plain SGD the step is fused into BP3 and BP4 (each layer's GEMM writes {@code W − η·∇W}
     * straight into the weights), which saves two passes over the parameter block; {@link #gradients()}
     * is then not filled. Other optimizers take the two-pass route.
     */
    public void backwardAndStep(Workspace ws, Optimizer optimizer) {
        if (optimizer.network() != this) {
            throw new IllegalArgumentException("backwardAndStep: the optimizer was built for another network");
        }
        if (!optimizer.fusesIntoBackward()) {
            backward(ws);
            optimizer.step();
            return;
        }
        optimizer.countStep();
        backpropagate(ws, optimizer);
    }

    /** BP1, then BP2–BP4 layer by layer from the top: into the gradient block, or as a fused SGD step. */
    private void backpropagate(Workspace ws, Optimizer sgd) {
        int last = layers.length;
        kernels.outputDelta(arch.loss(), arch.output(), ws.z(last), ws.a(last), ws.y(), ws.delta(last));   // BP1
        for (int l = last - 1; l >= 0; l--) {
            Matrix deltaPrev = l > 0 ? ws.delta(l) : null;
            Activation fPrev = l == 0 ? null
                    : derivativeOverride != null && derivativeOverride[l - 1] != null ? derivativeOverride[l - 1]
                    : layers[l - 1].activation;
            if (sgd == null) {
                layers[l].backward(kernels, ws.a(l), ws.delta(l + 1), ws.z(l), fPrev, deltaPrev);   // BP3, BP4, BP2
            } else {
                layers[l].backwardSgd(kernels, ws.a(l), ws.delta(l + 1), ws.z(l), fPrev, deltaPrev,   // BP2, BP4, BP3
                        sgd.learningRate(), sgd.config().weightDecay());
            }
            // Dropout: A_prev = f(Z_prev) ⊙ M, so ∂C/∂Z_prev = (Δ·W) ⊙ f'(Z_prev) ⊙ M.
            if (deltaPrev != null && ws.dropout()) kernels.hadamard(deltaPrev, ws.dropoutMask(l), deltaPrev);
        }
    }

    /** Copies all parameters (and the standardization) from a network of the same architecture. */
    public void copyParametersFrom(Network other) {
        if (!other.arch.equals(arch)) {
            throw new IllegalArgumentException("copyParametersFrom: architecture " + other.arch + " differs from " + arch);
        }
        parameters.copyFrom(other.parameters);
        setStandardization(other.standardization);
    }

    /** Frees the parameters; closing again does nothing. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
