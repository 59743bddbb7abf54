package io.vectorprop.network;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Bf16Weights;
import io.vectorprop.kernel.KernelStatus;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.packed.PackedDense;
import io.vectorprop.kernel.packed.PackedWeights;
import io.vectorprop.kernel.internal.ScratchPool;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.LayerNorm;

/**
 * Inference for services: immutable and safe to call from any number of threads, platform or
 * virtual. It holds its own copy of the parameters. Scratch space (the activations of one call) comes
 * from a bounded lock-free pool, not from the calling thread: a call holds one buffer while it runs,
 * and at most the pool's capacity (twice the processors) wait between calls, so the buffers alive
 * never exceed the calls in flight plus that capacity (with virtual threads the calls in flight are at
 * most the carrier threads, since a prediction never blocks) and a thread per request costs nothing
 * extra. After warm-up a prediction allocates nothing on the heap.
 *
 * <p>Close it to free the parameters; a closed predictor refuses to work. Closing while calls are in
 * flight makes those calls fail: to replace the model of a running service, use
 * {@link SwappablePredictor}, which closes the old predictor after its last call.
 */
public final class Predictor implements AutoCloseable {
    /**
     * Rows computed together by {@link #predict(Matrix, Matrix)}; larger inputs go in chunks. Each chunk
     * reads every weight once, so larger chunks read them less often per row; 256 rows keep a chunk's
     * activations (256 × the sum of the layer sizes, 1.2 MB for 784-256-128-10) within reach of L2.
     */
    public static final int BATCH = 256;

    /** How the weights are stored for prediction. */
    public enum Precision {
        /** fp32, as trained. */
        FP32,
        /**
         * bfloat16 for the layers with at least {@link #TRANSPOSED_MIN_OUT} outputs (the wide ones, which
         * hold nearly all the weights), widened to fp32 in registers; activations and sums stay fp32.
         * Half the weight bytes are streamed per prediction. Each weight is rounded to 8 significant
         * bits, so outputs differ from fp32 by about 0.4 % of a layer's typical term; batches are
         * computed row by row through the same path, so a row gives the same result alone or in a batch.
         */
        BF16
    }

    private final Architecture arch;
    private final Kernels kernels;
    private final Precision precision;
    private final Arena arena = Arena.ofShared();
    /** The layers, in order. */
    private final Layer[] layers;

    /**
     * One layer's parameters: how a single sample multiplies by its weights, W packed once for batches
     * (FP32 only, which computes batches with the packed GEMM; null for BF16, whose batches go row by row
     * through the single-sample path), the bias, and γ, β when it has a layer norm (else null).
     */
    private record Layer(Single single, PackedWeights packed, Matrix bias, Matrix normScale, Matrix normShift) {}

    /** The form one sample's {@code z = x·Wᵀ} takes, by layer width and precision (see {@link #forwardOne}). */
    private sealed interface Single permits RowsOfW, RowsOfWt, Bf16Rows {}

    /** A narrow layer (fewer than {@link #TRANSPOSED_MIN_OUT} outputs): W (out × in) itself, dot products of x with its rows. */
    private record RowsOfW(Matrix w) implements Single {}

    /**
     * A wide fp32 layer: Wᵀ (in × out) cut into slivers of {@link #SLIVER} columns (the last narrower),
     * each its own in × width matrix. One sample is then {@code z = Σ_k x_k·Wᵀ[k, :]}, sliver by sliver:
     * every weight read once, with no lane sums at the end, which the dot-product form needs per output.
     * Why slivers: the row path keeps 4 vectors of accumulators, so over a whole Wᵀ of 256 columns each
     * pass over k read a quarter of every row; over a sliver it reads one contiguous run, which measured
     * 0.78× the time for one 784-256-128-10 prediction.
     */
    private record RowsOfWt(Matrix[] slivers) implements Single {}

    /** A wide layer at BF16: its bf16 weights, widened to fp32 in registers. */
    private record Bf16Rows(Bf16Weights w) implements Single {}

    static final int TRANSPOSED_MIN_OUT = 32;
    /** Columns of a {@link RowsOfWt} sliver: the row path's four 512-bit vectors of accumulators. */
    static final int SLIVER = 64;
    private final ScratchPool<Scratch> singles, batches;
    /** The model's input standardization, or null. */
    private final StandardizationRows standardization;

