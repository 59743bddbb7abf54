package io.vectorprop.kernel.gemm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.Lanes;
import io.vectorprop.kernel.internal.Settings;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * The row path: {@code C = α·op(A)·B + βC} with B as stored, for a few rows of A (BP2 at a small batch)
 * or a small k (a rank-k update: the fused SGD step at batch ≤ 16, the weight gradient at batch ≤ 2), no
 * packing: each row of C is {@code Σ_p op(A)[i,p]·B[p,:]}, accumulated while B streams by rows, four
 * (or two) rows of C at a time so each load of B serves all of them; C is read (β ≠ 0) and written
 * once. Rows of C are computed whole, so threads split this path by rows only.
 */
final class RowCombinations {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private RowCombinations() {}

    /**
     * Products with B as stored and at most this many rows take this path (BP2 at small batches): with
     * few rows, packing B costs more than the product it prepares …
     */
    static final int MAX_M = Settings.GEMM_ROWS_MAX_M;
    /**
     * … and so do those with k at most this that update C (β ≠ 0: the fused SGD step at batch ≤ 16): the
     * packed path adds such a tile onto C through its tile buffer, while this path reads and writes each
     * element of C once …
     */
    static final int MAX_K = Settings.GEMM_ROWS_MAX_K;
    /**
     * … or at most this that only write C (β = 0: the weight gradient at batch ≤ 2): then the packed path
     * writes its tiles straight into C, and from k ≈ 4 its 6×64 tiles outrun these (measured in
     * docs/performance.md, "Rank-k products by β"); at k = 1 a packed panel has too little work per packed byte.
     */
    static final int MAX_K_OVERWRITE = Settings.GEMM_ROWS_MAX_K_OVERWRITE;

    /** Whether a product of this shape, with this β, takes the row path. */
    static boolean applies(Transpose ta, Transpose tb, int m, int k, float beta) {
        return tb == Transpose.N && ((ta == Transpose.N && m <= MAX_M) || k <= (beta == 0f ? MAX_K_OVERWRITE : MAX_K));
    }

    /**
     * C[i0:i1, :] = α·op(A)·B + βC with B streamed by rows: four rows of C at a time, then pairs, then
     * single rows, two vectors wide; columns past the last 2L one row at a time. For a few rows of A, or
     * for a small k (a rank-k update such as the batch-1 weight gradient δᵀ·a). Every row of C is
     * computed by the same arithmetic whichever group of rows it falls in, so however threads split the
     * rows the bits are the same.
     */
    static void compute(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1) {
        int pairEnd = c.cols() / (2 * L) * (2 * L);
        int i = i0;
        for (; i + 3 < i1; i += 4) rowQuad(ta, alpha, a, b, beta, c, i, 0, pairEnd);
        for (; i + 1 < i1; i += 2) rowPair(ta, alpha, a, b, beta, c, i, 0, pairEnd);
        rows(ta, alpha, a, b, beta, c, i, i1, 0, pairEnd);
        rows(ta, alpha, a, b, beta, c, i0, i1, pairEnd, c.cols());
    }

