package io.vectorprop.kernel;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * GEMM paths without packing, for the shapes of MLP layers at small batch, where packing costs more
 * than it saves (see {@link VectorGemm} for the packed path):
 * <ul>
 *   <li>{@link #dotNT}: {@code C = α·A·Bᵀ + βC} with A and B both row-major along k (the forward
 *       pass {@code Z = A·Wᵀ}): every {@code c[i][j]} is a dot product of two contiguous rows. A 4×4
 *       block of outputs keeps 16 vector accumulators along k (4 A loads + 4 B loads per 16 FMAs),
 *       then reduces each across lanes. Rows of W are read straight from the weights, once per 4 rows
 *       of A (2×8 blocks for two leftover rows); at batch 1 this streams each weight row once, eight
 *       rows at a time.</li>
 *   <li>{@link #rowsNN}: {@code C = α·A·B + βC} for a few rows of A, or a small k (a rank-k update):
 *       each row of C is {@code Σ_p a[i,p]·B[p,:]}, accumulated while B streams by rows, four (or
 *       two) rows of C at a time so each load of B serves all of them; C is read (β ≠ 0) and written
 *       once. For the weight update Δᵀ·A_prev with k a multiple of 5 up to 15 (batch 10), five steps per
 *       pass over two rows of C, their broadcasts held in registers.</li>
 * </ul>
 * Vector loads are written out rather than wrapped in a helper (see {@link VectorKernels}).
 */
final class VectorGemmSmall {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorGemmSmall() {}

    private static void put(Matrix c, int i, int j, float alpha, float beta, float dot) {
        MemorySegment cs = c.segment();
        long at = c.offset() + (long) i * c.stride() + j;
        float v = alpha * dot;
        cs.setAtIndex(FLOAT, at, beta == 0f ? v : v + beta * cs.getAtIndex(FLOAT, at));
    }

    /**
     * Rows of B handled together: a chunk of JC rows stays in L2 (JC·K floats, 192 KiB at K = 784)
     * while every row of A passes over it, so B is read from memory once, not once per 4 rows of A.
     */
    static final int JC = 64;

    /**
     * Room for the 16 accumulators of a 4×4 block (reduced after the k loop), one per running call from a
     * bounded pool (not per thread: see {@link ScratchPool}).
     */
    private static final ScratchPool<Scratch> SCRATCH = new ScratchPool<>(
            2 * Runtime.getRuntime().availableProcessors(), Scratch::new, Scratch::free);

    private static final class Scratch {
        final java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();
        final MemorySegment accumulators = arena.allocate(16L * L * Float.BYTES, Matrix.ALIGNMENT);

        void free() { arena.close(); }
    }

    /** C[i0:i1, j0:j1] = α·A·Bᵀ + βC, A (M×K) and B (N×K) not transposed in memory along k. */
    static void dotNT(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1, int j0, int j1) {
        Scratch held = SCRATCH.acquire();
        try {
            for (int jc = j0; jc < j1; jc += JC) {
                dotChunk(alpha, a, b, beta, c, i0, i1, jc, Math.min(j1, jc + JC), held.accumulators);
            }
        } finally {
            SCRATCH.release(held);
        }
    }

    private static void dotChunk(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1, int j0, int j1,
                                 MemorySegment scratch) {
        int k = a.cols();
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            int j = j0;
            for (; j + 4 <= j1; j += 4) {
                dot4x4(a, b, i, j, k, scratch);
                finish(alpha, a, b, beta, c, i, j, k, scratch, 4, 4);
            }
            for (; j < j1; j++) {                     // the last n % 4 columns: rare, so plain loops (see dot)
                for (int r = 0; r < 4; r++) put(c, i + r, j, alpha, beta, dot(a, i + r, b, j, k));
            }
        }
        for (; i + 2 <= i1; i += 2) {
            int j = j0;
            for (; j + 8 <= j1; j += 8) {
                dot2x8(a, b, i, j, k, scratch);
                if (FINISH8 && k % L == 0) {
                    finish8(alpha, beta, c, i, j, scratch, 0);
                    finish8(alpha, beta, c, i + 1, j, scratch, 8);
                } else {
                    finish(alpha, a, b, beta, c, i, j, k, scratch, 2, 8);
                }
            }
            for (int r = i; r < i + 2; r++) {
                int jr = j;
                for (; jr + 4 <= j1; jr += 4) dot1x4(alpha, a, b, beta, c, r, jr, k);
                for (; jr < j1; jr++) put(c, r, jr, alpha, beta, dot(a, r, b, jr, k));
            }
        }
        for (; i < i1; i++) {
            int j = j0;
            for (; j + 8 <= j1; j += 8) {
                dot1x8(a, b, i, j, k, scratch);
                if (FINISH8 && k % L == 0) {
                    finish8(alpha, beta, c, i, j, scratch, 0);
                } else {
                    finish(alpha, a, b, beta, c, i, j, k, scratch, 1, 8);
                }
            }
            for (; j + 4 <= j1; j += 4) {
                dot1x4(alpha, a, b, beta, c, i, j, k);
            }
            for (; j < j1; j++) put(c, i, j, alpha, beta, dot(a, i, b, j, k));
        }
    }

    /**
     * One dot product of row i of A and row j of B, in plain float arithmetic. It only serves the
     * last n % 4 columns, a few calls per product: too rarely for C2 to compile vector code here in
     * time, and Vector API code not compiled by C2 allocates a heap object per vector (a vectorized
     * version made the batch-1 prediction allocate).
     */
    static float dot(Matrix a, int i, Matrix b, int j, int k) {
        return tail(a.segment(), a.offset() + (long) i * a.stride(), b.segment(), b.offset() + (long) j * b.stride(), 0, k);
    }

    /** A 1×4 block: row i of A against rows j … j+3 of B (batch 1: each weight row read once). */
    static void dot1x4(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k) {
        MemorySegment as = a.segment(), bs = b.segment();
        long ao = a.offset() + (long) i * a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bStride = b.stride();
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        int p = 0;
        for (; p + L <= k; p += L) {
            FloatVector av = FloatVector.fromMemorySegment(S, as, (ao + p) * Float.BYTES, LE);
            s0 = av.fma(FloatVector.fromMemorySegment(S, bs, (b0 + p) * Float.BYTES, LE), s0);
            s1 = av.fma(FloatVector.fromMemorySegment(S, bs, (b0 + bStride + p) * Float.BYTES, LE), s1);
            s2 = av.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 2 * bStride + p) * Float.BYTES, LE), s2);
            s3 = av.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 3 * bStride + p) * Float.BYTES, LE), s3);
        }
        float d0 = Lanes.sum(s0), d1 = Lanes.sum(s1);
        float d2 = Lanes.sum(s2), d3 = Lanes.sum(s3);
        for (; p < k; p++) {
            float av = as.getAtIndex(FLOAT, ao + p);
            d0 += av * bs.getAtIndex(FLOAT, b0 + p);
            d1 += av * bs.getAtIndex(FLOAT, b0 + bStride + p);
            d2 += av * bs.getAtIndex(FLOAT, b0 + 2 * bStride + p);
            d3 += av * bs.getAtIndex(FLOAT, b0 + 3 * bStride + p);
        }
        put(c, i, j, alpha, beta, d0);
        put(c, i, j + 1, alpha, beta, d1);
        put(c, i, j + 2, alpha, beta, d2);
        put(c, i, j + 3, alpha, beta, d3);
    }

    /**
     * A 1×8 block: row i of A against rows j … j+7 of B (batch 1: eight weight rows stream at once and
     * each load of the input row serves eight FMAs). Accumulators are parked for {@link #finish},
     * as in dot4x4; each output gets the same additions, in the same order, as in dot1x4.
     */
    static void dot1x8(Matrix a, Matrix b, int i, int j, int k, MemorySegment scratch) {
        MemorySegment as = a.segment(), bs = b.segment();
        long ao = a.offset() + (long) i * a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        FloatVector s4 = FloatVector.zero(S), s5 = FloatVector.zero(S), s6 = FloatVector.zero(S), s7 = FloatVector.zero(S);
        for (int p = 0; p + L <= k; p += L) {
            FloatVector x = FloatVector.fromMemorySegment(S, as, (ao + p) * Float.BYTES, LE);
            s0 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + p) * Float.BYTES, LE), s0);
            s1 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 1 * bS + p) * Float.BYTES, LE), s1);
            s2 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 2 * bS + p) * Float.BYTES, LE), s2);
            s3 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 3 * bS + p) * Float.BYTES, LE), s3);
            s4 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 4 * bS + p) * Float.BYTES, LE), s4);
            s5 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 5 * bS + p) * Float.BYTES, LE), s5);
            s6 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 6 * bS + p) * Float.BYTES, LE), s6);
            s7 = x.fma(FloatVector.fromMemorySegment(S, bs, (b0 + 7 * bS + p) * Float.BYTES, LE), s7);
        }
        long v = (long) L * Float.BYTES;
        s0.intoMemorySegment(scratch, 0, LE);
        s1.intoMemorySegment(scratch, 1 * v, LE);
        s2.intoMemorySegment(scratch, 2 * v, LE);
        s3.intoMemorySegment(scratch, 3 * v, LE);
        s4.intoMemorySegment(scratch, 4 * v, LE);
        s5.intoMemorySegment(scratch, 5 * v, LE);
        s6.intoMemorySegment(scratch, 6 * v, LE);
        s7.intoMemorySegment(scratch, 7 * v, LE);
    }

    /**
     * A 2×8 block: rows i, i+1 of A against rows j … j+7 of B, 16 accumulators (c_rs = row r of A · row s
     * of B); 10 loads feed 16 FMAs, so two leftover rows of A (batch 10 = 4 + 4 + 2) read the weights
     * once, not twice. Parked for {@link #finish} like dot4x4.
     */
    static void dot2x8(Matrix a, Matrix b, int i, int j, int k, MemorySegment scratch) {
        MemorySegment as = a.segment(), bs = b.segment();
        long a0 = a.offset() + (long) i * a.stride(), a1 = a0 + a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S), c03 = FloatVector.zero(S);
        FloatVector c04 = FloatVector.zero(S), c05 = FloatVector.zero(S), c06 = FloatVector.zero(S), c07 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S), c13 = FloatVector.zero(S);
        FloatVector c14 = FloatVector.zero(S), c15 = FloatVector.zero(S), c16 = FloatVector.zero(S), c17 = FloatVector.zero(S);
        for (int p = 0; p + L <= k; p += L) {
            FloatVector x0 = FloatVector.fromMemorySegment(S, as, (a0 + p) * Float.BYTES, LE);
            FloatVector x1 = FloatVector.fromMemorySegment(S, as, (a1 + p) * Float.BYTES, LE);
            FloatVector w0 = FloatVector.fromMemorySegment(S, bs, (b0 + p) * Float.BYTES, LE);
            c00 = x0.fma(w0, c00);
            c10 = x1.fma(w0, c10);
            FloatVector w1 = FloatVector.fromMemorySegment(S, bs, (b0 + bS + p) * Float.BYTES, LE);
            c01 = x0.fma(w1, c01);
            c11 = x1.fma(w1, c11);
            FloatVector w2 = FloatVector.fromMemorySegment(S, bs, (b0 + 2 * bS + p) * Float.BYTES, LE);
            c02 = x0.fma(w2, c02);
            c12 = x1.fma(w2, c12);
            FloatVector w3 = FloatVector.fromMemorySegment(S, bs, (b0 + 3 * bS + p) * Float.BYTES, LE);
            c03 = x0.fma(w3, c03);
            c13 = x1.fma(w3, c13);
            FloatVector w4 = FloatVector.fromMemorySegment(S, bs, (b0 + 4 * bS + p) * Float.BYTES, LE);
            c04 = x0.fma(w4, c04);
            c14 = x1.fma(w4, c14);
            FloatVector w5 = FloatVector.fromMemorySegment(S, bs, (b0 + 5 * bS + p) * Float.BYTES, LE);
            c05 = x0.fma(w5, c05);
            c15 = x1.fma(w5, c15);
            FloatVector w6 = FloatVector.fromMemorySegment(S, bs, (b0 + 6 * bS + p) * Float.BYTES, LE);
            c06 = x0.fma(w6, c06);
            c16 = x1.fma(w6, c16);
            FloatVector w7 = FloatVector.fromMemorySegment(S, bs, (b0 + 7 * bS + p) * Float.BYTES, LE);
            c07 = x0.fma(w7, c07);
            c17 = x1.fma(w7, c17);
        }
        long v = (long) L * Float.BYTES;
        c00.intoMemorySegment(scratch, 0, LE);
        c01.intoMemorySegment(scratch, v, LE);
        c02.intoMemorySegment(scratch, 2 * v, LE);
        c03.intoMemorySegment(scratch, 3 * v, LE);
        c04.intoMemorySegment(scratch, 4 * v, LE);
        c05.intoMemorySegment(scratch, 5 * v, LE);
        c06.intoMemorySegment(scratch, 6 * v, LE);
        c07.intoMemorySegment(scratch, 7 * v, LE);
        c10.intoMemorySegment(scratch, 8 * v, LE);
        c11.intoMemorySegment(scratch, 9 * v, LE);
        c12.intoMemorySegment(scratch, 10 * v, LE);
        c13.intoMemorySegment(scratch, 11 * v, LE);
        c14.intoMemorySegment(scratch, 12 * v, LE);
        c15.intoMemorySegment(scratch, 13 * v, LE);
        c16.intoMemorySegment(scratch, 14 * v, LE);
        c17.intoMemorySegment(scratch, 15 * v, LE);
    }

    /**
     * A 4×4 block: rows i … i+3 of A against rows j … j+3 of B, 16 accumulators (c_rs = row r of A ·
     * row s of B) along k; 8 loads feed 16 FMAs.
     */
    static void dot4x4(Matrix a, Matrix b, int i, int j, int k, MemorySegment scratch) {
        MemorySegment as = a.segment(), bs = b.segment();
        long a0 = a.offset() + (long) i * a.stride(), aS = a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S), c03 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S), c13 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S), c22 = FloatVector.zero(S), c23 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S), c32 = FloatVector.zero(S), c33 = FloatVector.zero(S);
        int p = 0;
        for (; p + L <= k; p += L) {
            FloatVector w0 = FloatVector.fromMemorySegment(S, bs, (b0 + p) * Float.BYTES, LE), w1 = FloatVector.fromMemorySegment(S, bs, (b0 + bS + p) * Float.BYTES, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(S, bs, (b0 + 2 * bS + p) * Float.BYTES, LE), w3 = FloatVector.fromMemorySegment(S, bs, (b0 + 3 * bS + p) * Float.BYTES, LE);
            FloatVector x = FloatVector.fromMemorySegment(S, as, (a0 + p) * Float.BYTES, LE);
            c00 = x.fma(w0, c00);
            c01 = x.fma(w1, c01);
            c02 = x.fma(w2, c02);
            c03 = x.fma(w3, c03);
            x = FloatVector.fromMemorySegment(S, as, (a0 + aS + p) * Float.BYTES, LE);
            c10 = x.fma(w0, c10);
            c11 = x.fma(w1, c11);
            c12 = x.fma(w2, c12);
            c13 = x.fma(w3, c13);
            x = FloatVector.fromMemorySegment(S, as, (a0 + 2 * aS + p) * Float.BYTES, LE);
            c20 = x.fma(w0, c20);
            c21 = x.fma(w1, c21);
            c22 = x.fma(w2, c22);
            c23 = x.fma(w3, c23);
            x = FloatVector.fromMemorySegment(S, as, (a0 + 3 * aS + p) * Float.BYTES, LE);
            c30 = x.fma(w0, c30);
            c31 = x.fma(w1, c31);
            c32 = x.fma(w2, c32);
            c33 = x.fma(w3, c33);
        }
        // Park the accumulators; finish reduces them. Reducing here would put 16 calls taking
        // vectors into this method, which C2 then may not inline, and every vector would be boxed.
        long v = (long) L * Float.BYTES;
        c00.intoMemorySegment(scratch, 0, LE);
        c01.intoMemorySegment(scratch, v, LE);
        c02.intoMemorySegment(scratch, 2 * v, LE);
        c03.intoMemorySegment(scratch, 3 * v, LE);
        c10.intoMemorySegment(scratch, 4 * v, LE);
        c11.intoMemorySegment(scratch, 5 * v, LE);
        c12.intoMemorySegment(scratch, 6 * v, LE);
        c13.intoMemorySegment(scratch, 7 * v, LE);
        c20.intoMemorySegment(scratch, 8 * v, LE);
        c21.intoMemorySegment(scratch, 9 * v, LE);
        c22.intoMemorySegment(scratch, 10 * v, LE);
        c23.intoMemorySegment(scratch, 11 * v, LE);
        c30.intoMemorySegment(scratch, 12 * v, LE);
        c31.intoMemorySegment(scratch, 13 * v, LE);
        c32.intoMemorySegment(scratch, 14 * v, LE);
        c33.intoMemorySegment(scratch, 15 * v, LE);
    }

    /**
     * Reduces the rows×cols accumulators parked by dot4x4, dot2x8 or dot1x8 (accumulator r·cols + s is row i+r
     * of A against row j+s of B), adds the scalar tail past the last full vector and writes C with α, β.
     */
    private static void finish(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k,
                               MemorySegment scratch, int rows, int cols) {
        int p = k / L * L;
        for (int r = 0; r < rows; r++) {
            long ao = a.offset() + (long) (i + r) * a.stride();
            for (int s = 0; s < cols; s++) {
                float sum = Lanes.sum(FloatVector.fromMemorySegment(S, scratch, (long) (r * cols + s) * L * Float.BYTES, LE));
                sum += tail(a.segment(), ao, b.segment(), b.offset() + (long) (j + s) * b.stride(), p, k);
                put(c, i + r, j + s, alpha, beta, sum);
            }
        }
    }

    /** Whether {@link #finish8} can be used: 16 lanes (its permutes are built for 512-bit vectors). */
    private static final boolean FINISH8 = Lanes.SIXTEEN;
    private static final VectorMask<Float> FIRST8 = VectorMask.fromLong(S, 0xFFL);

    /**
     * {@link #finish} for eight parked accumulators at once (row i of A against rows j … j+7 of B, in
     * scratch slots [slot, slot + 8)), when k is a multiple of L (no scalar tails): the eight lane sums
     * are formed together with two-source permutes (stages d = 8, 4, 2 add lanes l and l ^ d, halving
     * the number of vectors; see {@link Lanes#LO8}), in the same tree of additions as
     * {@link Lanes#sum}, so every output is bit-identical to finish's; then α, β and one masked store
     * of the eight outputs. 22 permutes and 15 adds instead of 32 and 32, and no scalar stores, which
     * matter at batch 1, where the finish is a large share of the product.
     */
    private static void finish8(float alpha, float beta, Matrix c, int i, int j, MemorySegment scratch, int slot) {
        long v = (long) L * Float.BYTES, at = slot * v;
        FloatVector a0 = FloatVector.fromMemorySegment(S, scratch, at, LE), a1 = FloatVector.fromMemorySegment(S, scratch, at + v, LE);
        FloatVector a2 = FloatVector.fromMemorySegment(S, scratch, at + 2 * v, LE), a3 = FloatVector.fromMemorySegment(S, scratch, at + 3 * v, LE);
        FloatVector a4 = FloatVector.fromMemorySegment(S, scratch, at + 4 * v, LE), a5 = FloatVector.fromMemorySegment(S, scratch, at + 5 * v, LE);
        FloatVector a6 = FloatVector.fromMemorySegment(S, scratch, at + 6 * v, LE), a7 = FloatVector.fromMemorySegment(S, scratch, at + 7 * v, LE);
        FloatVector u01 = Lanes.LO8.selectFrom(a0, a1).add(Lanes.HI8.selectFrom(a0, a1));
        FloatVector u23 = Lanes.LO8.selectFrom(a2, a3).add(Lanes.HI8.selectFrom(a2, a3));
        FloatVector u45 = Lanes.LO8.selectFrom(a4, a5).add(Lanes.HI8.selectFrom(a4, a5));
        FloatVector u67 = Lanes.LO8.selectFrom(a6, a7).add(Lanes.HI8.selectFrom(a6, a7));
        FloatVector w0 = Lanes.LO4.selectFrom(u01, u23).add(Lanes.HI4.selectFrom(u01, u23));
        FloatVector w1 = Lanes.LO4.selectFrom(u45, u67).add(Lanes.HI4.selectFrom(u45, u67));
        FloatVector x = Lanes.LO2.selectFrom(w0, w1).add(Lanes.HI2.selectFrom(w0, w1));
        FloatVector out = x.rearrange(Lanes.PAIR_FIRST).add(x.rearrange(Lanes.PAIR_SECOND)).mul(alpha);
        MemorySegment cs = c.segment();
        long co = (c.offset() + (long) i * c.stride() + j) * Float.BYTES;
        if (beta != 0f) out = out.add(FloatVector.fromMemorySegment(S, cs, co, LE, FIRST8).mul(beta));   // as put: α·dot + β·c
        out.intoMemorySegment(cs, co, LE, FIRST8);
    }

    /** Σ_{q ∈ [p, k)} a[ao+q]·b[bo+q]: the part of a dot product past the last full vector. */
    private static float tail(MemorySegment as, long ao, MemorySegment bs, long bo, int p, int k) {
        float sum = 0f;
        for (int q = p; q < k; q++) sum += as.getAtIndex(FLOAT, ao + q) * bs.getAtIndex(FLOAT, bo + q);
        return sum;
    }

    /**
     * C[i0:i1, :] = α·op(A)·B + βC with B streamed by rows: four rows of C at a time, then pairs, then
     * single rows, two vectors wide; columns past the last 2L one row at a time. For a few rows of A, or
     * for a small k (a rank-k update such as the batch-1 weight gradient δᵀ·a); weight updates
     * (op(A) = Aᵀ) with k = 5, 10, 15 go to {@link #rankUpdate} instead.
     */
    static void rowsNN(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1) {
        if (ta == Transpose.T && b.rows() % 5 == 0 && b.rows() <= RANK5_MAX_K) {
            rankUpdate(alpha, a, b, beta, c, i0, i1);
            return;
        }
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
     */
    private static void rowQuad(Transpose ta, float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j0, int j1) {
        int k = b.rows();
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        long aRow = ta == Transpose.N ? a.stride() : 1, aCol = ta == Transpose.N ? 1 : a.stride();
        long a0 = a.offset() + (long) i * aRow, a1 = a0 + aRow, a2 = a1 + aRow, a3 = a2 + aRow;
        long cRow = (long) c.stride() * Float.BYTES, h = (long) L * Float.BYTES;
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int j = j0; j < j1; j += 2 * L) {
            FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
            FloatVector s20 = FloatVector.zero(S), s21 = FloatVector.zero(S), s30 = FloatVector.zero(S), s31 = FloatVector.zero(S);
            for (int p = 0; p < k; p++) {
                long bo = (b.offset() + (long) p * b.stride() + j) * Float.BYTES, ap = p * aCol;
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
     * {@link #rowsNN} takes k = 5, 10 or 15 five steps at a time ({@link #rankUpdate}); other k one step
     * at a time: leftover steps would cost a pass over C of their own. Only for op(A) = Aᵀ (the weight
     * update Δᵀ·A_prev): given BP2's NN products too, C2 failed a vector-load intrinsic in this kernel
     * inside the training step and ran it boxed (allocating per step), and those products are too small
     * to gain from it anyway.
     */
    private static final int RANK5_MAX_K = 15;

    /**
     * C[i0:i1, :] = α·Aᵀ·B + βC for a small k (a rank-k update: the weight gradient, or the fused SGD
     * step, {@code W ← βW + α·Δᵀ·A_prev} at a small batch; A is k × m): k is taken five steps at a time, and each
     * group of five makes one pass over two rows of C with their ten broadcasts of α·Aᵀ held in
     * registers, so the inner loop is five loads of B and ten FMAs per vector of each row, with no
     * broadcasts and no epilogue. β is applied first, in its own pass over the two rows, so the kernel
     * only adds (a branch on β inside its loop is hoisted by C2 from its profile, and recompiled slower
     * once the other case is seen). k is a multiple of 5 (see {@link #RANK5_MAX_K}). An odd last row goes through the same kernels
     * paired with itself, so every row of C is computed by the same arithmetic however the rows are split
     * between threads. Columns past the last multiple of L are done by {@link #rows}.
     */
    private static void rankUpdate(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1) {
        int k = b.rows(), n = c.cols(), vecEnd = n / L * L;
        // The test on β stays out of the loops: C2 hoists a loop-invariant test by its profile, and when
        // the other case comes (β = 0 after many β = 1) it recompiles the method without that kind of
        // hoisting, which makes this update much slower.
        if (beta == 1f) {
            for (int i = i0; i < i1; i += 2) {
                int i2 = Math.min(i + 1, i1 - 1);
                for (int p = 0; p < k; p += 5) twoRowsRank5(alpha, a, b, c, i, i2, vecEnd, p);
            }
        } else {
            for (int i = i0; i < i1; i += 2) {
                int i2 = Math.min(i + 1, i1 - 1);
                scaleRows(beta, c, i, i2, vecEnd);
                for (int p = 0; p < k; p += 5) twoRowsRank5(alpha, a, b, c, i, i2, vecEnd, p);
            }
        }
        if (vecEnd < n) rows(Transpose.T, alpha, a, b, beta, c, i0, i1, vecEnd, n);
    }

    /** Rows i and i2 of C, columns [0, n) (a multiple of L): {@code C ← βC}; for β = 0 zeros, C not read (it may hold NaN). */
    private static void scaleRows(float beta, Matrix c, int i, int i2, int n) {
        MemorySegment cs = c.segment();
        long c0 = (c.offset() + (long) i * c.stride()) * Float.BYTES, c1 = (c.offset() + (long) i2 * c.stride()) * Float.BYTES;
        // Two loops, so no vector is merged from two branches (zero or loaded) inside a loop.
        if (beta == 0f) {
            FloatVector zero = FloatVector.zero(S);
            for (int j = 0; j < n; j += L) {
                long cj = (long) j * Float.BYTES;
                zero.intoMemorySegment(cs, c0 + cj, LE);
                zero.intoMemorySegment(cs, c1 + cj, LE);
            }
            return;
        }
        for (int j = 0; j < n; j += L) {
            long cj = (long) j * Float.BYTES;
            FloatVector s = FloatVector.fromMemorySegment(S, cs, c0 + cj, LE).mul(beta);
            FloatVector t = FloatVector.fromMemorySegment(S, cs, c1 + cj, LE).mul(beta);
            s.intoMemorySegment(cs, c0 + cj, LE);
            t.intoMemorySegment(cs, c1 + cj, LE);
        }
    }

    /**
     * Rows i and i2 of C, columns [0, n) (a multiple of L): {@code C += Σ_{p0≤p<p0+5} α·A[p, i|i2]·B[p,:]}
     * (A is k × m, so column i of A is row i of Aᵀ); the ten scalars α·A[p, i|i2] are broadcast once and
     * held in registers while B's five rows stream. Two rows and five steps is the most that fits: ten
     * steps in one pass (20 broadcasts) fail C1's register allocation and can stay in tier 2
     * (docs/vector-api-pitfalls.md).
     */
    private static void twoRowsRank5(float alpha, Matrix a, Matrix b, Matrix c, int i, int i2, int n, int p0) {
        MemorySegment as = a.segment(), bs = b.segment(), cs = c.segment();
        long aCol = a.stride(), ai = a.offset() + (long) p0 * aCol + i, ai2 = a.offset() + (long) p0 * aCol + i2;
        FloatVector x0 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai));
        FloatVector x1 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai + aCol));
        FloatVector x2 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai + 2 * aCol));
        FloatVector x3 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai + 3 * aCol));
        FloatVector x4 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai + 4 * aCol));
        FloatVector y0 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai2));
        FloatVector y1 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai2 + aCol));
        FloatVector y2 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai2 + 2 * aCol));
        FloatVector y3 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai2 + 3 * aCol));
        FloatVector y4 = FloatVector.broadcast(S, alpha * as.getAtIndex(FLOAT, ai2 + 4 * aCol));
        long bRow = (long) b.stride() * Float.BYTES, b0 = (b.offset() + (long) p0 * b.stride()) * Float.BYTES;
        long c0 = (c.offset() + (long) i * c.stride()) * Float.BYTES, c1 = (c.offset() + (long) i2 * c.stride()) * Float.BYTES;
        for (int j = 0; j < n; j += L) {
            long bj = b0 + (long) j * Float.BYTES, cj = (long) j * Float.BYTES;
            FloatVector s = FloatVector.fromMemorySegment(S, cs, c0 + cj, LE);
            FloatVector t = FloatVector.fromMemorySegment(S, cs, c1 + cj, LE);
            FloatVector v = FloatVector.fromMemorySegment(S, bs, bj, LE);
            s = x0.fma(v, s);
            t = y0.fma(v, t);
            v = FloatVector.fromMemorySegment(S, bs, bj + bRow, LE);
            s = x1.fma(v, s);
            t = y1.fma(v, t);
            v = FloatVector.fromMemorySegment(S, bs, bj + 2 * bRow, LE);
            s = x2.fma(v, s);
            t = y2.fma(v, t);
            v = FloatVector.fromMemorySegment(S, bs, bj + 3 * bRow, LE);
            s = x3.fma(v, s);
            t = y3.fma(v, t);
            v = FloatVector.fromMemorySegment(S, bs, bj + 4 * bRow, LE);
            s = x4.fma(v, s);
            t = y4.fma(v, t);
            s.intoMemorySegment(cs, c0 + cj, LE);
            t.intoMemorySegment(cs, c1 + cj, LE);
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
        FloatVector betaV = FloatVector.broadcast(S, beta);
        for (int j = j0; j < j1; j += 2 * L) {
            FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S);
            for (int p = 0; p < k; p++) {
                long bo = (b.offset() + (long) p * b.stride() + j) * Float.BYTES;
                FloatVector b0 = FloatVector.fromMemorySegment(S, bs, bo, LE);
                FloatVector b1 = FloatVector.fromMemorySegment(S, bs, bo + (long) L * Float.BYTES, LE);
                FloatVector x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + p * aCol));
                s00 = x.fma(b0, s00);
                s01 = x.fma(b1, s01);
                x = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + aRow + p * aCol));
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
                for (int p = 0; p < k; p++) {
                    FloatVector ap = FloatVector.broadcast(S, as.getAtIndex(FLOAT, ao + p * aCol));
                    long bo = b.offset() + (long) p * b.stride() + j;
                    s0 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo) * Float.BYTES, LE), s0);
                    s1 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + L) * Float.BYTES, LE), s1);
                    s2 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + 2 * L) * Float.BYTES, LE), s2);
                    s3 = ap.fma(FloatVector.fromMemorySegment(S, bs, (bo + 3 * L) * Float.BYTES, LE), s3);
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
                put(c, i, j, alpha, beta, sum);
            }
        }
    }
}
