package io.vectorprop.kernel;

import io.vectorprop.kernel.internal.RowPass;
import io.vectorprop.kernel.internal.Sharing;

import java.lang.foreign.MemorySegment;


/**
 * The kernel contract: every operation backpropagation needs, on {@link Matrix} views.
 *
 * <p>The public methods are final: they check shapes, aliasing and liveness once, here, and then
 * call the implementation's flat kernels (one call for contiguous operands, one per row otherwise).
 * Two implementations exist: the scalar reference ({@link #scalar()}), plain loops that serve as the reference in tests
 * and the baseline in benchmarks, and a Vector API implementation, loaded only when
 * {@code jdk.incubator.vector} is readable. {@link #get()} returns the one picked at start-up.
 *
 * <p>Thread-safety: an instance holds no mutable state; any number of threads may call it at once on
 * different output matrices (see {@link #withThreads} for its helper threads).
 *
 * <p>Vectors are {@code 1 × n} matrices. Unless a method says otherwise, an output may be the very
 * same view as an input (same memory, offset and stride) but must not partly overlap one.
 */
public abstract class Kernels {
    private final int threads;

    /**
     * Package-private, like the flat kernels below: the two implementations live in this package, and
     * nothing outside it can subclass this class or reach a kernel that skips the checks.
     */
    Kernels(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("Kernels: thread count " + threads + " must be at least 1");
        }
        this.threads = threads;
    }

    /** The implementation picked at start-up (see {@link KernelProvider}), single-threaded. */
    public static Kernels get() { return KernelProvider.INSTANCE; }

    /** The scalar reference implementation, single-threaded. */
    public static Kernels scalar() { return ScalarKernels.INSTANCE; }

    /** Short name: {@code scalar} or {@code simd}. */
    public abstract String name();

    /** A one-line description: implementation, species, FMA. */
    public abstract String description();

    /** How many threads a large GEMM, or a large activation pass, may use (the caller's thread counts as one). */
    public final int threads() { return threads; }

    /**
     * The same implementation using up to {@code threads} threads for large GEMMs and for the large
     * activation passes ({@link #activate}, {@link #activationBackward}) that follow them. The helper
     * threads are one pool per process ({@code -Dvectorprop.threads}, default: the available processors),
     * made on first use, shared by every instance: a product or pass that finds the pool busy with another
     * thread's work runs on its caller's thread alone, with the same result bit for bit.
     */
    public final Kernels withThreads(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("Kernels.withThreads: thread count " + threads + " must be at least 1");
        }
        return threads == this.threads ? this : newInstance(threads);
    }

    abstract Kernels newInstance(int threads);

    /** Floats per vector of the implementation: 1 for scalar. */
    abstract int floatLanes();

    /**
     * Which kernels compute and whether the JIT can make them fast: for a service to check at start-up
     * (see {@link KernelStatus#isFullSpeed()}) rather than find a 10× slowdown in its latencies.
     */
    public final KernelStatus status() {
        int lanes = floatLanes();
        return KernelStatus.of(this, lanes == 1 ? 0 : lanes * Float.SIZE, lanes);
    }

    // ---------------------------------------------------------------- GEMM

    /**
     * {@code C = α·op(A)·op(B) + β·C}, where op is the identity or the transpose. op(A) is M×K,
     * op(B) is K×N and C is M×N. When β is 0, C is only written, never read (NaN in C vanishes).
     * C must not overlap A or B. Modifies C only.
     */
    public final void gemm(Transpose transA, Transpose transB, float alpha, Matrix a, Matrix b, float beta, Matrix c) {
        alive("gemm", a, b, c);
        int m = transA.rows(a), k = transA.cols(a), kb = transB.rows(b), n = transB.cols(b);
        if (k != kb || c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("gemm: op(A) = " + m + "x" + k + " (A " + a.shape() + ", " + transA
                    + "), op(B) = " + kb + "x" + n + " (B " + b.shape() + ", " + transB + "), C " + c.shape()
                    + ": need op(A) M×K, op(B) K×N, C M×N");
        }
        if (!Float.isFinite(alpha) || !Float.isFinite(beta)) {
            throw new IllegalArgumentException("gemm: alpha " + alpha + " and beta " + beta + " must be finite");
        }
        if (overlaps(c, a) || overlaps(c, b)) {
            throw new IllegalArgumentException("gemm: C " + c.shape() + " overlaps " + (overlaps(c, a) ? "A" : "B")
                    + "; the output must be separate memory");
        }
        gemmKernel(transA, transB, alpha, a, b, beta, c);
    }

    /**
     * A dense layer's weighted inputs {@code Z = x·Wᵀ + 1·bᵀ}: x is B × in, W out × in (stored as
     * PyTorch's nn.Linear), the bias 1 × out, Z B × out and only written. The same as
     * {@code gemm(N, T, 1, x, W, 0, Z)} then {@link #addBias}, within the GEMM's rounding: the Vector API
     * kernels start the packed GEMM's accumulators from the bias (each element is {@code b + Σ} rather
     * than {@code Σ + b}), which saves writing Z and reading it back; the scalar reference does exactly
     * the two steps.
     */
    public final void linear(Matrix x, Matrix w, Matrix bias, Matrix z) {
        alive("linear", x, w, bias);
        alive("linear", z);
        if (w.cols() != x.cols() || z.rows() != x.rows() || z.cols() != w.rows() || bias.rows() != 1 || bias.cols() != w.rows()) {
            throw new IllegalArgumentException("linear: x " + x.shape() + ", W " + w.shape() + ", bias " + bias.shape()
                    + ", Z " + z.shape() + ": need x B×in, W out×in, bias 1×out, Z B×out");
        }
        if (overlaps(z, x) || overlaps(z, w) || overlaps(z, bias)) {
            throw new IllegalArgumentException("linear: Z " + z.shape() + " overlaps "
                    + (overlaps(z, x) ? "x" : overlaps(z, w) ? "W" : "the bias") + "; the output must be separate memory");
        }
        linearKernel(x, w, bias, z);
    }

    /** Computes a checked {@link #linear}: the product, then the bias row by row. */
    void linearKernel(Matrix x, Matrix w, Matrix bias, Matrix z) {
        gemmKernel(Transpose.N, Transpose.T, 1f, x, w, 0f, z);
        addBiasRows(z, bias);
    }

    /** Computes a checked GEMM; all shapes are valid, C overlaps nothing. */
    abstract void gemmKernel(Transpose transA, Transpose transB, float alpha, Matrix a, Matrix b,
                                       float beta, Matrix c);

    /**
     * {@code z = x·Wᵀ} for one sample with bfloat16 weights: {@code x} is 1 × in, {@code w} holds
     * W (out × in), {@code z} is 1 × out and is only written. Each output is accumulated over
     * {@code k = 0 … in−1} in order with fused multiply-adds, in float, from zero: the scalar and the
     * SIMD implementation give the same bits.
     */
    public final void vecMatBf16(Matrix x, Bf16Weights w, Matrix z) {
        alive("vecMatBf16", x, z);
        if (!w.isAlive()) throw new IllegalStateException("vecMatBf16: the bf16 weights' memory has been freed");
        if (x.rows() != 1 || x.cols() != w.in() || z.rows() != 1 || z.cols() != w.out()) {
            throw new IllegalArgumentException("vecMatBf16: x " + x.shape() + ", W " + w.out() + "x" + w.in() + ", z "
                    + z.shape() + ": need x 1x" + w.in() + " and z 1x" + w.out());
        }
        if (overlaps(z, x)) throw new IllegalArgumentException("vecMatBf16: z overlaps x; the output must be separate memory");
        vecMatBf16(x.segment(), x.offset(), w, z.segment(), z.offset());
    }

    /** Computes a checked {@link #vecMatBf16(Matrix, Bf16Weights, Matrix)}; offsets in floats. */
    abstract void vecMatBf16(MemorySegment x, long xo, Bf16Weights w, MemorySegment z, long zo);

    // ---------------------------------------------------------------- element-wise

    /**
     * Runs {@code pass} over rows [0, x.rows()) of x and of y and z (the same shape; z may be null): here
     * on the calling thread; the Vector API kernels cut the rows between the GEMM's threads so that each
     * thread takes the rows it would compute in a team product of as many rows (in training at a batch at
     * least as large as the layer, the product that wrote Z or the gradient): a pass on one thread would
     * read the half of them that the other core wrote, which costs more than the pass itself on a
     * machine whose cores share no cache.
     */
    void splitRows(Matrix x, Matrix y, Matrix z, RowPass pass) {
        pass.compute(0, x.rows());
    }

    /**
     * Runs {@code pass} over elements [0, n) of flat arrays ({@code sharable}: whether other threads may
     * touch them): here on the calling thread; the Vector API kernels cut them into equal parts at whole
     * vectors, one per GEMM thread, so each element goes through the vector body or the scalar tail as
     * in one pass.
     */
    void splitElements(int n, boolean sharable, RowPass pass) {
        pass.compute(0, n);
    }

    /**
     * Parameters from which an optimizer's step is cut between threads: it streams five arrays of that
     * length from L3 or memory, which two cores do faster than one; below this the hand-off is not repaid.
     */
    static final int MIN_SPLIT_PARAMETERS = 1 << 16;

    private static boolean sharable(Matrix... ms) {
        for (Matrix m : ms) if (!Sharing.isShared(m.segment())) return false;
        return true;
    }

    /** {@code out = a ⊙ b} (Hadamard product). */
    public final void hadamard(Matrix a, Matrix b, Matrix out) {
        sameShape("hadamard", a, b, out);
        if (a.isContiguous() && b.isContiguous() && out.isContiguous()) {
            hadamard(a.segment(), a.offset(), b.segment(), b.offset(), out.segment(), out.offset(), (int) a.size());
            return;
        }
        for (int r = 0; r < a.rows(); r++) {
            hadamard(a.segment(), row(a, r), b.segment(), row(b, r), out.segment(), row(out, r), a.cols());
        }
    }

    /** {@code out = a − b}. */
    public final void subtract(Matrix a, Matrix b, Matrix out) {
        sameShape("subtract", a, b, out);
        if (a.isContiguous() && b.isContiguous() && out.isContiguous()) {
            subtract(a.segment(), a.offset(), b.segment(), b.offset(), out.segment(), out.offset(), (int) a.size());
            return;
        }
        for (int r = 0; r < a.rows(); r++) {
            subtract(a.segment(), row(a, r), b.segment(), row(b, r), out.segment(), row(out, r), a.cols());
        }
    }

    /**
     * Forward activation {@code out = f(z)}; SOFTMAX is applied row by row. With more than one thread a large
     * pass is cut by rows between the GEMM's threads (see {@link #splitRows}); each element is computed the
     * same way whichever thread computes it.
     */
    public final void activate(Activation f, Matrix z, Matrix out) {
        sameShape("activate", z, out);
        if (threads > 1 && z.size() >= minSplitElements(f)) {
            splitRows(z, out, null, (from, to) -> activateRows(f, z, out, from, to));
        } else {
            activateRows(f, z, out, 0, z.rows());
        }
    }

    private void activateRows(Activation f, Matrix z, Matrix out, int from, int to) {
        if (f == Activation.SOFTMAX) {
            for (int r = from; r < to; r++) softmaxRow(z.segment(), row(z, r), out.segment(), row(out, r), z.cols());
        } else if (z.isContiguous() && out.isContiguous()) {
            long e0 = splitPoint(z, from), e1 = splitPoint(z, to);
            activate(f, z.segment(), z.offset() + e0, out.segment(), out.offset() + e0, (int) (e1 - e0));
        } else {
            for (int r = from; r < to; r++) activate(f, z.segment(), row(z, r), out.segment(), row(out, r), z.cols());
        }
    }

    /**
     * Fused backward of an element-wise activation: {@code out = g ⊙ f'(z)} in one pass (the Hadamard
     * with the derivative of BP1 and BP2). SOFTMAX is rejected: use {@link #outputDelta}. Cut by rows
     * between threads as {@link #activate} is.
     */
    public final void activationBackward(Activation f, Matrix z, Matrix g, Matrix out) {
        if (!f.isElementwise()) {
            throw new IllegalArgumentException("activationBackward: softmax has no element-wise derivative;"
                    + " use outputDelta with SOFTMAX_CROSS_ENTROPY");
        }
        sameShape("activationBackward", z, g, out);
        if (threads > 1 && z.size() >= minSplitElements(f)) {
            splitRows(z, g, out, (from, to) -> activationBackwardRows(f, z, g, out, from, to));
        } else {
            activationBackwardRows(f, z, g, out, 0, z.rows());
        }
    }

    private void activationBackwardRows(Activation f, Matrix z, Matrix g, Matrix out, int from, int to) {
        if (z.isContiguous() && g.isContiguous() && out.isContiguous()) {
            long e0 = splitPoint(z, from), e1 = splitPoint(z, to);
            activationBackward(f, z.segment(), z.offset() + e0, g.segment(), g.offset() + e0, out.segment(),
                    out.offset() + e0, (int) (e1 - e0));
            return;
        }
        for (int r = from; r < to; r++) {
            activationBackward(f, z.segment(), row(z, r), g.segment(), row(g, r), out.segment(), row(out, r), z.cols());
        }
    }

    /** Row-wise softmax, numerically stable: {@code out[r, j] = exp(z[r, j] − max_j z[r]) / Σ exp(…)}. */
    public final void softmax(Matrix z, Matrix out) {
        sameShape("softmax", z, out);                 // so that a shape error names this method
        activate(Activation.SOFTMAX, z, out);
    }

    /**
     * Where the part of a contiguous pass that starts at row {@code r} starts, in elements: row r's first
     * element rounded down to a whole vector (the end of the matrix for r = rows). A contiguous pass is one
     * vector loop then a scalar tail whose functions may round differently (exp-based activations); cut at
     * whole vectors, every part but the last has no tail and the last has the whole pass's, so each
     * element is computed as in one pass over all of it.
     */
    private long splitPoint(Matrix m, int r) {
        long at = (long) r * m.cols();
        return at >= m.size() ? m.size() : at / floatLanes() * floatLanes();
    }

    /**
     * Elements from which an activation's pass is cut between threads: handing rows to the GEMM's
     * workers costs about a microsecond, which a ReLU over 16 Ki floats (a few microseconds) repays;
     * functions with an exponential per element repay it sooner.
     */
    static long minSplitElements(Activation f) {
        return switch (f) {
            case IDENTITY, RELU, LEAKY_RELU -> 1 << 14;
            case SIGMOID, TANH, GELU, GELU_TANH, SILU, SOFTMAX -> 1 << 11;
        };
    }

    // ---------------------------------------------------------------- layer normalization

    /**
     * Layer normalization of each row {@code r} (Ba, Kiros and Hinton 2016; PyTorch's {@code nn.LayerNorm}
     * over the last dimension): {@code out[r] = (x[r] − μ_r)·ρ_r ⊙ γ + β} with μ_r the row's mean,
     * σ²_r its biased variance ({@code Σ(x − μ)²/n}) and {@code ρ_r = 1/√(σ²_r + ε)}.
     *
     * @param gamma, beta 1 × cols: the learned scale and shift
     * @param epsilon     added to the variance, finite and > 0 (PyTorch's default is 1e-5)
     * @param out         rows × cols; may be the same view as x
     * @param stats       rows × 2 receiving (μ_r, ρ_r) for {@link #layerNormBackward}, or null (inference)
     */
    public final void layerNorm(Matrix x, Matrix gamma, Matrix beta, float epsilon, Matrix out, Matrix stats) {
        sameShape("layerNorm", x, out);
        featureRow("layerNorm", "gamma", gamma, x);
        featureRow("layerNorm", "beta", beta, x);
        if (!(epsilon > 0) || !Float.isFinite(epsilon)) {
            throw new IllegalArgumentException("layerNorm: epsilon " + epsilon + " must be finite and > 0");
        }
        if (stats != null) rowStats("layerNorm", stats, x);
        if (overlaps(out, gamma) || overlaps(out, beta)) {
            throw new IllegalArgumentException("layerNorm: the output " + out.shape() + " overlaps gamma or beta");
        }
        for (int r = 0; r < x.rows(); r++) {
            layerNormRow(x.segment(), row(x, r), gamma.segment(), gamma.offset(), beta.segment(), beta.offset(), epsilon,
                    out.segment(), row(out, r), x.cols(), stats == null ? null : stats.segment(), stats == null ? 0 : row(stats, r));
        }
    }

    /**
     * Backward of {@link #layerNorm}, given {@code g = ∂C/∂out}, the forward input {@code x} and its
     * {@code stats}: with {@code x̂ = (x − μ)·ρ} and {@code ĝ = g ⊙ γ} per row,
     * {@code dx = ρ·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))}, and over the rows
     * {@code dGamma = α·Σ g ⊙ x̂}, {@code dBeta = α·Σ g} (overwritten; α is 1/B for a batch mean).
     * {@code dx} may be the same view as {@code g}.
     */
    public final void layerNormBackward(Matrix x, Matrix stats, Matrix gamma, Matrix g, Matrix dx, float alpha,
                                        Matrix dGamma, Matrix dBeta) {
        sameShape("layerNormBackward", x, g, dx);
        rowStats("layerNormBackward", stats, x);
        featureRow("layerNormBackward", "gamma", gamma, x);
        featureRow("layerNormBackward", "dGamma", dGamma, x);
        featureRow("layerNormBackward", "dBeta", dBeta, x);
        finite("layerNormBackward", alpha, 0f);
        if (overlaps(dGamma, dBeta) || overlaps(dx, dGamma) || overlaps(dx, dBeta) || overlaps(dx, stats)
                || overlaps(dx, gamma) || overlaps(dGamma, gamma) || overlaps(dBeta, gamma)) {
            throw new IllegalArgumentException("layerNormBackward: dx " + dx.shape() + ", dGamma and dBeta must not overlap"
                    + " each other, gamma or the stats");
        }
        dGamma.fill(0f);
        dBeta.fill(0f);
        for (int r = 0; r < x.rows(); r++) {
            long s = row(stats, r);
            layerNormBackwardRow(x.segment(), row(x, r), stats.segment().getAtIndex(Matrix.FLOAT, s),
                    stats.segment().getAtIndex(Matrix.FLOAT, s + 1), gamma.segment(), gamma.offset(), g.segment(), row(g, r),
                    dx.segment(), row(dx, r), dGamma.segment(), dGamma.offset(), dBeta.segment(), dBeta.offset(), x.cols());
        }
        scale(alpha, dGamma.segment(), dGamma.offset(), dGamma.cols());
        scale(alpha, dBeta.segment(), dBeta.offset(), dBeta.cols());
    }

    private static void featureRow(String op, String name, Matrix v, Matrix x) {
        alive(op, v);
        if (v.rows() != 1 || v.cols() != x.cols()) {
            throw new IllegalArgumentException(op + ": " + name + " " + v.shape() + " must be 1x" + x.cols() + " for " + x.shape());
        }
    }

    private static void rowStats(String op, Matrix stats, Matrix x) {
        alive(op, stats);
        if (stats.rows() != x.rows() || stats.cols() != 2) {
            throw new IllegalArgumentException(op + ": stats " + stats.shape() + " must be " + x.rows() + "x2 (mean, 1/std per row) for "
                    + x.shape());
        }
        if (overlaps(stats, x)) throw new IllegalArgumentException(op + ": stats overlap the input " + x.shape());
    }

    /** Bias broadcast {@code Z += 1·bᵀ}: adds the {@code 1 × cols} vector {@code bias} to every row of {@code z}. */
    public final void addBias(Matrix z, Matrix bias) {
        alive("addBias", z, bias);
        if (bias.rows() != 1 || bias.cols() != z.cols()) {
            throw new IllegalArgumentException("addBias: bias " + bias.shape() + " must be 1x" + z.cols()
                    + " for Z " + z.shape());
        }
        if (overlaps(z, bias)) {
            throw new IllegalArgumentException("addBias: bias overlaps Z " + z.shape());
        }
        addBiasRows(z, bias);
    }

    /** {@code Z += 1·bᵀ} for checked operands, row by row. */
    private void addBiasRows(Matrix z, Matrix bias) {
        for (int r = 0; r < z.rows(); r++) {
            axpy(1f, bias.segment(), bias.offset(), z.segment(), row(z, r), z.cols());
        }
    }

    /**
     * {@code m[r, :] = m[r, :] ⊙ scale} for every row: scales each column by its own factor (input
     * standardization multiplies by 1/σ per feature). {@code scale} is 1 × cols.
     */
    public final void scaleColumns(Matrix m, Matrix scale) {
        alive("scaleColumns", m, scale);
        if (scale.rows() != 1 || scale.cols() != m.cols()) {
            throw new IllegalArgumentException("scaleColumns: scale " + scale.shape() + " must be 1x" + m.cols()
                    + " for " + m.shape());
        }
        if (overlaps(m, scale)) throw new IllegalArgumentException("scaleColumns: scale overlaps the matrix " + m.shape());
        for (int r = 0; r < m.rows(); r++) {
            hadamard(m.segment(), row(m, r), scale.segment(), scale.offset(), m.segment(), row(m, r), m.cols());
        }
    }

    /**
     * Column sums (BP3): {@code out = α·Σ_rows m + β·out}, {@code out} being {@code 1 × cols}. When β
     * is 0, out is not read.
     */
    public final void columnSums(float alpha, Matrix m, float beta, Matrix out) {
        alive("columnSums", m, out);
        if (out.rows() != 1 || out.cols() != m.cols()) {
            throw new IllegalArgumentException("columnSums: out " + out.shape() + " must be 1x" + m.cols()
                    + " for a " + m.shape() + " input");
        }
        finite("columnSums", alpha, beta);
        if (overlaps(m, out)) {
            throw new IllegalArgumentException("columnSums: out overlaps the input " + m.shape());
        }
        columnSums(alpha, m.segment(), m.offset(), m.rows(), m.cols(), m.stride(), beta, out.segment(), out.offset());
    }

    /** {@code y += α·x} (same shapes). */
    public final void axpy(float alpha, Matrix x, Matrix y) {
        sameShape("axpy", x, y);
        finite("axpy", alpha, 0f);
        if (x.isContiguous() && y.isContiguous()) {
            axpy(alpha, x.segment(), x.offset(), y.segment(), y.offset(), (int) x.size());
            return;
        }
        for (int r = 0; r < x.rows(); r++) {
            axpy(alpha, x.segment(), row(x, r), y.segment(), row(y, r), x.cols());
        }
    }

    /** {@code x *= α}. */
    public final void scale(float alpha, Matrix x) {
        alive("scale", x);
        finite("scale", alpha, 0f);
        if (x.isContiguous()) {
            scale(alpha, x.segment(), x.offset(), (int) x.size());
            return;
        }
        for (int r = 0; r < x.rows(); r++) {
            scale(alpha, x.segment(), row(x, r), x.cols());
        }
    }

    // ---------------------------------------------------------------- losses

    /** The loss of outputs {@code a} against targets {@code y} (rows are samples), averaged over the rows. */
    public final double loss(Loss loss, Matrix a, Matrix y) {
        sameShape("loss", a, y);
        double sum = 0;
        if (a.isContiguous() && y.isContiguous()) {
            sum = lossSum(loss, a.segment(), a.offset(), y.segment(), y.offset(), (int) a.size());
        } else {
            for (int r = 0; r < a.rows(); r++) {
                sum += lossSum(loss, a.segment(), row(a, r), y.segment(), row(y, r), a.cols());
            }
        }
        return sum / a.rows();
    }

    /**
     * The per-sample gradient of the loss with respect to the output {@code a}: {@code a − y}
     * (quadratic), {@code (a − y)/(a(1 − a))} (binary cross-entropy), {@code −y/a} (softmax
     * cross-entropy, with respect to the softmax output). Not divided by the batch size.
     */
    public final void lossGradient(Loss loss, Matrix a, Matrix y, Matrix out) {
        sameShape("lossGradient", a, y, out);
        if (a.isContiguous() && y.isContiguous() && out.isContiguous()) {
            lossGradient(loss, a.segment(), a.offset(), y.segment(), y.offset(), out.segment(), out.offset(),
                    (int) a.size());
            return;
        }
        for (int r = 0; r < a.rows(); r++) {
            lossGradient(loss, a.segment(), row(a, r), y.segment(), row(y, r), out.segment(), row(out, r), a.cols());
        }
    }

    /**
     * BP1, the output error {@code Δᴸ = ∇ₐC ⊙ f'(Zᴸ)}, per sample (not divided by the batch size):
     * <ul>
     *   <li>softmax output with softmax cross-entropy, or sigmoid output with binary cross-entropy:
     *       the terms cancel to {@code Δ = A − Y};</li>
     *   <li>otherwise {@code Δ = ∇ₐC ⊙ f'(Z)} with ∇ₐC from {@link #lossGradient}.</li>
     * </ul>
     * Softmax cross-entropy needs the SOFTMAX output and SOFTMAX needs softmax cross-entropy.
     */
    public final void outputDelta(Loss loss, Activation f, Matrix z, Matrix a, Matrix y, Matrix delta) {
        sameShape("outputDelta", z, a, y, delta);
        if ((loss == Loss.SOFTMAX_CROSS_ENTROPY) != (f == Activation.SOFTMAX)) {
            throw new IllegalArgumentException("outputDelta: " + loss + " with output activation " + f
                    + " is not supported; softmax cross-entropy goes with a SOFTMAX output and only with it");
        }
        if (f == Activation.SOFTMAX || (f == Activation.SIGMOID && loss == Loss.BINARY_CROSS_ENTROPY)) {
            subtract(a, y, delta);
        } else {
            lossGradient(loss, a, y, delta);
            activationBackward(f, z, delta, delta);
        }
    }

    /** Row argmax: {@code out[r]} = the column of the largest element of row r (the first one on ties; NaN wins). */
    public final void argmax(Matrix m, int[] out) {
        alive("argmax", m);
        if (out.length != m.rows()) {
            throw new IllegalArgumentException("argmax: output array of " + out.length + " for a " + m.shape()
                    + " matrix (need " + m.rows() + ")");
        }
        for (int r = 0; r < m.rows(); r++) {
            out[r] = argmaxRow(m.segment(), row(m, r), m.cols());
        }
    }

    // ---------------------------------------------------------------- optimizer updates

    /**
     * Momentum step over a parameter block: {@code v = μ·v − η·(g + λ·θ·mask)}, then
     * {@code θ += v} (or, with Nesterov, {@code θ += μ·v − η·(g + λθ)}). All four are {@code 1 × n}
     * (or same-shape contiguous) views; {@code decayMask} holds 1 where weight decay applies, 0 elsewhere,
     * and is not read when λ = 0 (one stream fewer over memory). With more than one thread a block of at
     * least {@link #MIN_SPLIT_PARAMETERS} is cut between the
     * GEMM's threads ({@link #splitElements}): the same bits as on one.
     */
    public final void momentumStep(Matrix theta, Matrix grad, Matrix velocity, Matrix decayMask,
                                   float lr, float momentum, float weightDecay, boolean nesterov) {
        sameShape("momentumStep", grad, velocity, decayMask, theta);
        contiguous("momentumStep", theta);
        contiguous("momentumStep", grad);
        contiguous("momentumStep", velocity);
        contiguous("momentumStep", decayMask);
        finite("momentumStep", lr, momentum);
        finite("momentumStep", weightDecay, 0f);
        int n = (int) theta.size();
        if (threads > 1 && n >= MIN_SPLIT_PARAMETERS) {
            splitElements(n, sharable(theta, grad, velocity, decayMask), (from, to) -> momentumStep(theta.segment(),
                    theta.offset() + from, grad.segment(), grad.offset() + from, velocity.segment(), velocity.offset() + from,
                    decayMask.segment(), decayMask.offset() + from, to - from, lr, momentum, weightDecay, nesterov));
            return;
        }
        momentumStep(theta.segment(), theta.offset(), grad.segment(), grad.offset(), velocity.segment(),
                velocity.offset(), decayMask.segment(), decayMask.offset(), n, lr, momentum, weightDecay, nesterov);
    }

    /**
     * Adam step (Kingma and Ba, with bias correction for step {@code t ≥ 1}) over a parameter block:
     * {@code g' = g + λθ·mask}, {@code m = β₁m + (1−β₁)g'}, {@code v = β₂v + (1−β₂)g'²},
     * {@code θ −= η·m̂/(√v̂ + ε)}. Cut between threads as {@link #momentumStep} is; as there, λ = 0 reads no
     * mask (the update is bound by its streams over memory: θ, g, m and v, and the mask when it is read).
     *
     * <p>Computed in PyTorch's arrangement, {@code θ −= (m / (√v·c + ε))·s} with the scalars
     * {@code s = η/(1−β₁ᵗ)} and {@code c = 1/√(1−β₂ᵗ)} (PyTorch divides √v by √(1−β₂ᵗ); this multiplies by
     * its reciprocal): one square root and one division per parameter, not three divisions and a root
     * (m̂ and v̂ are never formed), which spares the divider, slow for 512-bit vectors on Intel cores
     * (docs/performance.md, "On an Intel Xeon").
     *
     * <p>A g', m or v of magnitude below {@link Float#MIN_NORMAL} (a subnormal float) is taken as 0 and
     * stored as 0: arithmetic on subnormals is slow on Intel cores (this update ran 27× slower with subnormal
     * gradients and moments on an Intel Xeon), and training reaches them — the moments of weights whose
     * gradients vanish decay geometrically. The effect on θ is at most η·1.2e-37/ε per step (m̂ below
     * 1.2e-37), which leaves every θ above ≈ 1e-28 (for η ≤ 1, ε = 1e-8) unchanged.
     */
    public final void adamStep(Matrix theta, Matrix grad, Matrix m, Matrix v, Matrix decayMask, float lr,
                               float beta1, float beta2, float epsilon, float weightDecay, long t) {
        sameShape("adamStep", grad, m, v, decayMask, theta);
        contiguous("adamStep", theta);
        contiguous("adamStep", grad);
        contiguous("adamStep", m);
        contiguous("adamStep", v);
        contiguous("adamStep", decayMask);
        finite("adamStep", lr, weightDecay);
        finite("adamStep", beta1, beta2);
        finite("adamStep", epsilon, 0f);
        if (t < 1) {
            throw new IllegalArgumentException("adamStep: step " + t + " must be at least 1");
        }
        float correction1 = (float) (1 - Math.pow(beta1, t));
        float correction2 = (float) (1 - Math.pow(beta2, t));
        // The step's two scalars (see the arrangement above), once per call for both implementations.
        float stepSize = lr / correction1, vScale = (float) (1.0 / Math.sqrt(correction2));
        int n = (int) theta.size();
        if (threads > 1 && n >= MIN_SPLIT_PARAMETERS) {
            splitElements(n, sharable(theta, grad, m, v, decayMask), (from, to) -> adamStep(theta.segment(),
                    theta.offset() + from, grad.segment(), grad.offset() + from, m.segment(), m.offset() + from,
                    v.segment(), v.offset() + from, decayMask.segment(), decayMask.offset() + from, to - from,
                    stepSize, beta1, beta2, epsilon, weightDecay, vScale));
            return;
        }
        adamStep(theta.segment(), theta.offset(), grad.segment(), grad.offset(), m.segment(), m.offset(),
                v.segment(), v.offset(), decayMask.segment(), decayMask.offset(), n,
                stepSize, beta1, beta2, epsilon, weightDecay, vScale);
    }

    // ---------------------------------------------------------------- flat kernels (offsets in floats)

    /** {@code out[i] = a[i]·b[i]}, i < n. */
    abstract void hadamard(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n);

    /** {@code out[i] = a[i] − b[i]}. */
    abstract void subtract(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n);

    /** {@code out[i] = f(z[i])} for an element-wise f. */
    abstract void activate(Activation f, MemorySegment z, long zo, MemorySegment out, long oo, int n);

    /** {@code out[i] = g[i]·f'(z[i])}. */
    abstract void activationBackward(Activation f, MemorySegment z, long zo, MemorySegment g, long go,
                                               MemorySegment out, long oo, int n);

    /** One row of {@link #layerNorm}; {@code stats} (may be null) receives μ at {@code so} and ρ at {@code so + 1}. */
    abstract void layerNormRow(MemorySegment x, long xo, MemorySegment gamma, long go, MemorySegment beta, long bo,
                                         float epsilon, MemorySegment out, long oo, int n, MemorySegment stats, long so);

    /** One row of {@link #layerNormBackward}: writes dx, adds g ⊙ x̂ into dGamma and g into dBeta. */
    abstract void layerNormBackwardRow(MemorySegment x, long xo, float mean, float rstd, MemorySegment gamma, long go,
                                                 MemorySegment g, long gOff, MemorySegment dx, long dxo, MemorySegment dGamma,
                                                 long dgo, MemorySegment dBeta, long dbo, int n);

    /** Softmax of one row of n floats. */
    abstract void softmaxRow(MemorySegment z, long zo, MemorySegment out, long oo, int n);

    /** {@code y[i] += α·x[i]}. */
    abstract void axpy(float alpha, MemorySegment x, long xo, MemorySegment y, long yo, int n);

    /** {@code x[i] *= α}. */
    abstract void scale(float alpha, MemorySegment x, long xo, int n);

    /** {@code out[j] = α·Σ_r m[r·stride + j] + β·out[j]}; β = 0 never reads out. */
    abstract void columnSums(float alpha, MemorySegment m, long mo, int rows, int cols, int stride,
                                       float beta, MemorySegment out, long oo);

    /** Sum over i of the per-element loss term. */
    abstract double lossSum(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo, int n);

    /** Per-element ∇ₐC. */
    abstract void lossGradient(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo,
                                         MemorySegment out, long oo, int n);

    /** Index of the largest of n floats (first on ties, first NaN wins). */
    abstract int argmaxRow(MemorySegment m, long mo, int n);

    abstract void momentumStep(MemorySegment theta, long to, MemorySegment grad, long go,
                                         MemorySegment velocity, long vo, MemorySegment mask, long mo, int n,
                                         float lr, float momentum, float weightDecay, boolean nesterov);

    abstract void adamStep(MemorySegment theta, long to, MemorySegment grad, long go, MemorySegment m,
                                     long mo, MemorySegment v, long vo, MemorySegment mask, long ko, int n,
                                     float stepSize, float beta1, float beta2, float epsilon, float weightDecay,
                                     float vScale);

    // ---------------------------------------------------------------- checks

    private static long row(Matrix m, int r) {
        return m.offset() + (long) r * m.stride();
    }

    static void alive(String op, Matrix m) {
        if (!m.isAlive()) {
            throw new IllegalStateException(op + ": a " + m.shape() + " operand's memory has been freed (its Arena is closed)");
        }
    }

    private static void alive(String op, Matrix a, Matrix b) {
        alive(op, a);
        alive(op, b);
    }

    private static void alive(String op, Matrix a, Matrix b, Matrix c) {
        alive(op, a);
        alive(op, b);
        alive(op, c);
    }

    private static void finite(String op, float x, float y) {
        if (!Float.isFinite(x) || !Float.isFinite(y)) {
            throw new IllegalArgumentException(op + ": scalar arguments must be finite, got " + x + " and " + y);
        }
    }

    private static void contiguous(String op, Matrix m) {
        if (!m.isContiguous()) {
            throw new IllegalArgumentException(op + ": operand " + m.shape() + " must be contiguous");
        }
    }

    /**
     * Checks that input {@code in} (operand number {@code index}) is alive, has the output's shape, and
     * is either the output's very view or separate from it. Fixed arity: no allocation when all is well.
     */
    private static void input(String op, int index, Matrix in, Matrix out) {
        alive(op, in);
        if (in.rows() != out.rows() || in.cols() != out.cols()) {
            throw new IllegalArgumentException(op + ": operand " + index + " is " + in.shape() + " but the output is "
                    + out.shape() + "; the shapes must match");
        }
        if (overlaps(out, in) && !sameView(out, in)) {
            throw new IllegalArgumentException(op + ": the output " + out.shape() + " partly overlaps operand " + index
                    + " " + in.shape() + "; use the same view or separate memory");
        }
    }

    private static void sameShape(String op, Matrix a, Matrix out) {
        alive(op, out);
        input(op, 1, a, out);
    }

    private static void sameShape(String op, Matrix a, Matrix b, Matrix out) {
        sameShape(op, a, out);
        input(op, 2, b, out);
    }

    private static void sameShape(String op, Matrix a, Matrix b, Matrix c, Matrix out) {
        sameShape(op, a, b, out);
        input(op, 3, c, out);
    }

    private static void sameShape(String op, Matrix a, Matrix b, Matrix c, Matrix d, Matrix out) {
        sameShape(op, a, b, c, out);
        input(op, 4, d, out);
    }

    private static boolean overlaps(Matrix x, Matrix y) {
        return x.overlaps(y);
    }

    /** Same memory, offset and stride: the one kind of overlap an element-wise kernel allows. */
    private static boolean sameView(Matrix x, Matrix y) {
        return x.segment().address() == y.segment().address() && x.offset() == y.offset() && x.stride() == y.stride()
                && x.overlaps(y);
    }
}
