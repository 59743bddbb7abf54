package io.vectorprop.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * SGEMM {@code C = α·op(A)·op(B) + β·C}: the packed path's loops around the micro-kernel, the BLIS way.
 *
 * <pre>
 * for jc in N step NC:                  B panel  KC×NC  (L2)          this class
 *   for pc in K step ≤ KC (even panels: {@link GemmBlocking#panelDepth})
 *     pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers            {@link GemmPacking#packB}
 *     for ic in M step MC:              A block  MC×KC  (L2/L3)
 *       pack α·op(A)[ic:ic+mc, pc:pc+kc] into MR-row slivers         {@link GemmPacking#packA}
 *       for ir in mc step MR:           A sliver MR×KC  (L1)          {@link #macroKernel}
 *         for jr in nc step NR:         B sliver KC×NR  (from L2)
 *           MR×NR tile = A sliver · B sliver                         {@link GemmMicroKernel}
 *           C tile = tile + β·C tile                                 {@link #writeBack}
 * </pre>
 *
 * The tile and block sizes are {@link GemmBlocking}'s. α is applied while packing A. When C is not
 * accumulated onto (β = 0 and the first panel) a full tile goes from the registers straight into C;
 * otherwise the micro-kernel stores it into a small buffer and {@link #writeBack}, the one place that
 * applies β, adds it onto the valid part of C. Pack buffers come from a pool, so nothing is allocated
 * per call.
 */
final class VectorGemm {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final int MR = GemmBlocking.MR, NR = GemmBlocking.NR;
    static final int KC = GemmBlocking.KC, MC = GemmBlocking.MC, NC = GemmBlocking.NC;

    /**
     * Pack buffers and tile of one running product, taken from {@link #WORKSPACES} for the call: a
     * thread-local cache would keep one per thread that ever multiplied, which with a virtual thread
     * per request is one per request. The packed copies are heap arrays (see {@link GemmMicroKernel});
     * the tile is off heap like C, so the micro-kernel's stores always see one kind of segment.
     */
    private static final class Workspace {
        final Arena arena = Arena.ofShared();
        final float[] packA = new float[MC * KC];
        final float[] packB = new float[KC * NC];
        final float[] scratch = new float[GemmPacking.SCRATCH_FLOATS];
        /** The bias of the columns of one B panel, zero past its end: the accumulators' start in a dense layer. */
        final float[] biasRow = new float[NC];
        final MemorySegment tile = arena.allocate((long) MR * NR * Float.BYTES, Matrix.ALIGNMENT);

        void free() { arena.close(); }
    }

    /** Where the accumulators of a plain product start: NC zeros (read at the column of the tile within its panel). */
    private static final float[] ZEROS = new float[NC];

    private static final ScratchPool<Workspace> WORKSPACES =
            new ScratchPool<>(2 * Runtime.getRuntime().availableProcessors(), Workspace::new, Workspace::free);

    private VectorGemm() {}

    /**
     * NT products with at most this many rows go through {@link VectorGemmSmall#dotNT} (no packing of
     * B), and so do those with at most {@link #DOT_DEEP_MAX_M} rows and k of at least
     * {@link #DOT_DEEP_MIN_K}. Packing B costs n·k copies shared by all m rows (and evicts other data
     * from L2); the dot path pays a lane sum per output, which weighs less the longer k is, so the
     * crossover moves to more rows when k is long (the bounds come from same-JVM comparisons of the two
     * paths on the training shapes).
     */
    static final int DOT_MAX_M = Settings.GEMM_DOT_MAX_M;
    static final int DOT_DEEP_MAX_M = Settings.GEMM_DOT_DEEP_MAX_M, DOT_DEEP_MIN_K = 512;
    /**
     * Products with B as stored and at most this many rows go through {@link VectorGemmSmall#rowsNN}
     * (BP2 at small batches): with few rows, packing B costs more than the product it prepares.
     */
    static final int ROWS_MAX_M = Settings.GEMM_ROWS_MAX_M;
    /**
     * … and so do those with k at most this (rank-k updates: the weight gradient, or the fused SGD step,
     * at batch ≤ 16): a short k gives a packed panel too little work per packed byte.
     */
    static final int ROWS_MAX_K = Settings.GEMM_ROWS_MAX_K;

    static void gemm(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, int threads) {
        int m = c.rows(), n = c.cols();
        int k = ta.cols(a);
        GemmThreads.run(ta, tb, alpha, a, b, beta, c, threads, m, n, k, GemmPath.select(ta, tb, m, k));
    }

    /** Computes rows [i0, i1) and columns [j0, j1) of C on the calling thread. */
    static void gemmBlock(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                          int i0, int i1, int j0, int j1) {
        Workspace ws = WORKSPACES.acquire();
        try {
            gemmBlock(ta, tb, alpha, a, b, beta, c, i0, i1, j0, j1, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    private static void gemmBlock(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                                  int i0, int i1, int j0, int j1, Workspace ws) {
        int k = ta.cols(a);
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0, depth = GemmBlocking.panelDepth(k); pc < k; pc += depth) {
                int kc = Math.min(depth, k - pc);
                float betaHere = pc == 0 ? beta : 1f;           // later panels accumulate onto the first
                GemmPacking.packB(tb, b, pc, kc, jc, nc, ws.packB, ws.scratch, 0, slivers(nc));
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    GemmPacking.packA(ta, alpha, a, ic, mc, pc, kc, ws.packA, ws.scratch);
                    macroKernel(ws, ws.packB, 0, kc * NR, ZEROS, kc, mc, nc, betaHere, c, ic, jc);
                }
            }
        }
    }

    private static int slivers(int nc) {
        return (nc + NR - 1) / NR;
    }

    /**
     * W (out × in) as the B operand of {@code A·Wᵀ}, packed once: sliver {@code s} holds op(B) = Wᵀ
     * restricted to columns {@code s·NR … s·NR+NR−1} (rows of W) for every step p of k, float (p, j) at
     * {@code s·in·NR + p·NR + j}, outputs past {@code out} zero. A k panel of depth kc starting at pc is
     * then the window {@code pc·NR …} of each sliver, so one layout serves every panel depth.
     */
    static float[] packWeights(Matrix w) {
        int out = w.rows(), in = w.cols(), slivers = slivers(out);
        float[] packed = new float[Math.multiplyExact(slivers * NR, in)];
        for (int j = 0; j < out; j++) {                 // once per predictor: plain loops, off the Vector API
            int base = j / NR * in * NR + j % NR;
            for (int p = 0; p < in; p++) packed[base + p * NR] = w.get(j, p);
        }
        return packed;
    }

    /**
     * {@code Z = x·Wᵀ + 1·bᵀ} with W packed by {@link #packWeights}, on the calling thread: the packed
     * path's loops with the B panels read where they already are, the accumulators of the first k panel
     * starting from the bias. Each element is {@code b + Σ} of the same products as {@link #gemmBlock}
     * sums for {@code gemm(N, T, 1, x, W, 0, out)}, the bias added first rather than last.
     */
    static void denseForward(Matrix x, float[] packedW, Matrix bias, Matrix out) {
        Workspace ws = WORKSPACES.acquire();
        try {
            int m = out.rows(), n = out.cols(), k = x.cols();
            for (int jc = 0; jc < n; jc += NC) {
                int nc = Math.min(NC, n - jc);
                MemorySegment.copy(bias.segment(), FLOAT, (bias.offset() + jc) * Float.BYTES, ws.biasRow, 0, nc);
                java.util.Arrays.fill(ws.biasRow, nc, NC, 0f);
                for (int pc = 0, depth = GemmBlocking.panelDepth(k); pc < k; pc += depth) {
                    int kc = Math.min(depth, k - pc);
                    for (int ic = 0; ic < m; ic += MC) {
                        int mc = Math.min(MC, m - ic);
                        GemmPacking.packA(Transpose.N, 1f, x, ic, mc, pc, kc, ws.packA, ws.scratch);
                        macroKernel(ws, packedW, jc / NR * k * NR + pc * NR, k * NR, pc == 0 ? ws.biasRow : ZEROS,
                                kc, mc, nc, pc == 0 ? 0f : 1f, out, ic, jc);
                    }
                }
            }
        } finally {
            WORKSPACES.release(ws);
        }
    }

    /**
     * Member {@code t} of {@code team}'s share of one packed product that the team computes together,
     * the BLIS way: for each B panel every member packs an equal share of the slivers into the team's one
     * buffer; all wait for each other; then each takes chunks of {@code team.chunkRows} rows of C as the
     * team deals them (its own run of rows first, see {@link GemmThreads.Team#deal}), packs that A block
     * into its own buffer and computes it; all wait again before the buffer is refilled. B is packed
     * once, not once per thread, and a member whose core runs slower (another tenant on it) just
     * computes fewer chunks. Every element of C goes through exactly
     * the operations it would on one thread, so results are bit-identical to the single-thread ones.
     */
    static void gemmShared(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                           GemmThreads.Team team, int t) {
        Workspace ws = WORKSPACES.acquire();
        try {
            gemmShared(ta, tb, alpha, a, b, beta, c, team, t, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    private static void gemmShared(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                                   GemmThreads.Team team, int t, Workspace ws) {
        int m = c.rows(), n = c.cols(), k = ta.cols(a);
        int chunkRows = team.chunkRows, chunks = (m + chunkRows - 1) / chunkRows;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int share = (slivers(nc) + team.size - 1) / team.size;
            int from = t * share, to = Math.min(slivers(nc), from + share);   // this member's slivers
            for (int pc = 0, depth = GemmBlocking.panelDepth(k); pc < k; pc += depth) {
                int kc = Math.min(depth, k - pc);
                float betaHere = pc == 0 ? beta : 1f;
                if (from < to) GemmPacking.packB(tb, b, pc, kc, jc, nc, team.packB, ws.scratch, from, to);
                if (t == 0) team.deal(chunks);              // nobody takes chunks until all have passed the barrier
                team.await();
                for (int chunk; (chunk = team.take(t)) >= 0; ) {
                    int ic = chunk * chunkRows, mc = Math.min(chunkRows, m - ic);
                    GemmPacking.packA(ta, alpha, a, ic, mc, pc, kc, ws.packA, ws.scratch);
                    macroKernel(ws, team.packB, 0, kc * NR, ZEROS, kc, mc, nc, betaHere, c, ic, jc);
                }
                team.await();                               // the buffer is refilled only when all are done with it
            }
        }
    }

    /**
     * The ir and jr loops: every MR×NR tile of an mc × nc block of C from a packed A block and B panel.
     * The A sliver (MR × kc) is the one that stays in L1 while the B slivers of the panel stream from
     * L2 past it: a B sliver is NR/MR times wider than an A sliver, so it is the one that would not fit
     * (see {@link GemmBlocking}). B sliver {@code s} of the panel starts at {@code bBase + s·sliverStride}
     * of {@code packedB} and holds kc steps of NR floats: a panel packed for this call has its slivers
     * back to back ({@code sliverStride = kc·NR}); weights packed once ({@link #packWeights}) keep each
     * sliver whole over all of k, and the panel is a window of it. Tile accumulators start from
     * {@code init} at the tile's column within the panel (see {@link GemmMicroKernel}).
     */
    private static void macroKernel(Workspace ws, float[] packedB, int bBase, int sliverStride, float[] init, int kc,
                                    int mc, int nc, float beta, Matrix c, int ic, int jc) {
        MemorySegment cs = c.segment();
        long cRow = (long) c.stride() * Float.BYTES;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir), ai = ir * KC;
            for (int jr = 0; jr < nc; jr += NR) {
                int nr = Math.min(NR, nc - jr), bi = bBase + jr / NR * sliverStride;
                if (beta == 0f && mr == MR && nr == NR) {
                    long cOff = (c.offset() + (long) (ic + ir) * c.stride() + jc + jr) * Float.BYTES;
                    GemmMicroKernel.tile(kc, ws.packA, ai, packedB, bi, init, jr, cs, cOff, cRow);
                } else {
                    if (nr <= L) {                                               // the last sliver, one vector or less
                        GemmMicroKernel.tile6x1(kc, ws.packA, ai, packedB, bi, init, jr, ws.tile, 0, (long) NR * Float.BYTES);
                    } else if (nr <= NR / 2 && GemmBlocking.VECTORS_PER_ROW == 4) {  // the last sliver, half empty or more
                        GemmMicroKernel.tile6x2(kc, ws.packA, ai, packedB, bi, init, jr, ws.tile, 0, (long) NR * Float.BYTES);
                    } else if (mr <= 4 && GemmBlocking.VECTORS_PER_ROW == 4) {       // the last rows, 4 or fewer
                        GemmMicroKernel.tile4x4(kc, ws.packA, ai, packedB, bi, init, jr, ws.tile, 0, (long) NR * Float.BYTES);
                    } else {
                        GemmMicroKernel.tile(kc, ws.packA, ai, packedB, bi, init, jr, ws.tile, 0, (long) NR * Float.BYTES);
                    }
                    writeBack(ws.tile, beta, c, ic + ir, jc + jr, mr, nr);
                }
            }
        }
    }

    /**
     * {@code C[i0:i0+mr, j0:j0+nr] = T + β·C} for the valid part of the tile T (rows NR floats apart);
     * with β = 0, C is not read (it may hold NaN).
     */
    static void writeBack(MemorySegment tile, float beta, Matrix c, int i0, int j0, int mr, int nr) {
        MemorySegment cs = c.segment();
        FloatVector betaV = FloatVector.broadcast(S, beta);
        int vectorPart = nr / L * L;
        for (int r = 0; r < mr; r++) {
            long cRow = (c.offset() + (long) (i0 + r) * c.stride() + j0) * Float.BYTES;
            long tRow = (long) r * NR * Float.BYTES;
            for (int j = 0; j < vectorPart; j += L) {
                FloatVector t = FloatVector.fromMemorySegment(S, tile, tRow + (long) j * Float.BYTES, LE);
                long at = cRow + (long) j * Float.BYTES;
                if (beta != 0f) t = FloatVector.fromMemorySegment(S, cs, at, LE).fma(betaV, t);
                t.intoMemorySegment(cs, at, LE);
            }
            for (int j = vectorPart; j < nr; j++) {
                long at = cRow + (long) j * Float.BYTES;
                float t = tile.get(FLOAT, tRow + (long) j * Float.BYTES);
                cs.set(FLOAT, at, beta == 0f ? t : t + beta * cs.get(FLOAT, at));
            }
        }
    }
}
