package io.vectorprop.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteOrder;

import io.vectorprop.kernel.internal.Lanes;
import io.vectorprop.kernel.internal.RowPass;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * The Vector API implementation. Loaded only by {@link KernelProvider} after it has checked that
 * {@code jdk.incubator.vector} is readable; nothing else refers to this class.
 *
 * <p>Each element-wise kernel is a vector body over full vectors of the preferred species followed
 * by a scalar tail that calls the reference definitions in {@link ScalarKernels}, so tails agree
 * with the reference exactly. The species is a {@code static final} constant: a species held
 * anywhere else makes C2 fall back to boxed vectors (docs/vector-api-pitfalls.md). Loads and stores are written out
 * ({@code FloatVector.fromMemorySegment}, {@code intoMemorySegment}) rather than wrapped in helpers:
 * the JDK's methods are always inlined, while a helper of ours that C2 declines to inline (say, one
 * already compiled big by C1) makes every vector crossing it a heap object.
 */
final class VectorKernels extends Kernels {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();

    /**
     * The GEMM ({@code io.vectorprop.kernel.gemm.Gemm.multiply}, {@code linear}) and its one-line description, looked up
     * by name once, as {@link KernelProvider} loads this class: the contract's package then depends on
     * none of the kernel's implementation packages (they depend on it: the GEMM reads Matrix and
     * Transpose). A method handle in a static final field is inlined by C2 like a direct call.
     */
    private static final MethodHandle GEMM, LINEAR, ROWS, RANGES;
    private static final String GEMM_DESCRIPTION;

