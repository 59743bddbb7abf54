package io.vectorprop.network;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.SequencedMap;
import java.lang.foreign.Arena;
import java.util.Random;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.ModelDescription;
import io.vectorprop.model.ModelFiles;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.model.LayerNorm;
import io.vectorprop.model.Standardization;

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
 * A hidden layer with a {@link LayerNorm layer normalization} ({@code layers.l.norm.weight} γ and
 * {@code layers.l.norm.bias} β after its bias) computes {@code Aˡ = f(LN(Zˡ))} or {@code LN(f(Zˡ))};
 * BP2 then goes back through both in reverse order ({@link Kernels#layerNormBackward}), and γ, β get
 * their gradients there. Weight decay applies to the weights only, not to biases, γ or β.
 * Not thread-safe: train from one thread. For serving, build a {@link Predictor}.
 */
public final class Network implements AutoCloseable {
    private static final int TENSOR_ALIGN_FLOATS = 16;

    private final Architecture arch;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final Matrix parameters, gradients, decayMask;
    private final DenseLayer[] layers;
    private final long[] weightOffsets, biasOffsets, normOffsets;
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
        normOffsets = new long[count];
        long total = 0;
        for (int l = 0; l < count; l++) {
            weightOffsets[l] = total;
            total = align(total + (long) arch.size(l + 1) * arch.size(l));
            biasOffsets[l] = total;
            total = align(total + arch.size(l + 1));
            normOffsets[l] = -1;
            if (arch.layerNorm(l) != LayerNorm.NONE) {            // γ, then β, each aligned
                normOffsets[l] = total;
                total = align(align(total + arch.size(l + 1)) + arch.size(l + 1));
            }
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
            int out = arch.size(l + 1);
            boolean norm = normOffsets[l] >= 0;
            long shift = norm ? align(normOffsets[l] + out) : -1;
            layers[l] = new DenseLayer(view(parameters, weightOffsets[l], out, arch.size(l)),
                    view(parameters, biasOffsets[l], 1, out),
                    view(gradients, weightOffsets[l], out, arch.size(l)),
                    view(gradients, biasOffsets[l], 1, out),
                    arch.activation(l), arch.layerNorm(l),
                    norm ? view(parameters, normOffsets[l], 1, out) : null, norm ? view(parameters, shift, 1, out) : null,
                    norm ? view(gradients, normOffsets[l], 1, out) : null, norm ? view(gradients, shift, 1, out) : null);
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

    /** A network with the architecture, parameters and standardization of {@code model} (copied in). */
    public static Network create(ModelDescription model, Kernels kernels) {
        Network net = new Network(model.architecture(), kernels);
        try {
            var views = net.namedParameters();
            for (var e : model.parameters().entrySet()) views.get(e.getKey()).copyFrom(e.getValue());
            net.setStandardization(model.standardization());
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    /**
     * Reads a model file ({@link ModelFiles#read}: ONNX or safetensors) into a new network. {@code given}
     * may be null when the file names its architecture; otherwise it must agree with the file.
     */
    public static Network load(Path file, Architecture given, Kernels kernels) throws IOException {
        return create(ModelFiles.read(file, given), kernels);
    }

    /** This network's architecture, parameters (copied out) and standardization: what a model file holds. */
    public ModelDescription description() {
        SequencedMap<String, float[]> values = new LinkedHashMap<>();
        for (var e : namedParameters().entrySet()) values.put(e.getKey(), e.getValue().toArray());
        return new ModelDescription(arch, values, standardization);
    }

    /** Writes this model to a safetensors file, atomically ({@link SafeTensors#save}). */
    public void save(Path file) throws IOException {
        SafeTensors.save(description(), file);
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
            if (layer.normScale != null) {                      // PyTorch's nn.LayerNorm starts as the identity
                layer.normScale.fill(1f);
                layer.normShift.fill(0f);
            }
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
        for (DenseLayer l : layers) n += (long) l.in() * l.out() + l.out() + (l.normScale == null ? 0 : 2L * l.out());
        return n;
    }

    /**
     * Every parameter tensor by name, in the order of the parameter block: {@code layers.l.weight}
     * (out × in), {@code layers.l.bias} (1 × out) and, for a layer with a layer norm,
     * {@code layers.l.norm.weight} (γ) and {@code layers.l.norm.bias} (β), 1 × out each (PyTorch's names
     * inside an nn.Sequential-like container). The values are views into the parameter block.
     */
    public SequencedMap<String, Matrix> namedParameters() {
        SequencedMap<String, Matrix> m = new LinkedHashMap<>();
        var names = arch.parameterShapes().sequencedKeySet().iterator();   // the same order: weight, bias, γ, β
        for (DenseLayer layer : layers) {
            m.put(names.next(), layer.weight);
            m.put(names.next(), layer.bias);
            if (layer.normScale != null) {
                m.put(names.next(), layer.normScale);
                m.put(names.next(), layer.normShift);
            }
        }
        return m;
    }

    /** Weight of dense layer {@code l}, out × in (a view into the parameter block). */
    public Matrix weight(int l) { return layer(l).weight; }

    /** Bias of dense layer {@code l}, 1 × out. */
    public Matrix bias(int l) { return layer(l).bias; }

    public Matrix weightGradient(int l) { return layer(l).weightGrad; }

    public Matrix biasGradient(int l) { return layer(l).biasGrad; }

    /** γ of dense layer {@code l}'s layer norm, 1 × out; the layer must have one. */
    public Matrix layerNormScale(int l) { return normed(l).normScale; }

    /** β of dense layer {@code l}'s layer norm, 1 × out. */
    public Matrix layerNormShift(int l) { return normed(l).normShift; }

    public Matrix layerNormScaleGradient(int l) { return normed(l).normScaleGrad; }

    public Matrix layerNormShiftGradient(int l) { return normed(l).normShiftGrad; }

    private DenseLayer normed(int l) {
        DenseLayer layer = layer(l);
        if (layer.normScale == null) {
            throw new IllegalArgumentException("layer " + l + " has no layer norm (architecture " + arch + ")");
        }
        return layer;
    }

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
            DenseLayer layer = layers[l];
            switch (layer.norm) {
                case NONE -> layer.forward(kernels, ws.a(l), ws.z(l + 1), ws.a(l + 1));
                case BEFORE_ACTIVATION -> {                     // A = f(LN(Z)), LN(Z) kept in u
                    layer.linear(kernels, ws.a(l), ws.z(l + 1));
                    kernels.layerNorm(ws.z(l + 1), layer.normScale, layer.normShift, arch.layerNormEpsilon(), ws.u(l + 1),
                            ws.normStats(l + 1));
                    kernels.activate(layer.activation, ws.u(l + 1), ws.a(l + 1));
                }
                case AFTER_ACTIVATION -> {                      // A = LN(f(Z)), f(Z) kept in u
                    layer.forward(kernels, ws.a(l), ws.z(l + 1), ws.u(l + 1));
                    kernels.layerNorm(ws.u(l + 1), layer.normScale, layer.normShift, arch.layerNormEpsilon(), ws.a(l + 1),
                            ws.normStats(l + 1));
                }
            }
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
            if (sgd == null) {
                layers[l].backward(kernels, ws.a(l), ws.delta(l + 1), deltaPrev);   // BP3, BP4, Δ·W
            } else {
                layers[l].backwardSgd(kernels, ws.a(l), ws.delta(l + 1), deltaPrev,   // Δ·W, BP4, BP3
                        sgd.learningRate(), sgd.config().weightDecay());
            }
            if (deltaPrev == null) continue;
            // Dropout: A_prev = (…) ⊙ M, so ∂C/∂(…) = (Δ·W) ⊙ M.
            if (ws.dropout()) kernels.hadamard(deltaPrev, ws.dropoutMask(l), deltaPrev);
            hiddenBackward(ws, l - 1, deltaPrev, sgd);                                // BP2, ⊙ f'(Z) through the norm
        }
    }

    /**
     * The rest of BP2 for hidden dense layer {@code l}: {@code g} holds ∂C/∂Aˡ and receives Δˡ = ∂C/∂Zˡ,
     * through f' and, if the layer has one, the layer norm in reverse order; the layer norm's γ and β
     * get their gradients (batch means), or, in a fused SGD step, their update.
     */
    private void hiddenBackward(Workspace ws, int l, Matrix g, Optimizer sgd) {
        DenseLayer layer = layers[l];
        Activation f = derivativeOverride != null && derivativeOverride[l] != null ? derivativeOverride[l] : layer.activation;
        Matrix z = ws.z(l + 1);
        float invBatch = 1f / g.rows();
        switch (layer.norm) {
            case NONE -> kernels.activationBackward(f, z, g, g);
            case BEFORE_ACTIVATION -> {
                kernels.activationBackward(f, ws.u(l + 1), g, g);
                kernels.layerNormBackward(z, ws.normStats(l + 1), layer.normScale, g, g, invBatch, layer.normScaleGrad,
                        layer.normShiftGrad);
            }
            case AFTER_ACTIVATION -> {
                kernels.layerNormBackward(ws.u(l + 1), ws.normStats(l + 1), layer.normScale, g, g, invBatch,
                        layer.normScaleGrad, layer.normShiftGrad);
                kernels.activationBackward(f, z, g, g);
            }
        }
        if (sgd != null && layer.normScale != null) {          // γ, β ← γ, β − η·∇ (no decay), after their last use above
            kernels.axpy(-sgd.learningRate(), layer.normScaleGrad, layer.normScale);
            kernels.axpy(-sgd.learningRate(), layer.normShiftGrad, layer.normShift);
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
