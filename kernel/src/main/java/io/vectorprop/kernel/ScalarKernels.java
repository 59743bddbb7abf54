package io.vectorprop.kernel;

import java.lang.foreign.MemorySegment;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * The scalar reference: plain loops, one element at a time, written for clarity. Tests use it as
 * the oracle for the Vector API implementation and benchmarks as the baseline. The per-element
 * functions ({@link #f}, {@link #fPrime}, {@link #lossTerm}, {@link #lossGrad}) are the definitions
 * the rest of the library follows.
 */
final class ScalarKernels extends Kernels {
    static final ScalarKernels INSTANCE = new ScalarKernels(1);

    private ScalarKernels(int threads) {
        super(threads);
    }

    @Override public String name() { return "scalar"; }

    @Override public String description() { return "scalar reference kernels (plain loops, no SIMD)"; }

    @Override Kernels newInstance(int threads) { return new ScalarKernels(threads); }

    @Override int floatLanes() { return 1; }

    // ---------------------------------------------------------------- per-element definitions

    /** {@code f(z)} for an element-wise activation. */
    static float f(Activation act, float z) {
        return switch (act) {
            case IDENTITY -> z;
            case SIGMOID -> (float) (1.0 / (1.0 + Math.exp(-z)));
            case TANH -> (float) Math.tanh(z);
            case RELU -> Math.max(z, 0f);                    // Math.max keeps NaN a NaN
            case LEAKY_RELU -> Math.max(z, Activation.LEAKY_SLOPE * z); // slope < 1
            case GELU -> (float) (Math.max(z, -VectorMath.GELU_FLAT)
                    * halfPlusOddRational(geluFlat(z), VectorMath.GELU_CDF_P, VectorMath.GELU_CDF_Q));
            case GELU_TANH -> (float) (Math.max(z, -VectorMath.GELU_TANH_FLAT)
                    * halfPlusOddRational(geluTanhFlat(z), VectorMath.GELU_TANH_P, VectorMath.GELU_TANH_Q));
            case SILU -> {
                double c = Math.max(z, -VectorMath.SILU_FLAT);
                yield (float) (c / (1.0 + Math.exp(-c)));
            }
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
    }

    /** ½ + z·P(z²)/Q(z²), the rational forms of {@link VectorMath#GELU_CDF_P} in double precision. */
    private static double halfPlusOddRational(double z, float[] p, float[] q) {
        double t = z * z, num = 0, den = 0;
        for (int i = p.length - 1; i >= 0; i--) num = num * t + p[i];
        for (int i = q.length - 1; i >= 0; i--) den = den * t + q[i];
        return 0.5 + z * num / den;
    }

    /** z clamped to ±{@link VectorMath#GELU_FLAT}, where GELU is flat to fp32 precision (NaN stays NaN). */
    private static double geluFlat(float z) {
        return Math.min(Math.max(z, -VectorMath.GELU_FLAT), VectorMath.GELU_FLAT);
    }

    private static double geluTanhFlat(float z) {
        return Math.min(Math.max(z, -VectorMath.GELU_TANH_FLAT), VectorMath.GELU_TANH_FLAT);
    }

    /** {@code f'(z)}. ReLU's derivative at 0 is taken as 0. */
    static float fPrime(Activation act, float z) {
        return switch (act) {
            case IDENTITY -> 1f;
            case SIGMOID -> {
                float s = f(Activation.SIGMOID, z);
                yield s * (1f - s);
            }
            case TANH -> {
                float t = (float) Math.tanh(z);
                yield 1f - t * t;
            }
            case RELU -> z > 0f ? 1f : (z != z ? z : 0f);
            case LEAKY_RELU -> z > 0f ? 1f : (z != z ? z : Activation.LEAKY_SLOPE);
            case GELU -> (float) halfPlusOddRational(geluFlat(z), VectorMath.GELU_PRIME_P, VectorMath.GELU_PRIME_Q);
            case GELU_TANH -> (float) halfPlusOddRational(geluTanhFlat(z), VectorMath.GELU_TANH_PRIME_P,
                    VectorMath.GELU_TANH_PRIME_Q);
            case SILU -> {
                double c = Math.min(Math.max(z, -VectorMath.SILU_FLAT), VectorMath.SILU_FLAT);
                double s = 1 / (1 + Math.exp(-c));
                yield (float) (s * (1 + c * (1 - s)));
            }
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
    }

    /**
     * The loss term of one output element. Softmax cross-entropy skips the logarithm where y = 0 (all
     * but one output of a one-hot target): the term is then ±0, and a sum that starts from +0 is the same
     * with or without it; a NaN target still gives NaN.
     */
    static double lossTerm(Loss loss, float a, float y) {
        return switch (loss) {
            case QUADRATIC -> 0.5 * (double) (a - y) * (a - y);
            case BINARY_CROSS_ENTROPY -> -(y * Math.log(Math.max(a, Loss.LOG_EPSILON))
                    + (1 - y) * Math.log(Math.max(1 - a, Loss.LOG_EPSILON)));
            case SOFTMAX_CROSS_ENTROPY -> y == 0f ? 0.0 : -y * Math.log(Math.max(a, Loss.LOG_EPSILON));
        };
    }

    /** ∂C/∂a of one output element. */
    static float lossGrad(Loss loss, float a, float y) {
        return switch (loss) {
            case QUADRATIC -> a - y;
            case BINARY_CROSS_ENTROPY -> (a - y) / Math.max(a * (1f - a), Loss.LOG_EPSILON);
            case SOFTMAX_CROSS_ENTROPY -> -y / Math.max(a, Loss.LOG_EPSILON);
        };
    }

    // ---------------------------------------------------------------- GEMM

    /** Row by row: {@code C[i,:] = β·C[i,:]}, then {@code C[i,:] += (α·op(A)[i,p])·op(B)[p,:]} for each p. */
    @Override
    void gemmKernel(Transpose transA, Transpose transB, float alpha, Matrix a, Matrix b, float beta,
                              Matrix c) {
        int m = c.rows(), n = c.cols(), k = transA.cols(a);
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        // Element strides of op(A) and op(B) along their row (i or p) and column (p or j) directions.
        long aRow = transA == Transpose.N ? a.stride() : 1, aCol = transA == Transpose.N ? 1 : a.stride();
        long bRow = transB == Transpose.N ? b.stride() : 1, bCol = transB == Transpose.N ? 1 : b.stride();
        for (int i = 0; i < m; i++) {
            long ci = c.offset() + (long) i * c.stride();
            for (int j = 0; j < n; j++) {
                float old = beta == 0f ? 0f : beta * cs.getAtIndex(FLOAT, ci + j);
                cs.setAtIndex(FLOAT, ci + j, old);
            }
            for (int p = 0; p < k; p++) {
                float aip = alpha * as.getAtIndex(FLOAT, a.offset() + i * aRow + p * aCol);
                long bp = b.offset() + p * bRow;
                for (int j = 0; j < n; j++) {
                    float cij = cs.getAtIndex(FLOAT, ci + j);
                    cs.setAtIndex(FLOAT, ci + j, cij + aip * bs.getAtIndex(FLOAT, bp + j * bCol));
                }
            }
        }
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    void hadamard(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n) {
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, a.getAtIndex(FLOAT, ao + i) * b.getAtIndex(FLOAT, bo + i));
        }
    }

    @Override
    void subtract(MemorySegment a, long ao, MemorySegment b, long bo, MemorySegment out, long oo, int n) {
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, a.getAtIndex(FLOAT, ao + i) - b.getAtIndex(FLOAT, bo + i));
        }
    }

    @Override
    void activate(Activation act, MemorySegment z, long zo, MemorySegment out, long oo, int n) {
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, f(act, z.getAtIndex(FLOAT, zo + i)));
        }
    }

    @Override
    void activationBackward(Activation act, MemorySegment z, long zo, MemorySegment g, long go,
                                      MemorySegment out, long oo, int n) {
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, g.getAtIndex(FLOAT, go + i) * fPrime(act, z.getAtIndex(FLOAT, zo + i)));
        }
    }

    @Override
    void layerNormRow(MemorySegment x, long xo, MemorySegment gamma, long go, MemorySegment beta, long bo,
                                float epsilon, MemorySegment out, long oo, int n, MemorySegment stats, long so) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x.getAtIndex(FLOAT, xo + i);
        float mean = (float) (sum / n);
        double squares = 0;                                 // two passes: no cancellation in Σx² − n·μ²
        for (int i = 0; i < n; i++) {
            double d = x.getAtIndex(FLOAT, xo + i) - mean;
            squares += d * d;
        }
        float rstd = (float) (1 / Math.sqrt(squares / n + epsilon));
        for (int i = 0; i < n; i++) {
            float xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            out.setAtIndex(FLOAT, oo + i, xhat * gamma.getAtIndex(FLOAT, go + i) + beta.getAtIndex(FLOAT, bo + i));
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
        double sumG = 0, sumGx = 0;                         // Σ ĝ and Σ ĝ ⊙ x̂, ĝ = g ⊙ γ
        for (int i = 0; i < n; i++) {
            float gi = g.getAtIndex(FLOAT, gOff + i), xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            float gh = gi * gamma.getAtIndex(FLOAT, go + i);
            sumG += gh;
            sumGx += gh * xhat;
            dGamma.setAtIndex(FLOAT, dgo + i, dGamma.getAtIndex(FLOAT, dgo + i) + gi * xhat);
            dBeta.setAtIndex(FLOAT, dbo + i, dBeta.getAtIndex(FLOAT, dbo + i) + gi);
        }
        float meanG = (float) (sumG / n), meanGx = (float) (sumGx / n);
        for (int i = 0; i < n; i++) {                       // after the sums: dx may be g itself
            float xhat = (x.getAtIndex(FLOAT, xo + i) - mean) * rstd;
            float gh = g.getAtIndex(FLOAT, gOff + i) * gamma.getAtIndex(FLOAT, go + i);
            dx.setAtIndex(FLOAT, dxo + i, rstd * (gh - meanG - xhat * meanGx));
        }
    }

    @Override
    void softmaxRow(MemorySegment z, long zo, MemorySegment out, long oo, int n) {
        float max = Float.NEGATIVE_INFINITY;
        boolean nan = false;
        for (int i = 0; i < n; i++) {
            float v = z.getAtIndex(FLOAT, zo + i);
            nan |= v != v;
            max = Math.max(max, v);
        }
        if (nan) max = Float.NaN;
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(z.getAtIndex(FLOAT, zo + i) - max);
            out.setAtIndex(FLOAT, oo + i, e);
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, out.getAtIndex(FLOAT, oo + i) * inv);
        }
    }

    @Override
    void vecMatBf16(MemorySegment x, long xo, Bf16Weights w, MemorySegment z, long zo) {
        for (int j = 0; j < w.out(); j++) {
            float acc = 0f;
            for (int k = 0; k < w.in(); k++) acc = Math.fma(x.getAtIndex(FLOAT, xo + k), w.get(j, k), acc);
            z.setAtIndex(FLOAT, zo + j, acc);
        }
    }

    @Override
    void axpy(float alpha, MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        for (int i = 0; i < n; i++) {
            y.setAtIndex(FLOAT, yo + i, y.getAtIndex(FLOAT, yo + i) + alpha * x.getAtIndex(FLOAT, xo + i));
        }
    }

    @Override
    void scale(float alpha, MemorySegment x, long xo, int n) {
        for (int i = 0; i < n; i++) {
            x.setAtIndex(FLOAT, xo + i, alpha * x.getAtIndex(FLOAT, xo + i));
        }
    }

    @Override
    void columnSums(float alpha, MemorySegment m, long mo, int rows, int cols, int stride, float beta,
                              MemorySegment out, long oo) {
        columnSums(alpha, m, mo, rows, 0, cols, stride, beta, out, oo);
    }

    /** The reference column sums for columns [from, cols): also the SIMD kernel's tail. */
    static void columnSums(float alpha, MemorySegment m, long mo, int rows, int from, int cols, int stride, float beta,
                           MemorySegment out, long oo) {
        for (int j = from; j < cols; j++) {
            float sum = 0f;
            for (int r = 0; r < rows; r++) {
                sum += m.getAtIndex(FLOAT, mo + (long) r * stride + j);
            }
            float old = beta == 0f ? 0f : beta * out.getAtIndex(FLOAT, oo + j);
            out.setAtIndex(FLOAT, oo + j, alpha * sum + old);
        }
    }

    // ---------------------------------------------------------------- losses

    @Override
    double lossSum(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += lossTerm(loss, a.getAtIndex(FLOAT, ao + i), y.getAtIndex(FLOAT, yo + i));
        }
        return sum;
    }

    @Override
    void lossGradient(Loss loss, MemorySegment a, long ao, MemorySegment y, long yo, MemorySegment out,
                                long oo, int n) {
        for (int i = 0; i < n; i++) {
            out.setAtIndex(FLOAT, oo + i, lossGrad(loss, a.getAtIndex(FLOAT, ao + i), y.getAtIndex(FLOAT, yo + i)));
        }
    }

    @Override
    int argmaxRow(MemorySegment m, long mo, int n) {
        int best = 0;
        float max = m.getAtIndex(FLOAT, mo);
        for (int i = 1; i < n && max == max; i++) {
            float v = m.getAtIndex(FLOAT, mo + i);
            if (v > max || v != v) {
                max = v;
                best = i;
            }
        }
        return best;
    }

    // ---------------------------------------------------------------- optimizer updates

    @Override
    void momentumStep(MemorySegment theta, long to, MemorySegment grad, long go, MemorySegment velocity,
                                long vo, MemorySegment mask, long mo, int n, float lr, float momentum,
                                float weightDecay, boolean nesterov) {
        for (int i = 0; i < n; i++) {
            float th = theta.getAtIndex(FLOAT, to + i);
            float g = grad.getAtIndex(FLOAT, go + i);
            if (weightDecay != 0f) g = weightDecay * mask.getAtIndex(FLOAT, mo + i) * th + g;   // λ = 0 reads no mask
            float v = momentum * velocity.getAtIndex(FLOAT, vo + i) - lr * g;
            velocity.setAtIndex(FLOAT, vo + i, v);
            theta.setAtIndex(FLOAT, to + i, nesterov ? th + momentum * v - lr * g : th + v);
        }
    }

    @Override
    void adamStep(MemorySegment theta, long to, MemorySegment grad, long go, MemorySegment m, long mo,
                            MemorySegment v, long vo, MemorySegment mask, long ko, int n, float stepSize, float beta1,
                            float beta2, float epsilon, float weightDecay, float vScale) {
        for (int i = 0; i < n; i++) {
            float th = theta.getAtIndex(FLOAT, to + i);
            float g = grad.getAtIndex(FLOAT, go + i);
            if (weightDecay != 0f) g = weightDecay * mask.getAtIndex(FLOAT, ko + i) * th + g;   // λ = 0 reads no mask
            if (Math.abs(g) < Float.MIN_NORMAL) g = 0f;                     // subnormals flushed (see Kernels.adamStep)
            float mi = beta1 * m.getAtIndex(FLOAT, mo + i) + (1f - beta1) * g;
            float vi = beta2 * v.getAtIndex(FLOAT, vo + i) + (1f - beta2) * g * g;
            if (Math.abs(mi) < Float.MIN_NORMAL) mi = 0f;
            if (vi < Float.MIN_NORMAL) vi = 0f;
            m.setAtIndex(FLOAT, mo + i, mi);
            v.setAtIndex(FLOAT, vo + i, vi);
            float denominator = (float) Math.sqrt(vi) * vScale + epsilon;
            theta.setAtIndex(FLOAT, to + i, th - mi / denominator * stepSize);
        }
    }
}
