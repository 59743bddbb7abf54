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
 *     pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers (B as stored with rows an odd number of
 *       cache lines apart: only the partial last sliver; full ones are read in place)
 *     for ic in M step MC:              A block  MC×KC  (L2)
 *       pack α·op(A)[ic:ic+mc, pc:pc+kc] into MR-row slivers
 *       for jr in nc step NR:           B sliver KC×NR  (64 KiB: L2)
 *         for ir in mc step MR:
 *           micro-kernel: MR×NR tile += A sliver · B sliver
 * </pre>
 *
 * Packing absorbs the transposes and zero-pads partial slivers, so the micro-kernel always computes a
 * full MR×NR tile with no masks. It holds MR × 2 vector accumulators (16 zmm registers on AVX-512,
 * enough to cover FMA latency, leaving registers for the two B vectors and the A broadcast) for the
 * whole k loop, in outer-product form: two vector loads from B, MR broadcasts from A, 2·MR FMAs per
 * step. α is applied while packing A. When C is not accumulated onto (β = 0, first panel) a full tile
 * goes from the registers straight into C; otherwise it goes through a small buffer, {@code C = T + β·C}
 * (one unrolled pass for a full tile, {@link #writeBack} for the valid part of an edge tile), so edge
 * tiles need no special kernel. Pack buffers are allocated once per thread and reused: no allocation
 * per call.
 */
final class VectorGemm {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Micro-tile rows: MR broadcasts of A per k step. */
    static final int MR = 8;
    /** Micro-tile columns: two vectors. */
    static final int NR = 2 * L;
    /** MR floats: one step of an A sliver packed from a transposed A (see packA). */
    private static final VectorSpecies<Float> S8 = FloatVector.SPECIES_256;
    /** Whether S8 is native here (not on 128-bit-only machines, where packA then copies float by float). */
    private static final boolean S8_NATIVE = S8.vectorBitSize() <= S.vectorBitSize() && S8.length() == MR;
    /**
     * Depth of a packed panel: deeper panels mean fewer passes that accumulate onto C through the tile
     * buffer, until the A sliver and B sliver of a tile no longer stay in L1 and L2. (The three block
     * sizes are settings, for tuning; see {@link Settings}.)
     */
    static final int KC = Settings.GEMM_KC;
    /** Rows of a packed A block (MC·KC floats = 384 KiB, in L2); a multiple of MR. */
    static final int MC = Settings.GEMM_MC / MR * MR;
    /** Columns of a packed B panel (KC·NC floats = 6 MiB, in L3); a multiple of NR. */
    static final int NC = Settings.GEMM_NC / NR * NR;

    /**
     * Pack buffers and tile of one running product, 64-byte aligned (6.4 MiB with the default blocking),
     * taken from {@link #WORKSPACES} for the call: a thread-local cache would keep one per thread that
     * ever multiplied, which with a virtual thread per request is one per request.
     */
    private static final class Workspace {
        final Arena arena = Arena.ofShared();
        final MemorySegment packA = arena.allocate((long) MC * KC * Float.BYTES, Matrix.ALIGNMENT);
        final MemorySegment packB = arena.allocate((long) KC * NC * Float.BYTES, Matrix.ALIGNMENT);
        final MemorySegment tile = arena.allocate((long) MR * NR * Float.BYTES, Matrix.ALIGNMENT);
        final MemorySegment transposeScratch = arena.allocate((long) L * L * Float.BYTES, Matrix.ALIGNMENT);

        void free() { arena.close(); }
    }

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
        gemmBlock(ta, tb, alpha, a, b, beta, c, i0, i1, j0, j1, readsBInPlace(tb, b));
    }

    /**
     * Whether full slivers of B are read where B is stored instead of packed: for B as stored (tb = N)
     * whose rows lie an odd number of cache lines apart (or not a whole number), so a sliver's steps
     * spread over all L1 sets and reading in place saves the copy. With rows 2ⁿ lines apart a sliver's
     * steps land on a few sets and evict each other, so those are packed.
     */
    static boolean readsBInPlace(Transpose tb, Matrix b) {
        return tb == Transpose.N && (long) b.stride() * Float.BYTES % 128 != 0;
    }

    static void gemmBlock(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                          int i0, int i1, int j0, int j1, boolean directB) {
        Workspace ws = WORKSPACES.acquire();
        try {
            gemmBlock(ta, tb, alpha, a, b, beta, c, i0, i1, j0, j1, directB, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    private static void gemmBlock(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                                  int i0, int i1, int j0, int j1, boolean directB, Workspace ws) {
        int k = ta.cols(a);
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float betaHere = pc == 0 ? beta : 1f;           // later panels accumulate onto the first
                packB(tb, b, pc, kc, jc, nc, ws.packB, ws.transposeScratch, directB ? nc / NR : 0, slivers(nc));
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(ta, alpha, a, ic, mc, pc, kc, ws.packA);
                    macroKernel(ws, ws.packB, kc, mc, nc, betaHere, c, ic, jc, ta == Transpose.T, directB ? b : null, pc);
                }
            }
        }
    }

    private static int slivers(int nc) {
        return (nc + NR - 1) / NR;
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
        boolean directB = readsBInPlace(tb, b);
        int chunkRows = team.chunkRows, chunks = (m + chunkRows - 1) / chunkRows;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int first = directB ? nc / NR : 0, share = (slivers(nc) - first + team.size - 1) / team.size;
            int from = first + t * share, to = Math.min(slivers(nc), from + share);   // this member's slivers
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float betaHere = pc == 0 ? beta : 1f;
                if (from < to) packB(tb, b, pc, kc, jc, nc, team.packB, ws.transposeScratch, from, to);
                if (t == 0) team.deal(chunks);              // nobody takes chunks until all have passed the barrier
                team.await();
                for (int chunk; (chunk = team.take(t)) >= 0; ) {
                    int ic = chunk * chunkRows, mc = Math.min(chunkRows, m - ic);
                    packA(ta, alpha, a, ic, mc, pc, kc, ws.packA);
                    macroKernel(ws, team.packB, kc, mc, nc, betaHere, c, ic, jc, ta == Transpose.T, directB ? b : null, pc);
                }
                team.await();                               // the buffer is refilled only when all are done with it
            }
        }
    }

    private static void macroKernel(Workspace ws, MemorySegment packedB, int kc, int mc, int nc, float beta, Matrix c, int ic, int jc,
                                    boolean aColumns, Matrix directB, int pc) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
                tile(ws, packedB, kc, ir, jr, aColumns, beta, c, ic, jc, Math.min(MR, mc - ir), nr, directB, pc);
            }
        }
    }

    /**
     * One MR×NR tile of C, α being already in the packed A. With β = 0 a full tile goes from the
     * registers straight into C; otherwise (β ≠ 0, or an edge tile) it goes to ws.tile and from there,
     * {@code C = T + β·C}, into the valid part of C.
     */
    private static void tile(Workspace ws, MemorySegment packedB, int kc, int ir, int jr, boolean aColumns, float beta, Matrix c, int ic, int jc,
                             int mr, int nr, Matrix directB, int pc) {
        long aOff = (long) ir * kc * Float.BYTES;
        long aRow = aColumns ? Float.BYTES : (long) kc * Float.BYTES;               // see packA for the two layouts
        long aStep = aColumns ? (long) MR * Float.BYTES : Float.BYTES;
        MemorySegment bs = packedB;
        long bOff = (long) jr * kc * Float.BYTES, bStep = (long) NR * Float.BYTES;
        if (directB != null && nr == NR) {                 // a full sliver of B read where it is stored
            bs = directB.segment();
            bOff = (directB.offset() + (long) pc * directB.stride() + jc + jr) * Float.BYTES;
            bStep = (long) directB.stride() * Float.BYTES;
        }
        boolean full = mr == MR && nr == NR;
        long cOff = (c.offset() + (long) (ic + ir) * c.stride() + jc + jr) * Float.BYTES, cRow = (long) c.stride() * Float.BYTES;
        if (beta == 0f && full) {
            microKernel(kc, ws.packA, aOff, aRow, aStep, bs, bOff, bStep, c.segment(), cOff, cRow);
            return;
        }
        microKernel(kc, ws.packA, aOff, aRow, aStep, bs, bOff, bStep, ws.tile, 0, (long) NR * Float.BYTES);
        if (full) {
            addFullTile(ws.tile, beta, c.segment(), cOff, cRow);
        } else {
            writeBack(ws.tile, beta, c, ic + ir, jc + jr, mr, nr);
        }
    }

    /**
     * The MR×NR tile {@code T = Σ_p a[:, p] ⊗ b[p, :]} over kc steps, stored into an MR×NR block of
     * {@code out} whose rows are {@code outRow} bytes apart. Step p of the B sliver is the NR floats at
     * {@code bOff + p·bStep} bytes (packed: bStep = NR floats; read in place: B's row stride); A float
     * (r, p) is at {@code aOff + r·aRow + p·aStep} bytes (packA's two layouts). Kept flat and free of calls that
     * take vectors, so C2 keeps all 16 accumulators in registers; and kept this small on purpose: a
     * version that also read C and applied β here fails C1's register allocation and can be left in C1's
     * tier 2 for good (README, "Vector API and JIT pitfalls").
     */
    static void microKernel(int kc, MemorySegment pa, long aOff, long aRow, long aStep, MemorySegment pb, long bOff, long bStep,
                            MemorySegment out, long outOff, long outRow) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        long a1 = aRow, a2 = 2 * aRow, a3 = 3 * aRow, a4 = 4 * aRow, a5 = 5 * aRow, a6 = 6 * aRow, a7 = 7 * aRow;
        for (int p = 0; p < kc; p++) {
            long bp = bOff + p * bStep;
            long ap = aOff + p * aStep;
            FloatVector b0 = FloatVector.fromMemorySegment(S, pb, bp, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, pb, bp + (long) L * Float.BYTES, LE);
            FloatVector x = FloatVector.broadcast(S, pa.get(FLOAT, ap));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a1));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a2));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a3));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a4));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a5));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a6));
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, pa.get(FLOAT, ap + a7));
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
        }
        long h = (long) L * Float.BYTES, o = outOff;
        c00.intoMemorySegment(out, o, LE);
        c01.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c10.intoMemorySegment(out, o, LE);
        c11.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c20.intoMemorySegment(out, o, LE);
        c21.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c30.intoMemorySegment(out, o, LE);
        c31.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c40.intoMemorySegment(out, o, LE);
        c41.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c50.intoMemorySegment(out, o, LE);
        c51.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c60.intoMemorySegment(out, o, LE);
        c61.intoMemorySegment(out, o + h, LE);
        o += outRow;
        c70.intoMemorySegment(out, o, LE);
        c71.intoMemorySegment(out, o + h, LE);
    }

    /** {@code C = T + β·C} for a full MR×NR tile at byte offset {@code cOff} of C, rows {@code cRow} bytes apart. */
    private static void addFullTile(MemorySegment tile, float beta, MemorySegment cs, long cOff, long cRow) {
        FloatVector betaV = FloatVector.broadcast(S, beta);
        long h = (long) L * Float.BYTES;
        for (int r = 0; r < MR; r++) {
            long t = (long) r * NR * Float.BYTES, at = cOff + r * cRow;
            FloatVector c0 = FloatVector.fromMemorySegment(S, cs, at, LE), c1 = FloatVector.fromMemorySegment(S, cs, at + h, LE);
            c0.fma(betaV, FloatVector.fromMemorySegment(S, tile, t, LE)).intoMemorySegment(cs, at, LE);
            c1.fma(betaV, FloatVector.fromMemorySegment(S, tile, t + h, LE)).intoMemorySegment(cs, at + h, LE);
        }
    }

    /** {@code C[i0:i0+mr, j0:j0+nr] = T + β·C} (β = 0: C not read), for the valid part of the tile. */
    private static void writeBack(MemorySegment tile, float beta, Matrix c, int i0, int j0, int mr, int nr) {
        MemorySegment cs = c.segment();
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int r = 0; r < mr; r++) {
            long cRow = (c.offset() + (long) (i0 + r) * c.stride() + j0) * Float.BYTES;
            long tRow = (long) r * NR * Float.BYTES;
            int j = 0;
            for (; j + L <= nr; j += L) {
                FloatVector t = FloatVector.fromMemorySegment(S, tile, tRow + (long) j * Float.BYTES, LE);
                long at = cRow + (long) j * Float.BYTES;
                if (beta != 0f) t = FloatVector.fromMemorySegment(S, cs, at, LE).fma(betaV, t);
                t.intoMemorySegment(cs, at, LE);
            }
            for (; j < nr; j++) {
                long at = cRow + (long) j * Float.BYTES;
                float t = tile.get(FLOAT, tRow + (long) j * Float.BYTES);
                cs.set(FLOAT, at, beta == 0f ? t : t + beta * cs.get(FLOAT, at));
            }
        }
    }

    /**
     * Packs α·op(A)[ic:ic+mc, pc:pc+kc], zero past row mc up to a multiple of MR, in whichever of two
     * layouts is a straight copy of how A is stored (the micro-kernel reads both, through two strides):
     * <ul>
     *   <li>ta = N, rows of op(A) contiguous: row-major with rows kc floats long, float (i, p) at
     *       {@code i·kc + p}, so a sliver is MR row streams — one vector copy per row;</li>
     *   <li>ta = T, columns of op(A) contiguous: MR-row slivers, step-major, float (s·MR + r, p) at
     *       {@code s·MR·kc + p·MR + r} — one 8-float vector copy per step.</li>
     * </ul>
     * Each layout is the one that a straight vector copy produces, so neither needs a transpose. Copy and
     * zero-fill are separate loops (a conditional load there made C2 deoptimise endlessly).
     */
    private static void packA(Transpose ta, float alpha, Matrix a, int ic, int mc, int pc, int kc, MemorySegment buf) {
        MemorySegment as = a.segment();
        long stride = a.stride();
        if (ta == Transpose.N) {
            long src = a.offset() + (long) ic * stride + pc;
            int vectorPart = kc / L * L;
            for (int i = 0; i < mc; i++) {
                long from = (src + i * stride) * Float.BYTES, to = (long) i * kc * Float.BYTES;
                for (int p = 0; p < vectorPart; p += L) {
                    long o = (long) p * Float.BYTES;
                    FloatVector.fromMemorySegment(S, as, from + o, LE).mul(alpha).intoMemorySegment(buf, to + o, LE);
                }
                for (int p = vectorPart; p < kc; p++) {
                    long o = (long) p * Float.BYTES;
                    buf.set(FLOAT, to + o, alpha * as.get(FLOAT, from + o));
                }
            }
            int padded = (mc + MR - 1) / MR * MR;
            zero(buf, (long) mc * kc, (long) (padded - mc) * kc);
            return;
        }
        for (int s = 0; s * MR < mc; s++) {
            int rows = Math.min(MR, mc - s * MR);
            long dst = (long) s * MR * kc;
            long src = a.offset() + (long) pc * stride + ic + (long) s * MR;
            if (rows == MR && S8_NATIVE) {
                for (int p = 0; p < kc; p++) {
                    FloatVector.fromMemorySegment(S8, as, (src + p * stride) * Float.BYTES, LE).mul(alpha)
                            .intoMemorySegment(buf, (dst + (long) p * MR) * Float.BYTES, LE);
                }
                continue;
            }
            for (int p = 0; p < kc; p++) {
                for (int r = 0; r < rows; r++) {
                    buf.setAtIndex(FLOAT, dst + (long) p * MR + r, alpha * as.getAtIndex(FLOAT, src + p * stride + r));
                }
            }
            for (int p = 0; p < kc; p++) {
                for (int r = rows; r < MR; r++) buf.setAtIndex(FLOAT, dst + (long) p * MR + r, 0f);
            }
        }
    }

    /**
     * Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-column slivers: sliver s, step p holds the NR floats
     * op(B)[pc+p, jc+s·NR+j], j < NR, zero past column nc. B as stored (tb = N): two vector copies per
     * step; transposed: full slivers 16×16 blocks at a time through registers ({@link #transpose16}),
     * the rest by a scalar transpose that reads each row of B in order. Slivers before
     * {@code fromSliver} (read in place, see {@link #readsBInPlace}) and from {@code toSliver} on
     * (packed by another thread, see {@link #gemmShared}) are skipped.
     */
    private static void packB(Transpose tb, Matrix b, int pc, int kc, int jc, int nc, MemorySegment buf,
                              MemorySegment scratch, int fromSliver, int toSliver) {
        MemorySegment bs = b.segment();
        long stride = b.stride();
        for (int s = fromSliver; s < toSliver; s++) {
            int cols = Math.min(NR, nc - s * NR);
            long dst = (long) s * NR * kc;                     // in floats
            if (tb == Transpose.N) {
                long src = b.offset() + (long) pc * stride + jc + (long) s * NR;
                if (cols == NR) {
                    for (int p = 0; p < kc; p++) {
                        long from = (src + p * stride) * Float.BYTES, to = (dst + (long) p * NR) * Float.BYTES;
                        FloatVector.fromMemorySegment(S, bs, from, LE).intoMemorySegment(buf, to, LE);
                        FloatVector.fromMemorySegment(S, bs, from + (long) L * Float.BYTES, LE)
                                .intoMemorySegment(buf, to + (long) L * Float.BYTES, LE);
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++) {
                    for (int j = 0; j < cols; j++) {
                        buf.setAtIndex(FLOAT, dst + (long) p * NR + j, bs.getAtIndex(FLOAT, src + p * stride + j));
                    }
                }
            } else {
                long src = b.offset() + (jc + (long) s * NR) * stride + pc;
                int p0 = 0;
                if (cols == NR && TRANSPOSE_IN_REGISTERS) {         // two 16x16 blocks per 16 steps
                    long inRow = stride * Float.BYTES, outRow = (long) NR * Float.BYTES;
                    for (; p0 + L <= kc; p0 += L) {
                        long from = (src + p0) * Float.BYTES, to = (dst + (long) p0 * NR) * Float.BYTES;
                        transpose16(bs, from, inRow, buf, to, outRow, scratch);
                        transpose16(bs, from + L * inRow, inRow, buf, to + (long) L * Float.BYTES, outRow, scratch);
                    }
                }
                for (; p0 < kc; p0 += 16) {                         // 16 steps at a time: read and written lines stay in L1
                    int p1 = Math.min(kc, p0 + 16);
                    for (int j = 0; j < cols; j++) {
                        long row = src + j * stride;
                        for (int p = p0; p < p1; p++) {
                            buf.setAtIndex(FLOAT, dst + (long) p * NR + j, bs.getAtIndex(FLOAT, row + p));
                        }
                    }
                }
            }
            for (int p = 0; p < kc; p++) {
                for (int j = cols; j < NR; j++) buf.setAtIndex(FLOAT, dst + (long) p * NR + j, 0f);
            }
        }
    }

    /** Whether packB transposes B 16×16 blocks at a time in registers (512-bit vectors only). */
    private static final boolean TRANSPOSE_IN_REGISTERS = Lanes.SIXTEEN;
    /**
     * Transposes the 16×16 block whose row i is the 16 floats at {@code inOff + i·inRow} of {@code in} into
     * rows at {@code outOff + p·outRow} of {@code out}, through {@code scratch} (16×16 floats). Four stages,
     * d = 4, 2, 1 within each half of the rows, then d = 8 across the halves: stage d swaps the d×d
     * off-diagonal blocks of every 2d×2d block with two-source permutes, so an element at (row i, lane l)
     * trades bit d of i and l when they differ; the stages commute, and after all four it sits at (l, i).
     * Split in three calls on purpose: the whole transpose in one method fails C1's register allocation
     * ("out of virtual registers") and can stay in C1's tier 2 (README, "Vector API and JIT pitfalls").
     */
    private static void transpose16(MemorySegment in, long inOff, long inRow, MemorySegment out, long outOff, long outRow,
                                    MemorySegment scratch) {
        transposeWithinHalf(in, inOff, inRow, scratch, 0);
        transposeWithinHalf(in, inOff + L / 2 * inRow, inRow, scratch, L / 2 * (long) L * Float.BYTES);
        long half = (long) L / 2 * L * Float.BYTES, row = (long) L * Float.BYTES;
        for (int i = 0; i < L / 2; i++) {
            FloatVector a = FloatVector.fromMemorySegment(S, scratch, i * row, LE);
            FloatVector b = FloatVector.fromMemorySegment(S, scratch, half + i * row, LE);
            Lanes.LO8.selectFrom(a, b).intoMemorySegment(out, outOff + i * outRow, LE);
            Lanes.HI8.selectFrom(a, b).intoMemorySegment(out, outOff + (i + L / 2) * outRow, LE);
        }
    }

    /** Stages d = 4, 2, 1 of {@link #transpose16} on 8 rows of 16 floats, stored as 8 rows (64 bytes apart) at {@code scratchOff}. */
    private static void transposeWithinHalf(MemorySegment in, long inOff, long inRow, MemorySegment scratch, long scratchOff) {
        FloatVector r0 = FloatVector.fromMemorySegment(S, in, inOff, LE);
        FloatVector r1 = FloatVector.fromMemorySegment(S, in, inOff + 1 * inRow, LE);
        FloatVector r2 = FloatVector.fromMemorySegment(S, in, inOff + 2 * inRow, LE);
        FloatVector r3 = FloatVector.fromMemorySegment(S, in, inOff + 3 * inRow, LE);
        FloatVector r4 = FloatVector.fromMemorySegment(S, in, inOff + 4 * inRow, LE);
        FloatVector r5 = FloatVector.fromMemorySegment(S, in, inOff + 5 * inRow, LE);
        FloatVector r6 = FloatVector.fromMemorySegment(S, in, inOff + 6 * inRow, LE);
        FloatVector r7 = FloatVector.fromMemorySegment(S, in, inOff + 7 * inRow, LE);
        FloatVector t;
        t = r0; r0 = Lanes.LO4.selectFrom(t, r4); r4 = Lanes.HI4.selectFrom(t, r4);
        t = r1; r1 = Lanes.LO4.selectFrom(t, r5); r5 = Lanes.HI4.selectFrom(t, r5);
        t = r2; r2 = Lanes.LO4.selectFrom(t, r6); r6 = Lanes.HI4.selectFrom(t, r6);
        t = r3; r3 = Lanes.LO4.selectFrom(t, r7); r7 = Lanes.HI4.selectFrom(t, r7);
        t = r0; r0 = Lanes.LO2.selectFrom(t, r2); r2 = Lanes.HI2.selectFrom(t, r2);
        t = r1; r1 = Lanes.LO2.selectFrom(t, r3); r3 = Lanes.HI2.selectFrom(t, r3);
        t = r4; r4 = Lanes.LO2.selectFrom(t, r6); r6 = Lanes.HI2.selectFrom(t, r6);
        t = r5; r5 = Lanes.LO2.selectFrom(t, r7); r7 = Lanes.HI2.selectFrom(t, r7);
        t = r0; r0 = Lanes.LO1.selectFrom(t, r1); r1 = Lanes.HI1.selectFrom(t, r1);
        t = r2; r2 = Lanes.LO1.selectFrom(t, r3); r3 = Lanes.HI1.selectFrom(t, r3);
        t = r4; r4 = Lanes.LO1.selectFrom(t, r5); r5 = Lanes.HI1.selectFrom(t, r5);
        t = r6; r6 = Lanes.LO1.selectFrom(t, r7); r7 = Lanes.HI1.selectFrom(t, r7);
        r0.intoMemorySegment(scratch, scratchOff + 0, LE);
        r1.intoMemorySegment(scratch, scratchOff + 64, LE);
        r2.intoMemorySegment(scratch, scratchOff + 128, LE);
        r3.intoMemorySegment(scratch, scratchOff + 192, LE);
        r4.intoMemorySegment(scratch, scratchOff + 256, LE);
        r5.intoMemorySegment(scratch, scratchOff + 320, LE);
        r6.intoMemorySegment(scratch, scratchOff + 384, LE);
        r7.intoMemorySegment(scratch, scratchOff + 448, LE);
    }

    private static void zero(MemorySegment buf, long from, long count) {
        for (long i = 0; i < count; i++) buf.setAtIndex(FLOAT, from + i, 0f);
    }
}
