package io.vectorprop.kernel.gemm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.Lanes;
import io.vectorprop.kernel.internal.ScratchPool;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * The packed path of SGEMM {@code C = α·op(A)·op(B) + β·C}: BLIS's loops around the micro-kernel, in
 * one loop nest that every caller runs ({@link #nest}) — one thread as a team of one, or each member of
 * a team of threads ({@link GemmThreads}), or a predictor's dense layer with weights packed once.
 *
 * <pre>
 * for jc in N step NC (wider for shallow panels: {@link GemmBlocking#panelWidth}):   B panel  KC×NC  (L2)
 *   for pc in K step ≤ KC (even panels: {@link GemmBlocking#panelDepth})
 *     each member packs its share of op(B)[pc:pc+kc, jc:jc+nc]       {@link GemmPacking#packB}
 *       into the team's NR-wide slivers (a team of two: each all of it into its own;
 *       or reads weights packed once)
 *     barrier
 *     for ic in M step chunk (≤ MC), chunks dealt out to the members:  A block  (L2/L3)
 *       pack α·op(A)[ic:ic+mc, pc:pc+kc] into MR-row slivers         {@link GemmPacking#packA}
 *       for ir in mc step MR:           A sliver MR×KC  (L1)          {@link #macroKernel}
 *         for jr in nc step NR:         B sliver KC×NR  (from L2)
 *           MR×NR tile = A sliver · B sliver                         {@link GemmMicroKernel}
 *           C tile = tile + β·C tile                                 {@link #writeBack}
 *     barrier (the panel is refilled only when all are done with it)
 * </pre>
 *
 * The tile and block sizes are {@link GemmBlocking}'s. α is applied while packing A. When C is not
 * accumulated onto (β = 0 and the first panel) a full tile goes from the registers straight into C;
 * otherwise the micro-kernel stores it into a small buffer and {@link #writeBack}, the one place that
 * applies β, adds it onto the valid part of C. Every element of C goes through the same operations
 * whichever member computes it, so a team's result is bit-identical to one thread's. Pack buffers come
 * from a pool, so nothing is allocated per call.
 */
final class PackedLoops {
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
        final float[] packB = PanelBuffers.allocate(KC * NC);
        final float[] scratch = new float[GemmPacking.SCRATCH_FLOATS];
        /** The bias of the columns of one B panel, zero past its end: the accumulators' start in a dense layer. */
        final float[] biasRow = new float[GemmBlocking.MAX_PANEL_WIDTH];
        final MemorySegment tile = arena.allocate((long) MR * NR * Float.BYTES, Matrix.ALIGNMENT);
        /** A thread computing alone is a team of one, packing B into this workspace's buffer. */
        final GemmThreads.Team solo = new GemmThreads.Team(1, packB);

        void free() { arena.close(); }
    }

    /** Where the accumulators of a plain product start: zeros as wide as the widest panel (read at the column of the tile within its panel). */
    private static final float[] ZEROS = new float[GemmBlocking.MAX_PANEL_WIDTH];

    private static final ScratchPool<Workspace> WORKSPACES =
            new ScratchPool<>(2 * Runtime.getRuntime().availableProcessors(), Workspace::new, Workspace::free);

    /**
     * Teams of up to this many members each pack the whole B panel into their own buffer instead of a
     * share of one panel for all. A shared panel is read by every member, so when it is refilled each
     * line a member writes is in the other members' caches and the write must first take it from them.
     * Timed inside one JVM on a Zen 5 (256×256×784 NT, two threads): packing its half of the shared
     * panels took each member 66 µs a call, where one thread packs all of them into its own buffer in
     * 42 µs — so each member packing the whole panel for itself is sooner, and then reads B from its own
     * cache: 366–372 µs a call instead of 420–440. Each member's share of a shared panel shrinks as
     * 1/members while a whole panel does not; larger teams, not measured here, keep the shared one.
     * The buffers are the team's, two of KC×NC floats.
     */
    static final int OWN_PANEL_MAX_MEMBERS = 2;

    private PackedLoops() {}

    /** Rows [i0, i1) and columns [j0, j1) of C on the calling thread, a team of one; accumulators from {@code bias} unless null. */
    static void compute(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c, Matrix bias,
                        int i0, int i1, int j0, int j1) {
        Workspace ws = WORKSPACES.acquire();
        try {
            ws.solo.reset(1, MC);
            nest(ta, tb, alpha, a, b, beta, c, null, 0, bias, i0, i1, j0, j1, ws.solo, 0, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    /** Member t of {@code team}: its share of the whole of C (see {@link GemmThreads}). */
    static void computeAsMember(GemmCall call, GemmThreads.Team team, int t) {
        Workspace ws = WORKSPACES.acquire();
        try {
            nest(call.ta(), call.tb(), call.alpha(), call.a(), call.b(), call.beta(), call.c(), null, 0, call.bias(),
                    0, call.m(), 0, call.n(), team, t, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    private static int slivers(int nc) {
        return (nc + NR - 1) / NR;
    }

    /**
     * Each W (out × in) of {@code ws} as the B operand of {@code A·Wᵀ}, packed once, all into one buffer:
     * sliver {@code s} of W holds op(B) = Wᵀ restricted to columns {@code s·NR … s·NR+NR−1} (rows of W) for
     * every step p of k, float (p, j) at {@code start + s·in·NR + p·NR + j}, outputs past {@code out} zero,
     * where {@code starts[l]} receives W number l's start. A k panel of depth kc starting at pc is then the
     * window {@code pc·NR …} of each sliver, so one layout serves every panel depth. One buffer for all
     * layers so that it is large enough for {@link PanelBuffers} to place on 64-byte lines (the micro-kernel
     * loads NR floats of a sliver per step) without a half-region buffer per layer.
     */
    static float[] packWeights(Matrix[] ws, int[] starts) {
        long floats = 0;
        for (Matrix w : ws) floats += (long) slivers(w.rows()) * NR * w.cols();
        if (floats > Integer.MAX_VALUE - 64) {                // the packed copy is one heap array (see GemmMicroKernel)
            throw new IllegalArgumentException("packWeights: " + ws.length + " weight matrices need " + floats
                    + " floats packed, more than one Java array holds (" + (Integer.MAX_VALUE - 64) + ")");
        }
        float[] packed = PanelBuffers.allocateWeights(floats);
        int next = PanelBuffers.alignedStart(floats);        // each layer's floats are a multiple of NR: all start on lines
        for (int l = 0; l < ws.length; l++) {
            Matrix w = ws[l];
            int out = w.rows(), in = w.cols();
            starts[l] = next;
            for (int j = 0; j < out; j++) {                 // once per predictor: plain loops, off the Vector API
                int base = next + j / NR * in * NR + j % NR;
                for (int p = 0; p < in; p++) packed[base + p * NR] = w.get(j, p);
            }
            next += slivers(out) * NR * in;
        }
        return packed;
    }

    /**
     * {@code Z = x·Wᵀ + 1·bᵀ} with W packed by {@link #packWeights}, on the calling thread: the loop nest
     * with the B panels read where they already are, the accumulators of the first k panel starting
     * from the bias. Each element is {@code b + Σ} of the same products as the nest sums for
     * {@code gemm(N, T, 1, x, W, 0, out)}, the bias added first rather than last.
     */
    static void denseForward(Matrix x, float[] packedW, int start, Matrix bias, Matrix out) {
        Workspace ws = WORKSPACES.acquire();
        try {
            ws.solo.reset(1, MC);
            nest(Transpose.N, Transpose.T, 1f, x, null, 0f, out, packedW, start, bias, 0, out.rows(), 0, out.cols(), ws.solo, 0, ws);
        } finally {
            WORKSPACES.release(ws);
        }
    }

    /**
     * The loop nest (see the class comment), member {@code t} of {@code team} computing its share of rows
     * [i0, i1) and columns [j0, j1) of C: for each B panel every member packs an equal share of the
     * slivers into the team's one buffer (or, in a team of {@link #OWN_PANEL_MAX_MEMBERS} or fewer, all of
     * them into its own); all wait for each other; then each takes chunks of
     * at most {@code team.chunkRows} rows of C as the team deals them — whole MR-row slivers, spread evenly
     * over the chunks, so that 256 rows in 8 chunks are 5 or 6 slivers each rather than seven of 36 rows
     * and one of 4, which gave one of two threads 144 rows and the other 112 (its own run of rows first, see
     * {@link GemmThreads.Team#deal}), packs that A block into its own buffer and computes it; all wait
     * again before the buffer is refilled. In larger teams B is packed once, not once per thread; a member whose
     * core runs slower computes fewer chunks. With {@code weights} (W packed once by
     * {@link #packWeights}, a predictor's dense layer) nothing is packed: B's panels are windows of the
     * weights ({@code b} is not read). With a {@code bias} (1 × n; β is then 0) the first panel's
     * accumulators start from it instead of zero.
     */
    private static void nest(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                             float[] weights, int weightsStart, Matrix bias, int i0, int i1, int j0, int j1, GemmThreads.Team team, int t,
                             Workspace ws) {
        int k = ta.cols(a);
        int chunkRows = team.chunkRows, chunks = (i1 - i0 + chunkRows - 1) / chunkRows;
        int slivers = (i1 - i0 + MR - 1) / MR;              // ≥ chunks, as chunkRows ≥ MR
        boolean ownPanel = team.size > 1 && team.size <= team.ownPanels.length;
        int depth = GemmBlocking.panelDepth(k), width = GemmBlocking.panelWidth(depth);
        for (int jc = j0; jc < j1; jc += width) {
            int nc = Math.min(width, j1 - jc);
            int share = (slivers(nc) + team.size - 1) / team.size;
            int from = t * share, to = Math.min(slivers(nc), from + share);   // this member's slivers
            if (bias != null) {
                MemorySegment.copy(bias.segment(), FLOAT, (bias.offset() + jc) * Float.BYTES, ws.biasRow, 0, nc);
                java.util.Arrays.fill(ws.biasRow, nc, ws.biasRow.length, 0f);
            }
            for (int pc = 0; pc < k; pc += depth) {
                int kc = Math.min(depth, k - pc);
                float betaHere = pc == 0 ? beta : 1f;           // later panels accumulate onto the first
                float[] init = bias != null && pc == 0 ? ws.biasRow : ZEROS;
                float[] panel = weights != null ? weights : ownPanel ? team.ownPanels[t] : team.packB;
                int bBase = weights != null ? weightsStart + jc / NR * k * NR + pc * NR : PanelBuffers.START;
                int sliverStride = weights != null ? k * NR : kc * NR;
                if (weights == null && ownPanel) {
                    GemmPacking.packB(tb, b, pc, kc, jc, nc, panel, ws.scratch, 0, slivers(nc));
                } else if (weights == null && from < to) {
                    GemmPacking.packB(tb, b, pc, kc, jc, nc, team.packB, ws.scratch, from, to);
                }
                if (t == 0) team.deal(chunks);              // nobody takes chunks until all have passed the barrier
                team.await();
                for (int chunk; (chunk = team.take(t)) >= 0; ) {
                    int s0 = (int) ((long) chunk * slivers / chunks), s1 = (int) ((long) (chunk + 1) * slivers / chunks);
                    int ic = i0 + s0 * MR, mc = Math.min(i1, i0 + s1 * MR) - ic;
                    GemmPacking.packA(ta, alpha, a, ic, mc, pc, kc, ws.packA, ws.scratch);
                    macroKernel(ws, panel, bBase, sliverStride, init, kc, mc, nc, betaHere, c, ic, jc);
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
     * back to back from {@link PanelBuffers#START} ({@code sliverStride = kc·NR}); weights packed once ({@link #packWeights}) keep each
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
     * with β = 0, C is not read (it may hold NaN). The two cases are two loops chosen once per tile, not
     * a branch inside one loop: a vector that one branch may replace is a merge of two values, which C2
     * compiled into a loop four times slower once a JVM had seen both β = 0 and β ≠ 0 — as training
     * does (a forward pass's partial tiles and the weight update's β = 1).
     */
    static void writeBack(MemorySegment tile, float beta, Matrix c, int i0, int j0, int mr, int nr) {
        if (beta == 0f) {
            storeTile(tile, c, i0, j0, mr, nr);
        } else {
            addTile(tile, beta, c, i0, j0, mr, nr);
        }
    }

    /** {@code C = T} on the valid part of the tile. */
    private static void storeTile(MemorySegment tile, Matrix c, int i0, int j0, int mr, int nr) {
        MemorySegment cs = c.segment();
        int vectorPart = nr / L * L;
        for (int r = 0; r < mr; r++) {
            long cRow = (c.offset() + (long) (i0 + r) * c.stride() + j0) * Float.BYTES;
            long tRow = (long) r * NR * Float.BYTES;
            for (int j = 0; j < vectorPart; j += L) {
                FloatVector.fromMemorySegment(S, tile, tRow + (long) j * Float.BYTES, LE)
                        .intoMemorySegment(cs, cRow + (long) j * Float.BYTES, LE);
            }
            for (int j = vectorPart; j < nr; j++) {
                cs.set(FLOAT, cRow + (long) j * Float.BYTES, tile.get(FLOAT, tRow + (long) j * Float.BYTES));
            }
        }
    }

    /** {@code C = T + β·C} on the valid part of the tile. */
    private static void addTile(MemorySegment tile, float beta, Matrix c, int i0, int j0, int mr, int nr) {
        MemorySegment cs = c.segment();
        FloatVector betaV = FloatVector.broadcast(S, beta);
        int vectorPart = nr / L * L;
        for (int r = 0; r < mr; r++) {
            long cRow = (c.offset() + (long) (i0 + r) * c.stride() + j0) * Float.BYTES;
            long tRow = (long) r * NR * Float.BYTES;
            for (int j = 0; j < vectorPart; j += L) {
                long at = cRow + (long) j * Float.BYTES;
                FloatVector.fromMemorySegment(S, cs, at, LE)
                        .fma(betaV, FloatVector.fromMemorySegment(S, tile, tRow + (long) j * Float.BYTES, LE))
                        .intoMemorySegment(cs, at, LE);
            }
            for (int j = vectorPart; j < nr; j++) {
                long at = cRow + (long) j * Float.BYTES;
                cs.set(FLOAT, at, tile.get(FLOAT, tRow + (long) j * Float.BYTES) + beta * cs.get(FLOAT, at));
            }
        }
    }
}