    /**
     * Rows i … i+3 of C, columns [j0, j1) (multiples of 2L): each step p loads two vectors of B's row p
     * once for four rows (eight accumulators), so B is read from cache half as often as by pairs.
     * The offsets of B's row p and of op(A)'s column p advance by their strides from step to step
     * (here and in rowPair): recomputed as p·stride (the stride a variable), C2 kept two multiplications
     * per step and a bounds check before each load, and the step took longer.
     */
    private static void rowQuad(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j0, int j1) {
        int k = b.rows();
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        long aRow = ta == Transpose.N ? a.stride() : 1, aCol = ta == Transpose.N ? 1 : a.stride();
        long a0 = a.offset() + (long) i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
        long cRow = (long) c.stride() * Float.BYTES, h = (long) L * Float.BYTES;
        long bStep = (long) b.stride() * Float.BYTES;
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int j = j0; j < j1; j += 2 * L) {
            FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
            FloatVector s20 = FloatVector.zero(S), s21 = FloatVector.zero(S), s30 = FloatVector.zero(S), s31 = FloatVector.zero(S);
            long bo = (b.offset() + j) * Float.BYTES, ap = 0;
            for (int p = 0; p < k; p++, bo += bStep, ap += aCol) {
                FloatVector b0 = FloatVector.fromMemorySegment(S, bs, bo, LE);
                FloatVector b1 = FloatVector.fromMemorySegment(S, bs, bo + h, LE);
                FloatVector x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, a0 + ap));
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, a1 + ap));
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
                x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, a2 + ap));
                s20 = x.fma(b0, s20);
                s21 = x.fma(b1, s21);
                x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, a3 + ap));
                s30 = x.fma(b0, s30);
                s31 = x.fma(b1, s31);
            }
            long c0 = (c.offset() + (long) i * c.stride() + j) * Float.BYTES, c1 = c0 + cRow, c2 = c1 + cRow, c3 = c2 + cRow;
            s00 = s00.mul(alpha);
            s01 = s01.mul(alpha);
            s10 = s10.mul(alpha);
            s11 = s11.mul(alpha);
            s20 = s20.mul(alpha);
            s21 = s21.mul(alpha);
            s30 = s30.mul(alpha);
            s31 = s31.mul(alpha);
            if (beta != 0f) {
                s00 = FloatVector.fromMemorySegment(S, cs, c0, LE).fma(betaV, s00);
                s01 = FloatVector.fromMemorySegment(S, cs, c0 + h, LE).fma(betaV, s01);
                s10 = FloatVector.fromMemorySegment(S, cs, c1, LE).fma(betaV, s10);
                s11 = FloatVector.fromMemorySegment(S, cs, c1 + h, LE).fma(betaV, s11);
                s20 = FloatVector.fromMemorySegment(S, cs, c2, LE).fma(betaV, s20);
                s21 = FloatVector.fromMemorySegment(S, cs, c2 + h, LE).fma(betaV, s21);
                s30 = FloatVector.fromMemorySegment(S, cs, c3, LE).fma(betaV, s30);
                s31 = FloatVector.fromMemorySegment(S, cs, c3 + h, LE).fma(betaV, s31);
            }
            s00.intoMemorySegment(cs, c0, LE);
            s01.intoMemorySegment(cs, c0 + h, LE);
            s10.intoMemorySegment(cs, c1, LE);
            s11.intoMemorySegment(cs, c1 + h, LE);
            s20.intoMemorySegment(cs, c2, LE);
            s21.intoMemorySegment(cs, c2 + h, LE);
            s30.intoMemorySegment(cs, c3, LE);
            s31.intoMemorySegment(cs, c3 + h, LE);
        }
    }

    /**
     * Rows i and i+1 of C, columns [j0, j1) (multiples of 2L): each step p loads two vectors of
     * B's row p once for both rows, so B is read half as often as row by row.
     */
    private static void rowPair(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j0, int j1) {
        int k = b.rows();
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        long aRow = ta == Transpose.N ? a.stride() : 1, aCol = ta == Transpose.N ? 1 : a.stride();
        long ao = a.offset() + (long) i * aRow, co = c.offset() + (long) i * c.stride(), cs1 = c.stride();
        long bStep = (long) b.stride() * Float.BYTES;
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int j = j0; j < j1; j += 2 * L) {
            FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
            long bo = (b.offset() + j) * Float.BYTES, ap = ao;
            for (int p = 0; p < k; p++, bo += bStep, ap += aCol) {
                FloatVector b0 = FloatVector.fromMemorySegment(S, bs, bo, LE);
                FloatVector b1 = FloatVector.fromMemorySegment(S, bs, bo + (long) L * Float.BYTES, LE);
                FloatVector x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ap));
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ap + aRow));
                s10 = x.fma(b0, s10);
                s11 = x.fma(b1, s11);
            }
            long c0 = (co + j) * Float.BYTES, c1 = (co + cs1 + j) * Float.BYTES, h = (long) L * Float.BYTES;
            s00 = s00.mul(alpha);
            s01 = s01.mul(alpha);
            s10 = s10.mul(alpha);
            s11 = s11.mul(alpha);
            if (beta != 0f) {
                s00 = FloatVector.fromMemorySegment(S, cs, c0, LE).fma(betaV, s00);
                s01 = FloatVector.fromMemorySegment(S, cs, c0 + h, LE).fma(betaV, s01);
                s10 = FloatVector.fromMemorySegment(S, cs, c1, LE).fma(betaV, s10);
                s11 = FloatVector.fromMemorySegment(S, cs, c1 + h, LE).fma(betaV, s11);
            }
            s00.intoMemorySegment(cs, c0, LE);
            s01.intoMemorySegment(cs, c0 + h, LE);
            s10.intoMemorySegment(cs, c1, LE);
            s11.intoMemorySegment(cs, c1 + h, LE);
        }
    }

    /** Rows [i0, i1) of C, columns [j0, n), one row at a time (n need not be a multiple of L). */
    private static void rows(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1, int j0, int n) {
        int k = b.rows();
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        long aRow = ta == Transpose.N ? a.stride() : 1, aCol = ta == Transpose.N ? 1 : a.stride();
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int i = i0; i < i1; i++) {
            long ao = a.offset() + (long) i * aRow, co = c.offset() + (long) i * c.stride();
            int j = j0;
            for (; j + 4 * L <= n; j += 4 * L) {
                FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
                if (b.stride() == 4 * L && k <= Integer.MAX_VALUE / (4 * L)) {
                    // B's rows are this block exactly (a predictor's slivers of Wᵀ): step through it with a
                    // constant stride, so that C2 checks the loads' bounds once before the loop; with the row
                    // offset p·stride (stride a variable) it kept a compare and a branch at every load.
                    long base = b.offset() + j;
                    for (int q = 0, p = 0, end = k * 4 * L; q < end; q += 4 * L, p++) {
                        FloatVector ap = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + p * aCol));
                        s0 = ap.fma(FloatVector.fromMemorySegment(S, bs, (base + q) * Float.BYTES, LE), s0);
                        s1 = ap.fma(FloatVector.fromMemorySegment(S, bs, (base + q + L) * Float.BYTES, LE), s1);
                        s2 = ap.fma(FloatVector.fromMemorySegment(S, bs, (base + q + 2 * L) * Float.BYTES, LE), s2);
                        s3 = ap.fma(FloatVector.fromMemorySegment(S, bs, (base + q + 3 * L) * Float.BYTES, LE), s3);
                    }
                } else {
                    for (int p = 0; p < k; p++) {
                        FloatVector ap = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + p * aCol));
                        long bo = b.offset() + (long) p * b.stride() + j;
                        s0 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo) * Float.BYTES, LE), s0);
                        s1 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + L) * Float.BYTES, LE), s1);
                        s2 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + 2 * L) * Float.BYTES, LE), s2);
                        s3 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + 3 * L) * Float.BYTES, LE), s3);
                    }
                }
                s0 = s0.mul(alpha);
                s1 = s1.mul(alpha);
                s2 = s2.mul(alpha);
                s3 = s3.mul(alpha);
                if (beta != 0f) {
                    s0 = FloatVector.fromMemorySegment(S, cs, (co + j) * Float.BYTES, LE).fma(betaV, s0);
                    s1 = FloatVector.fromMemorySegment(S, cs, (co + j + L) * Float.BYTES, LE).fma(betaV, s1);
                    s2 = FloatVector.fromMemorySegment(S, cs, (co + j + 2 * L) * Float.BYTES, LE).fma(betaV, s2);
                    s3 = FloatVector.fromMemorySegment(S, cs, (co + j + 3 * L) * Float.BYTES, LE).fma(betaV, s3);
                }
                s0.intoMemorySegment(cs, (co + j) * Float.BYTES, LE);
                s1.intoMemorySegment(cs, (co + j + L) * Float.BYTES, LE);
                s2.intoMemorySegment(cs, (co + j + 2 * L) * Float.BYTES, LE);
                s3.intoMemorySegment(cs, (co + j + 3 * L) * Float.BYTES, LE);
            }
            for (; j + L <= n; j += L) {
                FloatVector s0 = FloatVector.zero(S);
                for (int p = 0; p < k; p++) {
                    s0 = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + p * aCol))
                            .fma(FloatVector.fromMemorySegment(S, bs, (b.offset() + (long) p * b.stride() + j) * Float.BYTES, LE), s0);
                }
                s0 = s0.mul(alpha);
                if (beta != 0f) s0 = FloatVector.fromMemorySegment(S, cs, (co + j) * Float.BYTES, LE).fma(betaV, s0);
                s0.intoMemorySegment(cs, (co + j) * Float.BYTES, LE);
            }
            for (; j < n; j++) {
                float sum = 0f;
                for (int p = 0; p < k; p++) {
                    sum += as.getAtIndex(FLOAT, ao + p * aCol) * bs.getAtIndex(FLOAT, b.offset() + (long) p * b.stride() + j);
                }
                DotProducts.put(c, i, j, alpha, beta, sum);
            }
        }
    }
}
