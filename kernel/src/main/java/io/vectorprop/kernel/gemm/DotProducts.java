package io.vectorprop.kernel.gemm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.Lanes;
import io.vectorprop.kernel.internal.ScratchPool;
import io.vectorprop.kernel.internal.Settings;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * The dot-product path: {@code C = α·A·Bᵀ + βC} with A and B both row-major along k (the forward pass
 * {@code Z = A·Wᵀ} at a small batch), no packing: every {@code c[i][j]} is a dot product of two
 * contiguous rows. A 4×4 block of outputs keeps 16 vector accumulators along k (4 A loads + 4 B loads
 * per 16 FMAs), then reduces each across lanes. Rows of W are read straight from the weights, once per
 * 4 rows of A (2×8 blocks for two leftover rows); at batch 1 this streams each weight row once, eight
 * rows at a time. Vector loads are written out rather than wrapped in a helper (a helper C2 does not
 * inline makes every vector crossing it a heap object). The k loops run to a bound computed before them
 * ({@code p < S.loopBound(k)}), not {@code p + L <= k}: C2 makes only the first form a counted loop, whose
 * loads' bounds checks it moves out of the loop; with the second it kept a compare and a branch per load,
 * half the loop's instructions, which made the batch-1 product slower than reading the weights.
 */
final class DotProducts {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private DotProducts() {}