    /**
     * Activations of one call: one row for single predictions or {@link #BATCH} rows for batches, in an
     * arena of its own so that the pool can free it alone.
     */
    private static final class Scratch {
        final Arena own = Arena.ofShared();
        final Matrix[] acts;
        /** Views of the first r rows of {@link #acts}, at index r, made the first time a chunk of r rows comes. */
        private final Matrix[][] firstRows;
        /** {@link #columnSlivers}, by index into {@link #acts}. */
        private final Matrix[][] columnSlivers;
        /** Flipped every single-sample call: whether it walks a wide layer's slivers last to first (see {@link #forwardOne}). */
        boolean descending;

        Scratch(Architecture arch, int rows) {
            acts = new Matrix[arch.layers() + 1];
            for (int l = 0; l <= arch.layers(); l++) acts[l] = Matrix.allocate(own, rows, arch.size(l));
            firstRows = new Matrix[rows + 1][];
            columnSlivers = new Matrix[arch.layers() + 1][];
        }

        /**
         * Views of {@code acts[a]}'s columns in runs of {@link #SLIVER} (the last narrower), the outputs of
         * a {@link RowsOfWt} layer's slivers: made on first use, the same views after.
         */
        Matrix[] columnSlivers(int a) {
            Matrix[] views = columnSlivers[a];
            if (views == null) {
                Matrix m = acts[a];
                views = new Matrix[(m.cols() + SLIVER - 1) / SLIVER];
                for (int sl = 0; sl < views.length; sl++) {
                    views[sl] = m.view(0, sl * SLIVER, m.rows(), Math.min(SLIVER, m.cols() - sl * SLIVER));
                }
                columnSlivers[a] = views;
            }
            return views;
        }

        /** {@link #acts} cut to {@code rows} rows: the same views every time, so a batch of any size allocates nothing once seen. */
        Matrix[] rows(int rows) {
            if (rows == acts[0].rows()) return acts;
            Matrix[] views = firstRows[rows];
            if (views == null) {
                views = new Matrix[acts.length];
                for (int l = 0; l < acts.length; l++) views[l] = acts[l].rows(0, rows);
                firstRows[rows] = views;
            }
            return views;
        }

        void free() { own.close(); }
    }

    private Predictor(Network net, Precision precision) {
        this.arch = net.architecture();
        this.kernels = net.kernels().withThreads(1);
        this.precision = precision;
        layers = new Layer[arch.layers()];
        // All layers packed into one array (see PackedDense.pack(Kernels, List)), where a batch's products read them.
        List<PackedWeights> packedLayers = precision == Precision.FP32
                ? PackedDense.pack(kernels, IntStream.range(0, layers.length).mapToObj(net::weight).toList()) : null;
        for (int l = 0; l < layers.length; l++) {
            int out = arch.size(l + 1), in = arch.size(l);
            Matrix bias = Matrix.allocate(arena, 1, out).copyFrom(net.bias(l).toArray());
            boolean norm = arch.layerNorm(l) != LayerNorm.NONE;
            Matrix gamma = norm ? Matrix.allocate(arena, 1, out).copyFrom(net.layerNormScale(l).toArray()) : null;
            Matrix beta = norm ? Matrix.allocate(arena, 1, out).copyFrom(net.layerNormShift(l).toArray()) : null;
            boolean wide = out >= TRANSPOSED_MIN_OUT;
            Single single;
            if (wide && precision == Precision.BF16) {
                single = new Bf16Rows(Bf16Weights.of(arena, net.weight(l)));
            } else if (wide) {                               // single samples read Wᵀ, batches the packed copy
                Matrix w = net.weight(l);
                Matrix[] slivers = new Matrix[(out + SLIVER - 1) / SLIVER];
                for (int sl = 0; sl < slivers.length; sl++) {       // sliver sl of Wᵀ: rows sl·SLIVER… of W, transposed
                    int from = sl * SLIVER, width = Math.min(SLIVER, out - from);
                    slivers[sl] = Matrix.allocate(arena, in, width);
                    for (int k = 0; k < in; k++) {
                        for (int j = 0; j < width; j++) slivers[sl].set(k, j, w.get(from + j, k));
                    }
                }
                single = new RowsOfWt(slivers);
            } else {                                         // narrow layers' single samples read W itself
                Matrix w = Matrix.allocate(arena, out, in);
                w.copyFrom(net.weight(l));
                single = new RowsOfW(w);
            }
            layers[l] = new Layer(single, packedLayers == null ? null : packedLayers.get(l), bias, gamma, beta);
        }
        standardization = net.standardization() == null ? null
                : new StandardizationRows(arena, arch.inputs()).set(net.standardization());
        int capacity = Math.max(2, 2 * Runtime.getRuntime().availableProcessors());
        singles = new ScratchPool<>(capacity, () -> new Scratch(arch, 1), Scratch::free);
        batches = new ScratchPool<>(capacity, () -> new Scratch(arch, BATCH), Scratch::free);
    }

