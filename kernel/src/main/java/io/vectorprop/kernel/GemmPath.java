package io.vectorprop.kernel;

/**
 * The ways {@link VectorGemm} computes {@code C = α·op(A)·op(B) + β·C}, each owning its selection
 * rule, how threads split it and its kernel. Picked once per call from the whole problem's shape, so
 * every block of a split product goes the same way. The switches are expressions: a new path that
 * does not say how it splits and computes does not compile.
 */
enum GemmPath {
    /** BLIS-style: packed, zero-padded panels and the MR × NR micro-kernel ({@link VectorGemm#gemmBlock}). */
    PACKED,
    /** NT with few rows: dot products of rows of A with rows of B, no packing ({@link VectorGemmSmall#dotNT}). */
    DOT_NT,
    /** B as stored with few rows or a short k: rows of C as combinations of rows of B ({@link VectorGemmSmall#rowsNN}). */
    ROWS_NN;

    /** The path for a product of this shape (thresholds and their reasons: {@link VectorGemm}'s constants). */
    static GemmPath select(Transpose ta, Transpose tb, int m, int k) {
        if (ta == Transpose.N && tb == Transpose.T
                && (m <= VectorGemm.DOT_MAX_M || (m <= VectorGemm.DOT_DEEP_MAX_M && k >= VectorGemm.DOT_DEEP_MIN_K))) {
            return DOT_NT;
        }
        if (tb == Transpose.N && ((ta == Transpose.N && m <= VectorGemm.ROWS_MAX_M) || k <= VectorGemm.ROWS_MAX_K)) {
            return ROWS_NN;
        }
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
            case PACKED -> byColumns ? VectorGemm.NR : VectorGemm.MR;
            case DOT_NT -> VectorGemmSmall.JC;
            case ROWS_NN -> VectorGemm.MR;
        };
    }

    /** Whether threads may share packed panels as a team (see {@link GemmThreads#byTeam}). */
    boolean canFormTeam() {
        return this == PACKED;
    }

    /** Rows [i0, i1) and columns [j0, j1) of C on the calling thread. */
    void compute(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                 int i0, int i1, int j0, int j1) {
        GemmPath done = switch (this) {
            case PACKED -> {
                VectorGemm.gemmBlock(ta, tb, alpha, a, b, beta, c, i0, i1, j0, j1);
                yield PACKED;
            }
            case DOT_NT -> {
                VectorGemmSmall.dotNT(alpha, a, b, beta, c, i0, i1, j0, j1);
                yield DOT_NT;
            }
            case ROWS_NN -> {
                if (j0 != 0 || j1 != c.cols()) {
                    throw new IllegalStateException("rowsNN computes whole rows; got columns " + j0 + ".." + j1);
                }
                VectorGemmSmall.rowsNN(ta, alpha, a, b, beta, c, i0, i1);
                yield ROWS_NN;
            }
        };
        assert done == this;
    }
}
