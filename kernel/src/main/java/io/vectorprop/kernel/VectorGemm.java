package io.vectorprop.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * SGEMM {@code C = α·op(A)·op(B) + β·C} in the BLIS style.
 *
 * <pre>
 * for jc in N step NC:                  B panel  KC×NC  (L3)
 *   for pc in K step KC:
 *     pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers
 *     for ic in M step MC:              A block  MC×KC  (L2)
 *       pack op(A)[ic:ic+mc, pc:pc+kc] into MR-tall slivers
 *       for jr in nc step NR:           B sliver KC×NR  (L1)
 *         for ir in mc step MR:
 *           micro-kernel: MR×NR tile += A sliver · B sliver
 * </pre>
 *
 * Packing absorbs the transposes and zero-pads partial slivers, so the micro-kernel always computes a
 * full MR×NR tile with no masks. It holds MR × 2 vector accumulators (16 zmm registers on AVX-512,
 * enough to cover FMA latency, leaving registers for the two B vectors and the A broadcast) for the
 * whole k loop, in outer-product form: two vector loads from B, MR broadcasts from A, 2·MR FMAs per
 * step. The tile goes to a small buffer and from there into C with α and β, so edge tiles need no
 * special kernel. Pack buffers are allocated once per thread and reused: no allocation per call.
 */
final class VectorGemm {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Micro-tile rows: MR broadcasts of A per k step. */
    static final int MR = 8;
    /** Micro-tile columns: two vectors. */
    static final int NR = 2 * L;
    /** Depth of a packed panel. (The three block sizes can be overridden by system properties for tuning.) */
    static final int KC = Integer.getInteger("vectorprop.gemm.kc", 384);
    /** Rows of a packed A block (MC·KC floats ≈ 288 KiB, in L2); a multiple of MR. */
    static final int MC = Integer.getInteger("vectorprop.gemm.mc", 192) / MR * MR;
    /** Columns of a packed B panel (KC·NC floats ≈ 4.5 MiB, in L3); a multiple of NR. */
    static final int NC = Integer.getInteger("vectorprop.gemm.nc", 3072) / NR * NR;
    /** Loop order inside a block: true keeps one A sliver in L1 while B slivers stream (ir outer). */
    static final boolean A_OUTER = Boolean.getBoolean("vectorprop.gemm.aOuter");

    /** Per-thread pack buffers and tile, 64-byte aligned, allocated on first use and then reused. */
    private static final class Workspace {
        final MemorySegment packA = Arena.ofAuto().allocate((long) MC * KC * Float.BYTES, Matrix.ALIGNMENT);
        final MemorySegment packB = Arena.ofAuto().allocate((long) KC * NC * Float.BYTES, Matrix.ALIGNMENT);
        final MemorySegment tile = Arena.ofAuto().allocate((long) MR * NR * Float.BYTES, Matrix.ALIGNMENT);
    }

    private static final ThreadLocal<Workspace> WORKSPACE = ThreadLocal.withInitial(Workspace::new);

    private VectorGemm() {}

    /** The three ways to compute a product; picked once per call from the whole problem's shape. */
    static final int PACKED = 0, DOT_NT = 1, ROWS_NN = 2;

    /** NT products with at most this many rows go through {@link VectorGemmSmall#dotNT} (no packing). */
    static final int DOT_MAX_M = Integer.getInteger("vectorprop.gemm.dotMaxM", 512);
    /** Products with B as stored and at most this many rows go through {@link VectorGemmSmall#rowsNN}. */
    static final int ROWS_MAX_M = Integer.getInteger("vectorprop.gemm.rowsMaxM", 4);
    /** … and so do those with k at most this (rank-k updates: the weight gradient at batch ≤ 4). */
    static final int ROWS_MAX_K = Integer.getInteger("vectorprop.gemm.rowsMaxK", 4);

    static int path(Transpose ta, Transpose tb, int m, int k) {
        if (ta == Transpose.N && tb == Transpose.T && m <= DOT_MAX_M) return DOT_NT;
        if (tb == Transpose.N && ((ta == Transpose.N && m <= ROWS_MAX_M) || k <= ROWS_MAX_K)) return ROWS_NN;
        return PACKED;
    }

    static void gemm(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, int threads) {
        int m = c.rows(), n = c.cols();
        int k = transKDim(ta, a);
        GemmThreads.run(ta, tb, alpha, a, b, beta, c, threads, m, n, k, path(ta, tb, m, k));
    }