    /** A predictor with a copy of {@code net}'s current parameters (later training does not affect it). */
    public static Predictor of(Network net) {
        return new Predictor(net, Precision.FP32);
    }

    /** A predictor with a copy of {@code net}'s current parameters, stored at {@code precision}. */
    public static Predictor of(Network net, Precision precision) {
        return new Predictor(net, precision);
    }

    /**
     * A predictor for a model file whose architecture is in the file: a vectorprop safetensors file
     * (architecture in its metadata) or an ONNX file of a dense network ({@code .onnx}; see
     * {@link io.vectorprop.model.Onnx} for the operators read).
     */
    public static Predictor load(Path model) throws IOException {
        return load(model, Precision.FP32);
    }

    /** {@link #load(Path)} with the weights stored at {@code precision}. */
    public static Predictor load(Path model, Precision precision) throws IOException {
        try (Network net = Network.load(model, null, Kernels.get())) {
            return new Predictor(net, precision);
        }
    }

    /**
     * A predictor for a model file; {@code architecture} may be null when the file carries it (a
     * safetensors file exported from PyTorch has none and needs it).
     */
    public static Predictor load(Path model, Architecture architecture) throws IOException {
        try (Network net = Network.load(model, architecture, Kernels.get())) {
            return new Predictor(net, Precision.FP32);
        }
    }

    public Architecture architecture() { return arch; }

    public Precision precision() { return precision; }

    /** Which kernels compute and whether the JIT can make them fast (see {@link KernelStatus#isFullSpeed()}). */
    public KernelStatus kernelStatus() { return kernels.status(); }

    /** One sample: {@code in} has n₀ features, {@code out} receives n_L outputs. */
    public void predict(float[] in, float[] out) {
        check(in.length, out.length);
        Scratch s = singles.acquire();
        try {
            MemorySegment.copy(in, 0, s.acts[0].segment(), ValueLayout.JAVA_FLOAT, 0, in.length);
            forwardOne(s);
            MemorySegment.copy(s.acts[arch.layers()].segment(), ValueLayout.JAVA_FLOAT, 0, out, 0, out.length);
        } finally {
            singles.release(s);
        }
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
        Scratch s = singles.acquire();
        try {
            MemorySegment.copy(in, inOffset, s.acts[0].segment(), 0, inBytes);
            forwardOne(s);
            MemorySegment.copy(s.acts[arch.layers()].segment(), 0, out, outOffset, outBytes);
        } finally {
            singles.release(s);
        }
    }

    /**
     * A batch: {@code in} is B × n₀ and {@code out} is B × n_L, any B; computed {@link #BATCH} rows at a
     * time. A batch of one row is computed as {@link #predict(float[], float[])} computes a sample (the
     * batch path's micro-tiles are six rows tall, and one row would leave five of them empty), so its
     * result is that method's, bit for bit; larger batches agree with it to rounding (the same sums in
     * another order).
     */
    public void predict(Matrix in, Matrix out) {
        checkOpen();
        if (in.cols() != arch.inputs() || out.cols() != arch.outputs() || in.rows() != out.rows()) {
            throw new IllegalArgumentException("predict: input " + in.shape() + " and output " + out.shape()
                    + " must be B x " + arch.inputs() + " and B x " + arch.outputs());
        }
        if (precision == Precision.BF16 || in.rows() == 1) {
            predictRowByRow(in, out);
            return;
        }
        Scratch s = batches.acquire();
        try {
            for (int from = 0; from < in.rows(); from += BATCH) {
                int rows = Math.min(BATCH, in.rows() - from);
                Matrix[] acts = s.rows(rows);
                Matrix x = rows == in.rows() ? in : in.rows(from, from + rows);
                if (standardization != null) {                       // else the input is read in place
                    acts[0].copyFrom(x);
                    standardize(acts[0]);
                    x = acts[0];
                }
                forwardBatch(x, acts);
                (rows == out.rows() ? out : out.rows(from, from + rows)).copyFrom(acts[arch.layers()]);
            }
        } finally {
            batches.release(s);
        }
    }