    static {
        try {
            Class<?> gemm = Class.forName("io.vectorprop.kernel.gemm.Gemm");
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            GEMM = lookup.findStatic(gemm, "multiply", MethodType.methodType(void.class, Transpose.class, Transpose.class,
                    float.class, Matrix.class, Matrix.class, float.class, Matrix.class, int.class));
            LINEAR = lookup.findStatic(gemm, "linear", MethodType.methodType(boolean.class, Matrix.class, Matrix.class,
                    Matrix.class, Matrix.class, int.class));
            ROWS = lookup.findStatic(gemm, "rows", MethodType.methodType(void.class, Matrix.class, Matrix.class,
                    Matrix.class, int.class, RowPass.class));
            RANGES = lookup.findStatic(gemm, "ranges", MethodType.methodType(void.class, int.class, int.class,
                    boolean.class, int.class, RowPass.class));
            GEMM_DESCRIPTION = (String) lookup.findStatic(gemm, "describe", MethodType.methodType(String.class)).invokeExact();
        } catch (Throwable e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);

    VectorKernels(int threads) {
        super(threads);
    }

    @Override public String name() { return "simd"; }

    @Override
    public String description() {
        return "Vector API kernels, species " + S + " (" + L + " floats), FMA "
                + (KernelStatus.hotSpotUsesFma() ? "used" : "emulated (slow on this CPU)") + ", "
                + GEMM_DESCRIPTION + ", threads " + threads();
    }

    @Override Kernels newInstance(int threads) { return new VectorKernels(threads); }

    @Override int floatLanes() { return L; }

    /**
     * What a call through one of the handles above threw, to rethrow: its own RuntimeException or Error
     * (the GEMM's methods declare no checked exception, so there is no other kind in practice).
     */
    private static RuntimeException unchecked(String op, Throwable e) {
        if (e instanceof RuntimeException r) return r;
        if (e instanceof Error err) throw err;
        return new IllegalStateException(op + ": " + e, e);
    }

    @Override
    void gemmKernel(Transpose transA, Transpose transB, float alpha, Matrix a, Matrix b, float beta,
                              Matrix c) {
        try {
            GEMM.invokeExact(transA, transB, alpha, a, b, beta, c, threads());
        } catch (Throwable e) {
            throw unchecked("gemm", e);
        }
    }

    /** The bias in the packed GEMM's accumulators ({@code Gemm.linear}); the two steps where the product is not packed. */
    @Override
    void linearKernel(Matrix x, Matrix w, Matrix bias, Matrix z) {
        boolean fused;
        try {
            fused = (boolean) LINEAR.invokeExact(x, w, bias, z, threads());
        } catch (Throwable e) {
            throw unchecked("linear", e);
        }
        if (!fused) super.linearKernel(x, w, bias, z);
    }

    /** On the GEMM's threads ({@code Gemm.rows}), each the rows it would compute in a team product of as many rows. */
    @Override
    void splitRows(Matrix x, Matrix y, Matrix z, RowPass pass) {
        try {
            ROWS.invokeExact(x, y, z, threads(), pass);
        } catch (Throwable e) {
            throw unchecked("rows", e);
        }
    }

    /** On the GEMM's threads ({@code Gemm.ranges}), equal parts cut at whole vectors. */
    @Override
    void splitElements(int n, boolean sharable, RowPass pass) {
        try {
            RANGES.invokeExact(n, L, sharable, threads(), pass);
        } catch (Throwable e) {
            throw unchecked("ranges", e);
        }
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    void hadamard(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromMemorySegment(S, a, (ao + i) * Float.BYTES, LE).mul(FloatVector.fromMemorySegment(S, b, (bo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
        }
        for (; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, a.getAtIndex(FLOAT, ao + i) * b.getAtIndex(FLOAT, bo + i));
        }
    }

    @Override
    void subtract(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromMemorySegment(S, a, (ao + i) * Float.BYTES, LE).sub(FloatVector.fromMemorySegment(S, b, (bo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
        }
        for (; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, a.getAtIndex(FLOAT, ao + i) - b.getAtIndex(FLOAT, bo + i));
        }
    }

    /** max(z, 0), which keeps NaN. */
    private static FloatVector relu(FloatVector z) {
        return z.max(0f);
    }

    private static FloatVector leakyRelu(FloatVector z) {
        return z.max(z.mul(Activation.LEAKY_SLOPE));
    }

    @Override
    void activate(Activation f, MemorySegment z, long zo, MemorySegment out, long oo, int n) {
        int bound = S.loopBound(n);
        // A switch expression, so an activation added to the enum without its vector form does not compile;
        // each case yields how many elements it computed, the scalar tail does the rest.
        int done = switch (f) {
            case IDENTITY -> {
                if (z != out || zo != oo) MemorySegment.copy(z, zo * Float.BYTES, out, oo * Float.BYTES, (long) n * Float.BYTES);
                yield n;
            }
            case SIGMOID -> {
                for (int i = 0; i < bound; i += L) {
                    VectorMath.sigmoid(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case TANH -> {
                for (int i = 0; i < bound; i += L) {
                    FloatVector zv = FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE);
                    VectorMath.tanh(zv).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case RELU -> {
                for (int i = 0; i < bound; i += L) {
                    relu(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case LEAKY_RELU -> {
                for (int i = 0; i < bound; i += L) {
                    leakyRelu(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case GELU -> {
                for (int i = 0; i < bound; i += L) {
                    VectorMath.gelu(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case GELU_TANH -> {
                for (int i = 0; i < bound; i += L) {
                    VectorMath.geluTanh(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case SILU -> {
                for (int i = 0; i < bound; i += L) {
                    VectorMath.silu(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
        for (int i = done; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, ScalarKernels.f(f, z.getAtIndex(FLOAT, zo + i)));
        }
    }

    @Override
    void activationBackward(Activation f, MemorySegment z, long zo, MemorySegment g, long go,
                                      MemorySegment out, long oo, int n) {
        int bound = S.loopBound(n);
        int done = switch (f) {                                 // exhaustive, as in activate
            case IDENTITY -> {
                if (g != out || go != oo) MemorySegment.copy(g, go * Float.BYTES, out, oo * Float.BYTES, (long) n * Float.BYTES);
                yield n;
            }
            case SIGMOID -> {
                for (int i = 0; i < bound; i += L) {            // g ⊙ σ(z)(1 − σ(z))
                    FloatVector zv = FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE);
                    FloatVector s = ONE.div(VectorMath.exp(zv.neg()).add(1f));
                    FloatVector gv = FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE);
                    gv.mul(s).mul(s.neg().add(1f)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case TANH -> {
                for (int i = 0; i < bound; i += L) {            // g ⊙ (1 − tanh²(z))
                    FloatVector t = VectorMath.tanh(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE));
                    FloatVector gv = FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE);
                    gv.mul(t.mul(t).neg().add(1f)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case RELU, LEAKY_RELU -> {
                // g ⊙ f'(z): f' is 1 where z > 0, the slope (0 or LEAKY_SLOPE) elsewhere, NaN where z is NaN
                FloatVector slope = FloatVector.broadcast(S, f == Activation.RELU ? 0f : Activation.LEAKY_SLOPE);
                for (int i = 0; i < bound; i += L) {
                    FloatVector zv = FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE);
                    FloatVector d = slope.blend(ONE, zv.compare(VectorOperators.GT, 0f)).blend(zv, zv.test(VectorOperators.IS_NAN));
                    FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE).mul(d)
                            .intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case GELU -> {
                for (int i = 0; i < bound; i += L) {            // g ⊙ (Φ(z) + z·φ(z))
                    FloatVector d = VectorMath.geluPrime(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE));
                    FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE).mul(d).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case GELU_TANH -> {
                for (int i = 0; i < bound; i += L) {
                    FloatVector d = VectorMath.geluTanhPrime(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE));
                    FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE).mul(d).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case SILU -> {
                for (int i = 0; i < bound; i += L) {            // g ⊙ σ(z)(1 + z(1 − σ(z)))
                    FloatVector d = VectorMath.siluPrime(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE));
                    FloatVector.fromMemorySegment(S, g, (go + i) * Float.BYTES, LE).mul(d).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                }
                yield bound;
            }
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
        for (int i = done; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i,
                    g.getAtIndex(FLOAT, go + i) * ScalarKernels.fPrime(f, z.getAtIndex(FLOAT, zo + i)));
        }
    }

    @Override
    void layerNormRow(MemorySegment x, long xo, MemorySegment gamma, long go, MemorySegment beta, long bo,
                                float epsilon, MemorySegment out, long oo, int n, MemorySegment stats, long so) {
        int bound = S.loopBound(n);
        FloatVector vs = FloatVector.zero(S);
        for (int i = 0; i < bound; i += L) vs = vs.add(FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE));
        float sum = Lanes.sum(vs);
        for (int i = bound; i < n; i++) sum += x.getAtIndex(FLOAT, xo + i);
        float mean = sum / n;
        FloatVector vq = FloatVector.zero(S);               // two passes: no cancellation in Σx² − n·μ²
        for (int i = 0; i < bound; i += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).sub(mean);
            vq = d.fma(d, vq);
        }
        float squares = Lanes.sum(vq);
        for (int i = bound; i < n; i++) {
            float d = x.getAtIndex(FLOAT, xo + i) - mean;
            squares += d * d;
        }
        float rstd = (float) (1 / Math.sqrt(squares / n + epsilon));
        for (int i = 0; i < bound; i += L) {                // (x − μ)·ρ ⊙ γ + β
            FloatVector xhat = FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).sub(mean).mul(rstd);
            xhat.fma(FloatVector.fromMemorySegment(S, gamma, (go + i) * Float.BYTES, LE),
                    FloatVector.fromMemorySegment(S, beta, (bo + i) * Float.BYTES, LE)).intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
        }
        for (int i = bound; i < n; i++) {
            float xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            out.setAtIndex(FLOAT, oo + i, Math.fma(xhat, gamma.getAtIndex(FLOAT, go + i), beta.getAtIndex(FLOAT, bo + i)));
        }
        if (stats != null) {
            stats.setAtIndex(FLOAT, so, mean);
            stats.setAtIndex(FLOAT, so + 1, rstd);
        }
    }

    @Override
    void layerNormBackwardRow(MemorySegment x, long xo, float mean, float rstd, MemorySegment gamma, long go,
                                        MemorySegment g, long gOff, MemorySegment dx, long dxo, MemorySegment dGamma,
                                        long dgo, MemorySegment dBeta, long dbo, int n) {
        int bound = S.loopBound(n);
        FloatVector vg = FloatVector.zero(S), vgx = FloatVector.zero(S);
        for (int i = 0; i < bound; i += L) {                // Σ ĝ, Σ ĝ ⊙ x̂; dGamma += g ⊙ x̂, dBeta += g
            FloatVector gi = FloatVector.fromMemorySegment(S, g, (gOff + i) * Float.BYTES, LE);
            FloatVector xhat = FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).sub(mean).mul(rstd);
            FloatVector gh = gi.mul(FloatVector.fromMemorySegment(S, gamma, (go + i) * Float.BYTES, LE));
            vg = vg.add(gh);
            vgx = gh.fma(xhat, vgx);
            gi.fma(xhat, FloatVector.fromMemorySegment(S, dGamma, (dgo + i) * Float.BYTES, LE)).intoMemorySegment(dGamma, (dgo + i) * Float.BYTES, LE);
            gi.add(FloatVector.fromMemorySegment(S, dBeta, (dbo + i) * Float.BYTES, LE)).intoMemorySegment(dBeta, (dbo + i) * Float.BYTES, LE);
        }
        float sumG = Lanes.sum(vg), sumGx = Lanes.sum(vgx);
        for (int i = bound; i < n; i++) {
            float gi = g.getAtIndex(FLOAT, gOff + i), xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            float gh = gi * gamma.getAtIndex(FLOAT, go + i);
            sumG += gh;
            sumGx += gh * xhat;
            dGamma.setAtIndex(FLOAT, dgo + i, dGamma.getAtIndex(FLOAT, dgo + i) + gi * xhat);
            dBeta.setAtIndex(FLOAT, dbo + i, dBeta.getAtIndex(FLOAT, dbo + i) + gi);
        }
        float meanG = sumG / n, meanGx = sumGx / n;
        for (int i = 0; i < bound; i += L) {                // ρ·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)), after the sums: dx may be g
            FloatVector xhat = FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).sub(mean).mul(rstd);
            FloatVector gh = FloatVector.fromMemorySegment(S, g, (gOff + i) * Float.BYTES, LE)
                    .mul(FloatVector.fromMemorySegment(S, gamma, (go + i) * Float.BYTES, LE));
            gh.sub(meanG).sub(xhat.mul(meanGx)).mul(rstd).intoMemorySegment(dx, (dxo + i) * Float.BYTES, LE);
        }
        for (int i = bound; i < n; i++) {
            float xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            float gh = g.getAtIndex(FLOAT, gOff + i) * gamma.getAtIndex(FLOAT, go + i);
            dx.setAtIndex(FLOAT, dxo + i, rstd * (gh - meanG - xhat * meanGx));
        }
    }

    /**
     * The last {@code n mod L} columns go through {@link VectorMath#exp(float)}, the vector exp's scalar
     * twin, rather than {@code Math.exp} (about 15 ns per element, and an output layer of 10 classes
     * is all tail) or a masked vector (slow until C2 has compiled it; see that method).
     */
    @Override
    void softmaxRow(MemorySegment z, long zo, MemorySegment out, long oo, int n) {
        int bound = S.loopBound(n);
        float max = Float.NEGATIVE_INFINITY, sum = 0f;
        if (bound > 0) {
            FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int i = 0; i < bound; i += L) {
                vmax = vmax.max(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE));
            }
            max = vmax.reduceLanes(VectorOperators.MAX);
        }
        for (int i = bound; i < n; i++) {
            max = Math.max(max, z.getAtIndex(FLOAT, zo + i));
        }
        if (bound > 0) {
            FloatVector vsum = FloatVector.zero(S);
            for (int i = 0; i < bound; i += L) {
                FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(S, z, (zo + i) * Float.BYTES, LE).sub(max));
                e.intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
                vsum = vsum.add(e);
            }
            sum = Lanes.sum(vsum);
        }
        for (int i = bound; i < n; i++) {
            float e = VectorMath.exp(z.getAtIndex(FLOAT, zo + i) - max);
            out.setAtIndex(FLOAT, oo + i, e);
            sum += e;
        }
        scale(1f / sum, out, oo, n);
    }


    @Override
    void vecMatBf16(MemorySegment x, long xo, Bf16Weights w, MemorySegment z, long zo) {
        VectorBf16.vecMat(x, xo, w, z, zo);
    }

    @Override
    void axpy(float alpha, MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        FloatVector alphaV = FloatVector.broadcast(S, alpha);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).fma(alphaV, FloatVector.fromMemorySegment(S, y, (yo + i) * Float.BYTES, LE)).intoMemorySegment(y, (yo + i) * Float.BYTES, LE);
        }
        for (; i < n; i++) {
            y.setAtIndex(FLOAT, yo + i, y.getAtIndex(FLOAT, yo + i) + alpha * x.getAtIndex(FLOAT, xo + i));
        }
    }

    @Override
    void scale(float alpha, MemorySegment x, long xo, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromMemorySegment(S, x, (xo + i) * Float.BYTES, LE).mul(alpha).intoMemorySegment(x, (xo + i) * Float.BYTES, LE);
        }
        for (; i < n; i++) {
            x.setAtIndex(FLOAT, xo + i, alpha * x.getAtIndex(FLOAT, xo + i));
        }
    }

    @Override
    void columnSums(float alpha, MemorySegment m, long mo, int rows, int cols, int stride, float beta,
                              MemorySegment out, long oo) {
        FloatVector betaV = FloatVector.broadcast(S, beta);
        int j = 0;
        for (int bound = S.loopBound(cols); j < bound; j += L) {
            FloatVector sum = FloatVector.zero(S);
            for (int r = 0; r < rows; r++) {
                sum = sum.add(FloatVector.fromMemorySegment(S, m, (mo + (long) r * stride + j) * Float.BYTES, LE));
            }
            sum = sum.mul(alpha);
            if (beta != 0f) sum = FloatVector.fromMemorySegment(S, out, (oo + j) * Float.BYTES, LE).fma(betaV, sum);
            sum.intoMemorySegment(out, (oo + j) * Float.BYTES, LE);
        }
        ScalarKernels.columnSums(alpha, m, mo, rows, j, cols, stride, beta, out, oo);
    }

    // ---------------------------------------------------------------- losses

    /**
     * Σ of the loss terms. The cross-entropies take their logarithms through the scalar definition
     * ({@link ScalarKernels#lossTerm}): the Vector API's {@code LOG} lane operation can differ in the last
     * bit between C2's intrinsic and the code that runs before this method is compiled, so a batch's loss
     * depended on when the JIT got to it (two Spark exchanges that trained the same bits reported losses
     * differing in the ninth digit, and a {@code tol} test on the loss could then stop at different
     * epochs). The loss is computed once per batch over its outputs, so the scalar logarithm costs little.
     */
    @Override
    double lossSum(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo, int n) {
        if (loss != Loss.QUADRATIC) return ScalarKernels.INSTANCE.lossSum(loss, a, ao, y, yo, n);
        int bound = S.loopBound(n);
        double sum = 0;
        for (int i = 0; i < bound; i += L) {
            FloatVector av = FloatVector.fromMemorySegment(S, a, (ao + i) * Float.BYTES, LE), yv = FloatVector.fromMemorySegment(S, y, (yo + i) * Float.BYTES, LE);
            FloatVector d = av.sub(yv);
            sum += Lanes.sum(d.mul(d).mul(0.5f));   // per-vector reduction keeps the long sum in double
        }
        for (int i = bound; i < n; i++) {
            sum += ScalarKernels.lossTerm(loss, a.getAtIndex(FLOAT, ao + i), y.getAtIndex(FLOAT, yo + i));
        }
        return sum;
    }

    @Override
    void lossGradient(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo, MemorySegment out,
                                long oo, int n) {
        int bound = S.loopBound(n);
        for (int i = 0; i < bound; i += L) {
            FloatVector av = FloatVector.fromMemorySegment(S, a, (ao + i) * Float.BYTES, LE), yv = FloatVector.fromMemorySegment(S, y, (yo + i) * Float.BYTES, LE);
            FloatVector grad = switch (loss) {
                case QUADRATIC -> av.sub(yv);
                case BINARY_CROSS_ENTROPY -> av.sub(yv).div(av.mul(av.neg().add(1f)).max(Loss.LOG_EPSILON));
                case SOFTMAX_CROSS_ENTROPY -> yv.neg().div(av.max(Loss.LOG_EPSILON));
            };
            grad.intoMemorySegment(out, (oo + i) * Float.BYTES, LE);
        }
        for (int i = bound; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i,
                    ScalarKernels.lossGrad(loss, a.getAtIndex(FLOAT, ao + i), y.getAtIndex(FLOAT, yo + i)));
        }
    }

    /** Vector max over the row, then a scalar scan for its first position; a NaN is the maximum. */
    @Override
    int argmaxRow(MemorySegment m, long mo, int n) {
        int bound = S.loopBound(n);
        float max = Float.NEGATIVE_INFINITY;
        if (bound > 0) {
            FloatVector vmax = FloatVector.fromMemorySegment(S, m, (mo) * Float.BYTES, LE);
            for (int i = L; i < bound; i += L) {
                vmax = vmax.max(FloatVector.fromMemorySegment(S, m, (mo + i) * Float.BYTES, LE));
            }
            max = vmax.reduceLanes(VectorOperators.MAX);
        }
        for (int i = bound; i < n; i++) {
            max = Math.max(max, m.getAtIndex(FLOAT, mo + i));
        }
        for (int i = 0; i < n; i++) {
            float v = m.getAtIndex(FLOAT, mo + i);
            if (v == max || (max != max && v != v)) return i;
        }
        return 0;
    }

    // ---------------------------------------------------------------- optimizer updates

    @Override
    void momentumStep(MemorySegment theta, long to, MemorySegment grad, long go, MemorySegment velocity,
                                long vo, MemorySegment mask, long mo, int n, float lr, float momentum,
                                float weightDecay, boolean nesterov) {
        int i = 0;
        boolean decay = weightDecay != 0f;                 // λ = 0 reads no mask (C2 unswitches the loop on it)
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector th = FloatVector.fromMemorySegment(S, theta, (to + i) * Float.BYTES, LE);
            FloatVector g = FloatVector.fromMemorySegment(S, grad, (go + i) * Float.BYTES, LE);
            if (decay) g = FloatVector.fromMemorySegment(S, mask, (mo + i) * Float.BYTES, LE).mul(weightDecay).fma(th, g);
            FloatVector v = FloatVector.fromMemorySegment(S, velocity, (vo + i) * Float.BYTES, LE).mul(momentum).sub(g.mul(lr));
            v.intoMemorySegment(velocity, (vo + i) * Float.BYTES, LE);
            (nesterov ? th.add(v.mul(momentum)).sub(g.mul(lr)) : th.add(v)).intoMemorySegment(theta, (to + i) * Float.BYTES, LE);
        }
        if (i < n) {
            ScalarKernels.INSTANCE.momentumStep(theta, to + i, grad, go + i, velocity, vo + i, mask, mo + i, n - i,
                    lr, momentum, weightDecay, nesterov);
        }
    }

    @Override
    void adamStep(MemorySegment theta, long to, MemorySegment grad, long go, MemorySegment m, long mo,
                            MemorySegment v, long vo, MemorySegment mask, long ko, int n, float stepSize, float beta1,
                            float beta2, float epsilon, float weightDecay, float vScale) {
        int i = 0;
        boolean decay = weightDecay != 0f;                 // λ = 0 reads no mask (C2 unswitches the loop on it)
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector th = FloatVector.fromMemorySegment(S, theta, (to + i) * Float.BYTES, LE);
            FloatVector g = FloatVector.fromMemorySegment(S, grad, (go + i) * Float.BYTES, LE);
            if (decay) g = FloatVector.fromMemorySegment(S, mask, (ko + i) * Float.BYTES, LE).mul(weightDecay).fma(th, g);
            g = g.blend(0f, g.abs().lt(Float.MIN_NORMAL));                  // subnormals flushed (see Kernels.adamStep)
            FloatVector mi = FloatVector.fromMemorySegment(S, m, (mo + i) * Float.BYTES, LE).mul(beta1).add(g.mul(1f - beta1));
            FloatVector vi = FloatVector.fromMemorySegment(S, v, (vo + i) * Float.BYTES, LE).mul(beta2).add(g.mul(g).mul(1f - beta2));
            mi = mi.blend(0f, mi.abs().lt(Float.MIN_NORMAL));
            vi = vi.blend(0f, vi.lt(Float.MIN_NORMAL));
            mi.intoMemorySegment(m, (mo + i) * Float.BYTES, LE);
            vi.intoMemorySegment(v, (vo + i) * Float.BYTES, LE);
            FloatVector denominator = vi.sqrt().mul(vScale).add(epsilon);
            th.sub(mi.div(denominator).mul(stepSize)).intoMemorySegment(theta, (to + i) * Float.BYTES, LE);
        }
        if (i < n) {
            ScalarKernels.INSTANCE.adamStep(theta, to + i, grad, go + i, m, mo + i, v, vo + i, mask, ko + i, n - i,
                    stepSize, beta1, beta2, epsilon, weightDecay, vScale);
        }
    }
}
