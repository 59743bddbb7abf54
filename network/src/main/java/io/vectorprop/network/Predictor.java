package io.vectorprop.network;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * Inference for services: immutable and thread-safe. It holds its own copy of the parameters; each
 * calling thread gets its own buffers on first use (a thread-local workspace), so after warm-up a
 * prediction allocates nothing on the heap. Close it to free the parameters; a closed predictor
 * refuses to work.
 */
public final class Predictor implements AutoCloseable {
    /** Rows computed together by {@link #predict(Matrix, Matrix)}; larger inputs go in chunks. */
    public static final int BATCH = 64;

    private final Architecture arch;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final Matrix[] weights, biases;
    /**
     * Wᵀ (in × out) of the layers with at least {@link #TRANSPOSED_MIN_OUT} outputs, else null. One sample
     * is then {@code z = Σ_k x_k·Wᵀ[k, :]}: every weight read once, in order, with no lane sums at the end
     * (measured 1.27× the dot-product form at 1×256×784); batches keep using W. It costs a second copy of
     * those weights.
     */
    private final Matrix[] transposed;
    static final int TRANSPOSED_MIN_OUT = 32;
    private final ThreadLocal<Buffers> buffers;

    /** Per-thread activations: one row for single predictions, {@link #BATCH} rows for batches. */
    private final class Buffers {
        final Arena own = Arena.ofAuto();
        final Matrix[] single = new Matrix[arch.layers() + 1];
        final Matrix[] batch = new Matrix[arch.layers() + 1];

        Buffers() {
            for (int l = 0; l <= arch.layers(); l++) {
                single[l] = Matrix.allocate(own, 1, arch.size(l));
                batch[l] = Matrix.allocate(own, BATCH, arch.size(l));
            }
        }
    }

    private Predictor(Network net) {
        this.arch = net.architecture();
        this.kernels = net.kernels().withThreads(1);
        weights = new Matrix[arch.layers()];
        biases = new Matrix[arch.layers()];
        for (int l = 0; l < arch.layers(); l++) {
            weights[l] = Matrix.allocate(arena, arch.size(l + 1), arch.size(l));
            weights[l].copyFrom(net.weight(l));
            biases[l] = Matrix.allocate(arena, 1, arch.size(l + 1));
            biases[l].copyFrom(net.bias(l));
        }
        transposed = new Matrix[arch.layers()];
        for (int l = 0; l < arch.layers(); l++) {
            int out = arch.size(l + 1), in = arch.size(l);
            if (out < TRANSPOSED_MIN_OUT) continue;
            float[] w = weights[l].toArray(), wt = new float[w.length];
            for (int j = 0; j < out; j++) {
                for (int k = 0; k < in; k++) wt[k * out + j] = w[j * in + k];
            }
            transposed[l] = Matrix.allocate(arena, in, out);
            transposed[l].copyFrom(wt);
        }
        buffers = ThreadLocal.withInitial(Buffers::new);
    }

    /** A predictor with a copy of {@code net}'s current parameters (later training does not affect it). */
    public static Predictor of(Network net) {
        return new Predictor(net);
    }

    /**
     * A predictor for the model in a safetensors file; {@code architecture} may be null when the file
     * carries it in its metadata (a PyTorch export needs it).
     */
    public static Predictor load(java.nio.file.Path model, Architecture architecture) throws java.io.IOException {
        try (Network net = io.vectorprop.model.SafeTensors.load(model, architecture, Kernels.get())) {
            return new Predictor(net);
        }
    }

    public Architecture architecture() { return arch; }

    /** One sample: {@code in} has n₀ features, {@code out} receives n_L outputs. */
    public void predict(float[] in, float[] out) {
        check(in.length, out.length);
        Buffers b = buffers.get();
        MemorySegment.copy(in, 0, b.single[0].segment(), ValueLayout.JAVA_FLOAT, 0, in.length);
        forward(b.single, true);
        MemorySegment.copy(b.single[arch.layers()].segment(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
    }

    /**
     * One sample from off-heap memory: n₀ floats at byte offset {@code inOffset} of {@code in}; n_L
     * floats are written at byte offset {@code outOffset} of {@code out}.
     */
    public void predict(MemorySegment in, long inOffset, MemorySegment out, long outOffset) {
        checkOpen();
        long inBytes = (long) arch.inputs() * Float.BYTES, outBytes = (long) arch.outputs() * Float.BYTES;
        if (inOffset < 0 || inOffset + inBytes > in.byteSize() || outOffset < 0 || outOffset + outBytes > out.byteSize()) {
            throw new IllegalArgumentException("predict: need " + inBytes + " input bytes at " + inOffset + " (segment has "
                    + in.byteSize() + ") and " + outBytes + " output bytes at " + outOffset + " (segment has " + out.byteSize() + ")");
        }
        Buffers b = buffers.get();
        MemorySegment.copy(in, inOffset, b.single[0].segment(), 0, inBytes);
        forward(b.single, true);
        MemorySegment.copy(b.single[arch.layers()].segment(), 0, out, outOffset, outBytes);
    }

    /** A batch: {@code in} is B × n₀ and {@code out} is B × n_L, any B; computed {@link #BATCH} rows at a time. */
    public void predict(Matrix in, Matrix out) {
        checkOpen();
        if (in.cols() != arch.inputs() || out.cols() != arch.outputs() || in.rows() != out.rows()) {
            throw new IllegalArgumentException("predict: input " + in.shape() + " and output " + out.shape()
                    + " must be B x " + arch.inputs() + " and B x " + arch.outputs());
        }
        Buffers b = buffers.get();
        for (int from = 0; from < in.rows(); from += BATCH) {
            int rows = Math.min(BATCH, in.rows() - from);
            Matrix[] acts = b.batch;
            if (rows < BATCH) {
                acts = new Matrix[b.batch.length];                // a partial last chunk: views, a few objects
                for (int l = 0; l < acts.length; l++) acts[l] = b.batch[l].rows(0, rows);
            }
            acts[0].copyFrom(rows == in.rows() ? in : in.rows(from, from + rows));
            forward(acts, false);
            (rows == out.rows() ? out : out.rows(from, from + rows)).copyFrom(acts[arch.layers()]);
        }
    }

    /**
     * Forward through all layers; the activation is applied in place over Z. A single sample goes
     * through the transposed copy of a layer where there is one ({@code x·Wᵀ} by rows), batches through W.
     */
    private void forward(Matrix[] acts, boolean single) {
        for (int l = 0; l < weights.length; l++) {
            if (single && transposed[l] != null) {
                kernels.gemm(Transpose.N, Transpose.N, 1f, acts[l], transposed[l], 0f, acts[l + 1]);
            } else {
                kernels.gemm(Transpose.N, Transpose.T, 1f, acts[l], weights[l], 0f, acts[l + 1]);
            }
            kernels.addBias(acts[l + 1], biases[l]);
            kernels.activate(arch.activation(l), acts[l + 1], acts[l + 1]);
        }
    }

    private void check(int in, int out) {
        checkOpen();
        if (in != arch.inputs() || out != arch.outputs()) {
            throw new IllegalArgumentException("predict: input of " + in + " and output of " + out + " floats; the network "
                    + arch.sizesText() + " needs " + arch.inputs() + " and " + arch.outputs());
        }
    }

    private void checkOpen() {
        if (!arena.scope().isAlive()) throw new IllegalStateException("predict: this predictor has been closed");
    }

    @Override
    public void close() {
        arena.close();
    }
}
