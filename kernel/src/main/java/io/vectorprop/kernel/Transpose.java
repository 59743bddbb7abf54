package io.vectorprop.kernel;

/** Whether a GEMM operand is used as stored ({@code N}) or transposed ({@code T}). An enum: immutable, safe from any thread. */
public enum Transpose {
    N, T;

    /** Rows of op(M). */
    public int rows(Matrix m) { return this == N ? m.rows() : m.cols(); }

    /** Columns of op(M). */
    public int cols(Matrix m) { return this == N ? m.cols() : m.rows(); }
}
