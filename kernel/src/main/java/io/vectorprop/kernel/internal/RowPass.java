package io.vectorprop.kernel.internal;

/**
 * Rows {@code [from, to)} of an element-wise pass over a matrix, for {@code io.vectorprop.kernel.gemm.Gemm#rows}
 * to hand to the threads of the GEMM's pool.
 */
@FunctionalInterface
public interface RowPass {
    void compute(int from, int to);
}
