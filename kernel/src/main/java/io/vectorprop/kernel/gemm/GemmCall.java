package io.vectorprop.kernel.gemm;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * One product {@code C = α·op(A)·op(B) + β·C}, already checked by {@code Kernels.gemm}: op(A) is M×K,
 * op(B) K×N, C M×N and overlapping neither; with a {@code bias} (1 × N, or null), {@code C = 1·biasᵀ + α·op(A)·op(B)}
 * with β = 0, the bias where the accumulators start (packed path only, see {@link Gemm#linear}). What the threads of one split product share (immutable);
 * made only for a split product, see {@link GemmThreads}.
 */
record GemmCall(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, Matrix bias) {
    /** Rows of C and of op(A). */
    int m() { return c.rows(); }

    /** Columns of C and of op(B). */
    int n() { return c.cols(); }

    /** The shared dimension: columns of op(A), rows of op(B). */
    int k() { return ta.cols(a); }
}
