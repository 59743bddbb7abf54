package io.vectorprop.kernel.internal;

/**
 * Rows {@code [from, to)} of an element-wise pass over a matrix ({@code io.vectorprop.kernel.gemm.Gemm#rows}),
 * or elements {@code [from, to)} of one over flat arrays ({@code Gemm#ranges}): the part of the pass that
 * one thread of the GEMM's pool computes.
 */
@FunctionalInterface
public interface RowPass {
    void compute(int from, int to);
}