    private void predictRowByRow(Matrix in, Matrix out) {
        Scratch s = singles.acquire();
        try {
            long inBytes = (long) arch.inputs() * Float.BYTES, outBytes = (long) arch.outputs() * Float.BYTES;
            for (int r = 0; r < in.rows(); r++) {                // rows copied by offset: no view objects per row
                MemorySegment.copy(in.segment(), (in.offset() + (long) r * in.stride()) * Float.BYTES,
                        s.acts[0].segment(), s.acts[0].offset() * Float.BYTES, inBytes);
                forwardOne(s);
                MemorySegment.copy(s.acts[arch.layers()].segment(), s.acts[arch.layers()].offset() * Float.BYTES,
                        out.segment(), (out.offset() + (long) r * out.stride()) * Float.BYTES, outBytes);
            }
        } finally {
            singles.release(s);
        }
    }

    /**
     * One sample through all layers, the activation applied in place over Z: bf16 layers through the
     * widening kernel, wide fp32 layers through their transposed copy ({@code x·Wᵀ} by rows), the
     * others through W.
     *
     * <p>Every other call walks the slivers of a wide layer last to first. Why: a 784-256-128-10 model's
     * slivers are 939 KB, about a 1 MiB L2; streamed in the same order every call, each read evicts what
     * the next call reads first, so nearly all of it comes from L3. In the other order a call starts with what
     * the previous one read last, still in L2 (measured 0.89× the time per prediction on an AMD Zen 5).
     * Each output column is the same sum either way, so the bits do not depend on the order.
     */
    private void forwardOne(Scratch s) {
        Matrix[] acts = s.acts;
        s.descending = !s.descending;
        standardize(acts[0]);
        for (int l = 0; l < layers.length; l++) {
            Matrix x = acts[l], z = acts[l + 1];
            switch (layers[l].single()) {
                case RowsOfW(Matrix w) -> kernels.gemm(Transpose.N, Transpose.T, 1f, x, w, 0f, z);
                case RowsOfWt(Matrix[] slivers) -> {
                    Matrix[] zs = s.columnSlivers(l + 1);
                    int last = slivers.length - 1;
                    for (int i = 0; i <= last; i++) {
                        int sl = s.descending ? last - i : i;
                        kernels.gemm(Transpose.N, Transpose.N, 1f, x, slivers[sl], 0f, zs[sl]);
                    }
                }
                case Bf16Rows(Bf16Weights w) -> kernels.vecMatBf16(x, w, z);
            }
            biasAndActivation(l, acts[l + 1]);
        }
    }

    /**
     * A batch (FP32) through all layers with the packed weights, from {@code x} (standardized already)
     * into {@code acts[1…L]}: {@code A = f(A_prev·Wᵀ + 1·bᵀ)}, bias and activation applied in the GEMM's write-back.
     */
    private void forwardBatch(Matrix x, Matrix[] acts) {
        for (int l = 0; l < layers.length; l++) {
            Matrix in = l == 0 ? x : acts[l], out = acts[l + 1];
            Layer layer = layers[l];
            switch (arch.layerNorm(l)) {
                case NONE -> PackedDense.forward(kernels, in, layer.packed(), layer.bias(), arch.activation(l), out);
                case BEFORE_ACTIVATION -> {
                    PackedDense.forward(kernels, in, layer.packed(), layer.bias(), Activation.IDENTITY, out);
                    layerNorm(l, out);
                    kernels.activate(arch.activation(l), out, out);
                }
                case AFTER_ACTIVATION -> {
                    PackedDense.forward(kernels, in, layer.packed(), layer.bias(), arch.activation(l), out);
                    layerNorm(l, out);
                }
            }
        }
    }

    /** The layer norm of layer {@code l}, in place. */
    private void layerNorm(int l, Matrix m) {
        kernels.layerNorm(m, layers[l].normScale(), layers[l].normShift(), arch.layerNormEpsilon(), m, null);
    }

    /** The model's input standardization, {@code x = (x − μ) ⊙ (1/σ)}, on the scratch copy of the input. */
    private void standardize(Matrix x) {
        if (standardization != null) standardization.apply(kernels, x);
    }

    /** Bias, activation and the layer norm, in the layer's order, in place over Z. */
    private void biasAndActivation(int l, Matrix z) {
        kernels.addBias(z, layers[l].bias());
        LayerNorm norm = arch.layerNorm(l);
        if (norm == LayerNorm.BEFORE_ACTIVATION) layerNorm(l, z);
        kernels.activate(arch.activation(l), z, z);
        if (norm == LayerNorm.AFTER_ACTIVATION) layerNorm(l, z);
    }

