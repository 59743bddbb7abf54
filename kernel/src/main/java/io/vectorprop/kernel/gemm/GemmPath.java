package io.vectorprop.kernel.gemm;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * The ways a product {@code C = α·op(A)·op(B) + β·C} is computed. Each path's class holds its selection
 * rule, its thresholds and its kernel ({@link DotProducts}, {@link RowCombinations}, {@link PackedLoops});
 * this enum names them, says how threads split each, and dispatches. Picked once per call from the
 * whole problem's shape, so every block of a split product goes the same way. The switches are
 * exhaustive: a new path that does not say how it splits and computes does not compile.
 */
enum GemmPath {
    /** BLIS-style: packed, zero-padded panels and the MR × NR micro-kernel. */
    PACKED,
    /** NT with few rows: dot products of rows of A with rows of B, no packing. */
    DOT_NT,
    /** B as stored with few rows or a short k: rows of C as combinations of rows of B, no packing. */
    ROWS_NN;

    /** The path for a product of this shape and β: the first of the unpacked paths whose rule takes it, else packed. */
    static GemmPath select(Transpose ta, Transpose tb, int m, int k, float beta) {
        if (DotProducts.applies(ta, tb, m, k)) return DOT_NT;
        if (RowCombinations.applies(ta, tb, m, k, beta)) return ROWS_NN;
        return PACKED;
    }

    /**
     * Whether threads split C into blocks of columns (else of rows): the dot path always (it streams
     * rows of B), the packed path when C is at least as wide as tall, the row path never (it computes
     * whole rows).
     */
    boolean splitsByColumns(int m, int n) {
        return switch (this) {
            case PACKED -> n >= m;
            case DOT_NT -> true;
            case ROWS_NN -> false;
        };
    }

    /** The granule of a split, so that no block cuts a micro-tile or a dot-product column group. */
    int splitUnit(boolean byColumns) {
        return switch (this) {
            case PACKED -> byColumns ? GemmBlocking.NR : GemmBlocking.MR;
            case DOT_NT -> DotProducts.JC;
            case ROWS_NN -> GemmBlocking.MR;
        };
    }

    /** Whether threads may share packed panels as a team (see {@link GemmThreads}). */
    boolean canFormTeam() {
        return switch (this) {
            case PACKED -> true;
            case DOT_NT, ROWS_NN -> false;
        };
    }

    /**
     * Rows [i0, i1) and columns [j0, j1) of C on the calling thread; {@code bias} (null: none) is taken by
     * the packed path only (see {@link Gemm#linear}).
     */
    void compute(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, Matrix bias,
                 int i0, int i1, int j0, int j1) {
        if (bias != null && this != PACKED) throw new IllegalStateException("gemm: only the packed path starts from a bias, not " + this);
        // `case null` makes this an enhanced switch statement, which javac requires to cover every constant.
        switch (this) {
            case PACKED -> PackedLoops.compute(ta, tb, alpha, a, b, beta, c, bias, i0, i1, j0, j1);
            case DOT_NT -> DotProducts.compute(alpha, a, b, beta, c, i0, i1, j0, j1);
            case ROWS_NN -> {
                if (j0 != 0 || j1 != c.cols()) {
                    throw new IllegalStateException("the row path computes whole rows; got columns " + j0 + ".." + j1);
                }
                RowCombinations.compute(ta, alpha, a, b, beta, c, i0, i1);
            }
            case null -> throw new NullPointerException("gemm path");
        }
    }
}