    /** Rows [i0, i1) and columns [j0, j1) of C on the calling thread, by the given path. */
    static void block(int path, Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                      int i0, int i1, int j0, int j1) {
        switch (path) {
            case DOT_NT -> VectorGemmSmall.dotNT(alpha, a, b, beta, c, i0, i1, j0, j1);
            case ROWS_NN -> {
                if (j0 != 0 || j1 != c.cols()) {
                    throw new IllegalStateException("rowsNN computes whole rows; got columns " + j0 + ".." + j1);
                }
                VectorGemmSmall.rowsNN(ta, alpha, a, b, beta, c, i0, i1);
            }
            default -> gemmBlock(ta, tb, alpha, a, b, beta, c, i0, i1, j0, j1);
        }
    }

    private static int transKDim(Transpose ta, Matrix a) {
        return ta == Transpose.N ? a.cols() : a.rows();
    }

    /** Computes rows [i0, i1) and columns [j0, j1) of C on the calling thread. */
    static void gemmBlock(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                          int i0, int i1, int j0, int j1) {
        int k = transKDim(ta, a);
        Workspace ws = WORKSPACE.get();
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float betaHere = pc == 0 ? beta : 1f;           // later panels accumulate onto the first
                packB(tb, b, pc, kc, jc, nc, ws.packB);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(ta, a, ic, mc, pc, kc, ws.packA);
                    macroKernel(ws, kc, mc, nc, alpha, betaHere, c, ic, jc);
                }
            }
        }
    }

    private static void macroKernel(Workspace ws, int kc, int mc, int nc, float alpha, float beta, Matrix c,
                                    int ic, int jc) {
        if (A_OUTER) {
            for (int ir = 0; ir < mc; ir += MR) {
                long aOff = (long) ir * kc * Float.BYTES;
                for (int jr = 0; jr < nc; jr += NR) {
                    microKernel(kc, ws.packA, aOff, ws.packB, (long) jr * kc * Float.BYTES, ws.tile);
                    writeBack(ws.tile, alpha, beta, c, ic + ir, jc + jr, Math.min(MR, mc - ir), Math.min(NR, nc - jr));
                }
            }
            return;
        }
        for (int jr = 0; jr < nc; jr += NR) {
            long bOff = (long) jr * kc * Float.BYTES;
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
                long aOff = (long) ir * kc * Float.BYTES;
                microKernel(kc, ws.packA, aOff, ws.packB, bOff, ws.tile);
                writeBack(ws.tile, alpha, beta, c, ic + ir, jc + jr, Math.min(MR, mc - ir), nr);
            }
        }
    }

    /**
     * The MR×NR tile {@code T = Σ_p a[:, p] ⊗ b[p, :]} over kc steps, A and B packed (MR and NR floats
     * per step), written to {@code tile} row-major. Kept flat and free of calls that take vectors,
     * so C2 keeps all 16 accumulators in registers.
     */
    static void microKernel(int kc, MemorySegment pa, long aOff, MemorySegment pb, long bOff, MemorySegment tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            long bp = bOff + (long) p * NR * Float.BYTES;
            long ap = aOff + (long) p * MR * Float.BYTES;
            FloatVector b0 = FloatVector.fromMemorySegment(S, pb, bp, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, pb, bp + (long) L * Float.BYTES, LE);
            FloatVector a0 = FloatVector.broadcast(S, pa.get(FLOAT, ap));
            c00 = a0.fma(b0, c00);
            c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 4));
            c10 = a1.fma(b0, c10);
            c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 8));
            c20 = a2.fma(b0, c20);
            c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 12));
            c30 = a3.fma(b0, c30);
            c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 16));
            c40 = a4.fma(b0, c40);
            c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 20));
            c50 = a5.fma(b0, c50);
            c51 = a5.fma(b1, c51);
            FloatVector a6 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 24));
            c60 = a6.fma(b0, c60);
            c61 = a6.fma(b1, c61);
            FloatVector a7 = FloatVector.broadcast(S, pa.get(FLOAT, ap + 28));
            c70 = a7.fma(b0, c70);
            c71 = a7.fma(b1, c71);
        }
        long row = (long) NR * Float.BYTES, half = (long) L * Float.BYTES;
        c00.intoMemorySegment(tile, 0, LE);
        c01.intoMemorySegment(tile, half, LE);
        c10.intoMemorySegment(tile, row, LE);
        c11.intoMemorySegment(tile, row + half, LE);
        c20.intoMemorySegment(tile, 2 * row, LE);
        c21.intoMemorySegment(tile, 2 * row + half, LE);
        c30.intoMemorySegment(tile, 3 * row, LE);
        c31.intoMemorySegment(tile, 3 * row + half, LE);
        c40.intoMemorySegment(tile, 4 * row, LE);
        c41.intoMemorySegment(tile, 4 * row + half, LE);
        c50.intoMemorySegment(tile, 5 * row, LE);
        c51.intoMemorySegment(tile, 5 * row + half, LE);
        c60.intoMemorySegment(tile, 6 * row, LE);
        c61.intoMemorySegment(tile, 6 * row + half, LE);
        c70.intoMemorySegment(tile, 7 * row, LE);
        c71.intoMemorySegment(tile, 7 * row + half, LE);
    }

    /** {@code C[i0:i0+mr, j0:j0+nr] = α·T + β·C} (β = 0: C not read), for the valid part of the tile. */
    private static void writeBack(MemorySegment tile, float alpha, float beta, Matrix c, int i0, int j0, int mr,
                                  int nr) {
        MemorySegment cs = c.segment();
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int r = 0; r < mr; r++) {
            long cRow = (c.offset() + (long) (i0 + r) * c.stride() + j0) * Float.BYTES;
            long tRow = (long) r * NR * Float.BYTES;
            int j = 0;
            for (; j + L <= nr; j += L) {
                FloatVector t = FloatVector.fromMemorySegment(S, tile, tRow + (long) j * Float.BYTES, LE).mul(alpha);
                long at = cRow + (long) j * Float.BYTES;
                if (beta != 0f) t = FloatVector.fromMemorySegment(S, cs, at, LE).fma(betaV, t);
                t.intoMemorySegment(cs, at, LE);
            }
            for (; j < nr; j++) {
                long at = cRow + (long) j * Float.BYTES;
                float t = alpha * tile.get(FLOAT, tRow + (long) j * Float.BYTES);
                cs.set(FLOAT, at, beta == 0f ? t : t + beta * cs.get(FLOAT, at));
            }
        }
    }

    /**
     * Packs op(A)[ic:ic+mc, pc:pc+kc] as MR-row slivers: sliver s, step p holds the MR floats
     * op(A)[ic+s·MR+r, pc+p], r < MR, zero past row mc. Plain copies, not Vector API (cold code should
     * not depend on C2); copy and zero-fill are separate loops (DESIGN.md §9).
     */
    private static void packA(Transpose ta, Matrix a, int ic, int mc, int pc, int kc, MemorySegment buf) {
        MemorySegment as = a.segment();
        long rowStep = ta == Transpose.N ? a.stride() : 1;      // distance between op(A) rows i, i+1
        long colStep = ta == Transpose.N ? 1 : a.stride();      // distance between op(A) columns p, p+1
        for (int s = 0; s * MR < mc; s++) {
            int rows = Math.min(MR, mc - s * MR);
            long dst = (long) s * MR * kc;
            long src0 = a.offset() + (ic + (long) s * MR) * rowStep + pc * colStep;
            for (int p = 0; p < kc; p++) {
                long src = src0 + p * colStep;
                long d = dst + (long) p * MR;
                for (int r = 0; r < rows; r++) {
                    buf.setAtIndex(FLOAT, d + r, as.getAtIndex(FLOAT, src + r * rowStep));
                }
            }
            if (rows < MR) {
                for (int p = 0; p < kc; p++) {
                    for (int r = rows; r < MR; r++) {
                        buf.setAtIndex(FLOAT, dst + (long) p * MR + r, 0f);
                    }
                }
            }
        }
    }

    /**
     * Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-column slivers: sliver s, step p holds the NR floats
     * op(B)[pc+p, jc+s·NR+j], j < NR, zero past column nc.
     */
    private static void packB(Transpose tb, Matrix b, int pc, int kc, int jc, int nc, MemorySegment buf) {
        MemorySegment bs = b.segment();
        long rowStep = tb == Transpose.N ? b.stride() : 1;      // op(B) rows p, p+1
        long colStep = tb == Transpose.N ? 1 : b.stride();      // op(B) columns j, j+1
        for (int s = 0; s * NR < nc; s++) {
            int cols = Math.min(NR, nc - s * NR);
            long dst = (long) s * NR * kc;
            long src0 = b.offset() + pc * rowStep + (jc + (long) s * NR) * colStep;
            if (tb == Transpose.N && cols == NR) {
                for (int p = 0; p < kc; p++) {                  // rows of B are contiguous: block copies
                    MemorySegment.copy(bs, (src0 + p * rowStep) * Float.BYTES, buf,
                            (dst + (long) p * NR) * Float.BYTES, (long) NR * Float.BYTES);
                }
                continue;
            }
            for (int p = 0; p < kc; p++) {
                long src = src0 + p * rowStep;
                long d = dst + (long) p * NR;
                for (int j = 0; j < cols; j++) {
                    buf.setAtIndex(FLOAT, d + j, bs.getAtIndex(FLOAT, src + j * colStep));
                }
            }
            if (cols < NR) {
                for (int p = 0; p < kc; p++) {
                    for (int j = cols; j < NR; j++) {
                        buf.setAtIndex(FLOAT, dst + (long) p * NR + j, 0f);
                    }
                }
            }
        }
    }
}