    /** {@code c[i][j] = α·dot + β·c[i][j]}; β = 0 does not read c. The scalar store of both unpacked paths. */
    static void put(Matrix c, int i, int j, float alpha, float beta, float dot) {
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

    /**
     * NT products with at most this many rows take this path (no packing of B), and so do those with
     * at most {@link #DEEP_MAX_M} rows and k of at least {@link #DEEP_MIN_K}. Packing B costs n·k copies
     * shared by all m rows (and evicts other data from L2); this path pays a lane sum per output, which
     * weighs less the longer k is, so the crossover moves to more rows when k is long (the bounds come
     * from same-JVM comparisons of the two paths on the training shapes; {@code vectorprop.gemm.dotMaxM}
     * and {@code .dotDeepMaxM} move them for such measurements).
     */
    static final int MAX_M = Settings.GEMM_DOT_MAX_M;
    static final int DEEP_MAX_M = Settings.GEMM_DOT_DEEP_MAX_M, DEEP_MIN_K = 512;

    /** Whether a product of this shape takes the dot-product path. */
    static boolean applies(Transpose ta, Transpose tb, int m, int k) {
        return ta == Transpose.N && tb == Transpose.T && (m <= MAX_M || (m <= DEEP_MAX_M && k >= DEEP_MIN_K));
    }

    /** C[i0:i1, j0:j1] = α·A·Bᵀ + βC, A (M×K) and B (N×K) not transposed in memory along k. */
    static void compute(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1, int j0, int j1) {
        Scratch held = SCRATCH.acquire();
        try {
            for (int jc = j0; jc < j1; jc += JC) {
                dotChunk(alpha, a, b, beta, c, i0, i1, jc, Math.min(j1, jc + JC), held.accumulators);
            }
        } finally {
            SCRATCH.release(held);
        }
    }

    /**
     * Each group of rows computes its blocks of columns, then the last n % width columns, when at least
     * a block's width of columns lies to the left, as one more block shifted left to end at j1 that writes
     * only the columns not yet written (the others get the same bits again, unwritten: every output
     * is the same arithmetic in every block). Plain dot products for those columns ran k dependent
     * scalar additions each: at batch 1 the two last of a 10-output layer took most of its time.
     */
    private static void dotChunk(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i0, int i1, int j0, int j1,
                                 MemorySegment scratch) {
        int k = a.cols();
        boolean sums8 = FINISH8 && k % L == 0;
        int i = i0;
        for (; i + 4 <= i1; i += 4) {
            int j = j0;
            for (; j + 4 <= j1; j += 4) {
                dot4x4(a, b, i, j, k, scratch);
                finish(alpha, a, b, beta, c, i, j, k, scratch, 4, 4, 0);
            }
            if (j < j1 && j1 >= 4) {
                dot4x4(a, b, i, j1 - 4, k, scratch);
                finish(alpha, a, b, beta, c, i, j1 - 4, k, scratch, 4, 4, 4 - (j1 - j));
                j = j1;
            }
            for (; j < j1; j++) {                     // fewer than 4 columns in all: plain loops (see dot)
                for (int r = 0; r < 4; r++) put(c, i + r, j, alpha, beta, dot(a, i + r, b, j, k));
            }
        }
        for (; i + 2 <= i1; i += 2) {
            int j = j0;
            for (; j + 8 <= j1; j += 8) dot2x8(alpha, a, b, beta, c, i, j, k, scratch, sums8, 0);
            if (j < j1 && j1 >= 8) {
                dot2x8(alpha, a, b, beta, c, i, j1 - 8, k, scratch, sums8, 8 - (j1 - j));
                j = j1;
            }
            for (int r = i; r < i + 2; r++) lastColumns(alpha, a, b, beta, c, r, j, j1, k);
        }
        for (; i < i1; i++) {
            int j = j0;
            for (; j + 8 <= j1; j += 8) dot1x8(alpha, a, b, beta, c, i, j, k, scratch, sums8, 0);
            if (j < j1 && j1 >= 8) {
                dot1x8(alpha, a, b, beta, c, i, j1 - 8, k, scratch, sums8, 8 - (j1 - j));
                j = j1;
            }
            lastColumns(alpha, a, b, beta, c, i, j, j1, k);
        }
    }

    /**
     * Row i, columns [j, j1) when fewer than 8 columns lie left of j1: 1×4 blocks, the last columns by
     * one shifted left when there are 4 or more, plain dot products when fewer (see {@link #dot}).
     */
    private static void lastColumns(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int j1, int k) {
        for (; j + 4 <= j1; j += 4) dot1x4(alpha, a, b, beta, c, i, j, k, 0);
        if (j < j1 && j1 >= 4) {
            dot1x4(alpha, a, b, beta, c, i, j1 - 4, k, 4 - (j1 - j));
            return;
        }
        for (; j < j1; j++) put(c, i, j, alpha, beta, dot(a, i, b, j, k));
    }

    /** A 2×8 block from column j, written from its column j + first on ({@link #dot2x8Parked}, then finish8 or finish). */
    private static void dot2x8(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k, MemorySegment scratch,
                               boolean sums8, int first) {
        dot2x8Parked(a, b, i, j, k, scratch);
        if (sums8) {
            finish8(alpha, beta, c, i, j, scratch, 0, first);
            finish8(alpha, beta, c, i + 1, j, scratch, 8, first);
        } else {
            finish(alpha, a, b, beta, c, i, j, k, scratch, 2, 8, first);
        }
    }

    /** A 1×8 block from column j, written from its column j + first on ({@link #dot1x8Sums}, or parked then finish). */
    private static void dot1x8(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k, MemorySegment scratch,
                               boolean sums8, int first) {
        if (sums8) {
            dot1x8Sums(alpha, a, b, beta, c, i, j, k, first);
        } else {
            dot1x8Parked(a, b, i, j, k, scratch);
            finish(alpha, a, b, beta, c, i, j, k, scratch, 1, 8, first);
        }
    }

    /**
     * One dot product of row i of A and row j of B, in plain float arithmetic. It only serves products
     * fewer than 4 columns wide, a few calls per product: too rarely for C2 to compile vector code here in
     * time, and Vector API code not compiled by C2 allocates a heap object per vector (a vectorized
     * version made the batch-1 prediction allocate).
     */
    static float dot(Matrix a, int i, Matrix b, int j, int k) {
        return tail(a.segment(), a.offset() + (long) i * a.stride(), b.segment(), b.offset() + (long) j * b.stride(), 0, k);
    }

    /**
     * A 1×4 block: row i of A against rows j … j+3 of B (batch 1: each weight row read once), written
     * from column j + first on.
     */
    static void dot1x4(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k, int first) {
        MemorySegment as = a.segment(), bs = b.segment();
        long ao = a.offset() + (long) i * a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bStride = b.stride();
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        int p = 0;
        for (int kv = S.loopBound(k); p < kv; p += L) {
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
        if (first <= 0) put(c, i, j, alpha, beta, d0);
        if (first <= 1) put(c, i, j + 1, alpha, beta, d1);
        if (first <= 2) put(c, i, j + 2, alpha, beta, d2);
        put(c, i, j + 3, alpha, beta, d3);
    }

    /**
     * A 1×8 block: row i of A against rows j … j+7 of B (batch 1: eight weight rows stream at once and
     * each load of the input row serves eight FMAs). Accumulators are parked for {@link #finish},
     * as in dot4x4; each output gets the same additions, in the same order, as in dot1x4.
     */
    static void dot1x8Parked(Matrix a, Matrix b, int i, int j, int k, MemorySegment scratch) {
        MemorySegment as = a.segment(), bs = b.segment();
        long ao = a.offset() + (long) i * a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        FloatVector s4 = FloatVector.zero(S), s5 = FloatVector.zero(S), s6 = FloatVector.zero(S), s7 = FloatVector.zero(S);
        for (int p = 0, kv = S.loopBound(k); p < kv; p += L) {
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
     * {@link #dot1x8} where {@link #finish8} would apply (16 lanes, k a multiple of L): the eight lane sums
     * are formed in registers, in finish8's tree, and C is written here. Batch 1 takes this for every
     * block but the last n % 8 columns; there the store and reload of eight vectors and a second call per
     * block weigh most when k is short. A method of its own: with the parking code after the same loop,
     * C2 kept the vectors as heap objects and the product ran many times slower; and the reduction is
     * written out rather than calling finish8's helpers, which C2 did not inline here (it judged the
     * calls after the loop cold), with the same effect.
     */
    static void dot1x8Sums(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k, int first) {
        MemorySegment as = a.segment(), bs = b.segment();
        long ao = a.offset() + (long) i * a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        FloatVector s4 = FloatVector.zero(S), s5 = FloatVector.zero(S), s6 = FloatVector.zero(S), s7 = FloatVector.zero(S);
        for (int p = 0, kv = S.loopBound(k); p < kv; p += L) {
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
        IntVector i0 = s0.reinterpretAsInts(), i1 = s1.reinterpretAsInts(), i2 = s2.reinterpretAsInts(), i3 = s3.reinterpretAsInts();
        IntVector i4 = s4.reinterpretAsInts(), i5 = s5.reinterpretAsInts(), i6 = s6.reinterpretAsInts(), i7 = s7.reinterpretAsInts();
        IntVector lo8 = Lanes.LO8, hi8 = Lanes.HI8, lo4 = Lanes.LO4, hi4 = Lanes.HI4;
        IntVector u01 = lo8.selectFrom(i0, i1).reinterpretAsFloats().add(hi8.selectFrom(i0, i1).reinterpretAsFloats()).reinterpretAsInts();
        IntVector u23 = lo8.selectFrom(i2, i3).reinterpretAsFloats().add(hi8.selectFrom(i2, i3).reinterpretAsFloats()).reinterpretAsInts();
        IntVector u45 = lo8.selectFrom(i4, i5).reinterpretAsFloats().add(hi8.selectFrom(i4, i5).reinterpretAsFloats()).reinterpretAsInts();
        IntVector u67 = lo8.selectFrom(i6, i7).reinterpretAsFloats().add(hi8.selectFrom(i6, i7).reinterpretAsFloats()).reinterpretAsInts();
        IntVector w0 = lo4.selectFrom(u01, u23).reinterpretAsFloats().add(hi4.selectFrom(u01, u23).reinterpretAsFloats()).reinterpretAsInts();
        IntVector w1 = lo4.selectFrom(u45, u67).reinterpretAsFloats().add(hi4.selectFrom(u45, u67).reinterpretAsFloats()).reinterpretAsInts();
        FloatVector x = Lanes.LO2.selectFrom(w0, w1).reinterpretAsFloats().add(Lanes.HI2.selectFrom(w0, w1).reinterpretAsFloats());
        FloatVector out = x.rearrange(Lanes.PAIR_FIRST).add(x.rearrange(Lanes.PAIR_SECOND)).mul(alpha);
        MemorySegment cs = c.segment();
        long co = (c.offset() + (long) i * c.stride() + j) * Float.BYTES;
        VectorMask<Float> lanes = VectorMask.fromLong(S, firstLanes(first));
        if (beta == 0f) {
            out.intoMemorySegment(cs, co, LE, lanes);
        } else {
            out.add(FloatVector.fromMemorySegment(S, cs, co, LE, lanes).mul(beta)).intoMemorySegment(cs, co, LE, lanes);
        }
    }

    /**
     * A 2×8 block: rows i, i+1 of A against rows j … j+7 of B, 16 accumulators (c_rs = row r of A · row s
     * of B); 10 loads feed 16 FMAs, so two leftover rows of A (batch 10 = 4 + 4 + 2) read the weights
     * once, not twice. Parked for {@link #finish} like dot4x4.
     */
    static void dot2x8Parked(Matrix a, Matrix b, int i, int j, int k, MemorySegment scratch) {
        MemorySegment as = a.segment(), bs = b.segment();
        long a0 = a.offset() + (long) i * a.stride(), a1 = a0 + a.stride();
        long b0 = b.offset() + (long) j * b.stride(), bS = b.stride();
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S), c02 = FloatVector.zero(S), c03 = FloatVector.zero(S);
        FloatVector c04 = FloatVector.zero(S), c05 = FloatVector.zero(S), c06 = FloatVector.zero(S), c07 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S), c12 = FloatVector.zero(S), c13 = FloatVector.zero(S);
        FloatVector c14 = FloatVector.zero(S), c15 = FloatVector.zero(S), c16 = FloatVector.zero(S), c17 = FloatVector.zero(S);
        for (int p = 0, kv = S.loopBound(k); p < kv; p += L) {
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
        for (int kv = S.loopBound(k); p < kv; p += L) {
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
     * of A against row j+s of B), adds the scalar tail past the last full vector and writes C with α, β,
     * columns j + first … j + cols − 1 (the others, when first > 0, are another block's).
     */
    private static void finish(float alpha, Matrix a, Matrix b, float beta, Matrix c, int i, int j, int k,
                               MemorySegment scratch, int rows, int cols, int first) {
        int p = k / L * L;
        for (int r = 0; r < rows; r++) {
            long ao = a.offset() + (long) (i + r) * a.stride();
            for (int s = first; s < cols; s++) {
                float sum = Lanes.sum(FloatVector.fromMemorySegment(S, scratch, (long) (r * cols + s) * L * Float.BYTES, LE));
                sum += tail(a.segment(), ao, b.segment(), b.offset() + (long) (j + s) * b.stride(), p, k);
                put(c, i + r, j + s, alpha, beta, sum);
            }
        }
    }

    /** Whether {@link #finish8} can be used: 16 lanes (its permutes are built for 512-bit vectors). */
    private static final boolean FINISH8 = Lanes.SIXTEEN;

    /** The mask bits of lanes first … 7, the outputs an 8-wide block writes (as a long: a mask object held across a call would be boxed). */
    private static long firstLanes(int first) {
        return 0xFFL << first & 0xFFL;
    }

    /**
     * {@link #finish} for eight parked accumulators at once (row i of A against rows j … j+7 of B, in
     * scratch slots [slot, slot + 8)), when k is a multiple of L (no scalar tails): the eight lane sums
     * are formed together with two-source permutes (stages d = 8, 4, 2 add lanes l and l ^ d, halving
     * the number of vectors; see {@link Lanes#LO8}), in the same tree of additions as
     * {@link Lanes#sum}, so every output is bit-identical to finish's; then α, β and one masked store
     * of the eight outputs (from lane {@code first} on: see {@link #firstLanes}). 22 permutes and 15 adds
     * instead of 32 and 32, and no scalar stores, which matter at batch 1, where the finish is a large
     * share of the product.
     */
    private static void finish8(float alpha, float beta, Matrix c, int i, int j, MemorySegment scratch, int slot, int first) {
        long v = (long) L * Float.BYTES, at = slot * v;
        FloatVector a0 = FloatVector.fromMemorySegment(S, scratch, at, LE), a1 = FloatVector.fromMemorySegment(S, scratch, at + v, LE);
        FloatVector a2 = FloatVector.fromMemorySegment(S, scratch, at + 2 * v, LE), a3 = FloatVector.fromMemorySegment(S, scratch, at + 3 * v, LE);
        FloatVector a4 = FloatVector.fromMemorySegment(S, scratch, at + 4 * v, LE), a5 = FloatVector.fromMemorySegment(S, scratch, at + 5 * v, LE);
        FloatVector a6 = FloatVector.fromMemorySegment(S, scratch, at + 6 * v, LE), a7 = FloatVector.fromMemorySegment(S, scratch, at + 7 * v, LE);
        FloatVector u01 = pairSums(Lanes.LO8, Lanes.HI8, a0, a1), u23 = pairSums(Lanes.LO8, Lanes.HI8, a2, a3);
        FloatVector u45 = pairSums(Lanes.LO8, Lanes.HI8, a4, a5), u67 = pairSums(Lanes.LO8, Lanes.HI8, a6, a7);
        FloatVector w0 = pairSums(Lanes.LO4, Lanes.HI4, u01, u23), w1 = pairSums(Lanes.LO4, Lanes.HI4, u45, u67);
        FloatVector x = pairSums(Lanes.LO2, Lanes.HI2, w0, w1);
        FloatVector out = x.rearrange(Lanes.PAIR_FIRST).add(x.rearrange(Lanes.PAIR_SECOND)).mul(alpha);
        MemorySegment cs = c.segment();
        long co = (c.offset() + (long) i * c.stride() + j) * Float.BYTES;
        VectorMask<Float> lanes = VectorMask.fromLong(S, firstLanes(first));
        if (beta == 0f) {             // two stores, not one of a vector a branch may replace (see PackedLoops.writeBack)
            out.intoMemorySegment(cs, co, LE, lanes);
        } else {                      // as put: α·dot + β·c
            out.add(FloatVector.fromMemorySegment(S, cs, co, LE, lanes).mul(beta)).intoMemorySegment(cs, co, LE, lanes);
        }
    }

    /** {@code lo.selectFrom(a, b) + hi.selectFrom(a, b)} on the floats' bits (see {@link Lanes#LO8}). */
    private static FloatVector pairSums(IntVector lo, IntVector hi, FloatVector a, FloatVector b) {
        IntVector ai = a.reinterpretAsInts(), bi = b.reinterpretAsInts();
        return lo.selectFrom(ai, bi).reinterpretAsFloats().add(hi.selectFrom(ai, bi).reinterpretAsFloats());
    }

    /** Σ_{q ∈ [p, k)} a[ao+q]·b[bo+q]: the part of a dot product past the last full vector. */
    private static float tail(MemorySegment as, long ao, MemorySegment bs, long bo, int p, int k) {
        float sum = 0f;
        for (int q = p; q < k; q++) sum += as.getAtIndex(FLOAT, ao + q) * bs.getAtIndex(FLOAT, bo + q);
        return sum;
    }
}