    /** What {@link #warmUp} did and how fast a prediction was at its end. */
    public record WarmUp(long predictions, Duration took, double microsPerPrediction, KernelStatus kernels) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%d predictions in %d ms, last round %.2f us per prediction; %s%s",
                    predictions, took.toMillis(), microsPerPrediction, kernels.description(),
                    kernels.isFullSpeed() ? "" : " (NOT full speed: " + kernels.jit() + ")");
        }
    }

    /** {@link #warmUp(Duration)} with at most 10 seconds. */
    public WarmUp warmUp() {
        return warmUp(Duration.ofSeconds(10));
    }

    /**
     * Runs single and batch predictions on synthetic inputs until the JIT has compiled the prediction
     * path (rounds of 2,000 single predictions until one is no faster than the round before it, and at
     * least 10 rounds), or until {@code budget} is spent; call it before the service takes traffic.
     * Compiled code is shared by all threads, so one thread is enough. The result reports the speed of
     * the last round and the kernel status: a service can log it, or refuse to start when
     * {@link KernelStatus#isFullSpeed()} is false.
     */
    public WarmUp warmUp(Duration budget) {
        checkOpen();
        long start = System.nanoTime(), deadline = start + budget.toNanos(), predictions = 0;
        float[] in = new float[arch.inputs()], out = new float[arch.outputs()];
        java.util.Random rnd = new java.util.Random(1);
        for (int i = 0; i < in.length; i++) in[i] = rnd.nextFloat();
        double last = Double.MAX_VALUE, current = Double.MAX_VALUE;
        try (Arena a = Arena.ofConfined()) {
            Matrix batchIn = Matrix.allocate(a, BATCH, arch.inputs()), batchOut = Matrix.allocate(a, BATCH, arch.outputs());
            for (int round = 0; System.nanoTime() < deadline; round++) {
                long t0 = System.nanoTime();
                final int perRound = 2_000;
                for (int i = 0; i < perRound; i++) predict(in, out);
                current = (System.nanoTime() - t0) / 1e3 / perRound;
                predictions += perRound;
                if (round % 4 == 0) {
                    predict(batchIn, batchOut);
                    predictions += BATCH;
                }
                if (round >= 10 && current >= last * 0.98) break;
                last = Math.min(last, current);
            }
        }
        return new WarmUp(predictions, Duration.ofNanos(System.nanoTime() - start), current, kernelStatus());
    }

    /**
     * Scratch buffers made so far: for single samples (4 bytes × the sum of the layer sizes each) and
     * for batches ({@link #BATCH} times that), and how many of each kind the pool keeps between calls.
     * A buffer is made when a call finds none free, so each count stays below the most calls of its kind
     * ever running at once plus {@code poolCapacity} (a call that scans the pool while others return
     * and take buffers can miss one).
     */
    public record ScratchBuffers(int single, int batch, int poolCapacity) {}

    public ScratchBuffers scratchBuffers() {
        return new ScratchBuffers(singles.created(), batches.created(), singles.capacity());
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

    /** Bytes of parameters this predictor holds (weights in their stored precision, biases, transposed and packed copies). */
    public long parameterBytes() {
        long bytes = 0;
        for (Layer layer : layers) {
            bytes += layer.bias().size() * Float.BYTES;
            if (layer.normScale() != null) bytes += 2 * layer.normScale().size() * Float.BYTES;
            bytes += switch (layer.single()) {
                case RowsOfW(Matrix w) -> w.size() * Float.BYTES;
                case RowsOfWt(Matrix[] slivers) -> java.util.Arrays.stream(slivers).mapToLong(m -> m.size() * Float.BYTES).sum();
                case Bf16Rows(Bf16Weights w) -> w.byteSize();
            };
        }
        PackedWeights packed = layers.length == 0 ? null : layers[0].packed();
        if (packed != null) bytes += packed.bufferBytes();       // all layers share the one array they were packed into
        return bytes;
    }

    /**
     * Frees the parameters and the scratch pools; closing again does nothing. The pools are closed
     * even if freeing the parameters fails (a call still running on this thread holds the arena).
     */
    @Override
    public synchronized void close() {
        if (!arena.scope().isAlive()) return;
        try {
            arena.close();
        } finally {
            try {
                singles.close();
            } finally {
                batches.close();
            }
        }
    }

    @Override
    public String toString() {
        return "Predictor " + arch + ", " + precision + " weights" + (standardization == null ? "" : ", standardized inputs");
    }
}
