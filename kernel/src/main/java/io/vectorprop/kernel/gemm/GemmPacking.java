package io.vectorprop.kernel.gemm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.Lanes;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.gemm.GemmBlocking.KC;
import static io.vectorprop.kernel.gemm.GemmBlocking.MR;
import static io.vectorprop.kernel.gemm.GemmBlocking.NR;
import static io.vectorprop.kernel.gemm.GemmBlocking.VECTORS_PER_ROW;
import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * Packing for the packed GEMM: copies a block of op(A) and a panel of op(B) from the user's off-heap
 * matrices into the private heap buffers the micro-kernel reads ({@link GemmMicroKernel} says why heap),
 * absorbing the transposes and zero-padding the partial slivers, so the micro-kernel always computes a
 * full MR×NR tile with no masks.
 *
 * <ul>
 *   <li>A block, α·op(A)[ic:ic+mc, pc:pc+kc]: row-major, rows KC floats apart (the block size, not
 *       this panel's kc: see {@link GemmMicroKernel}), float (i, p) at {@code i·KC + p}, rows mc… up to a
 *       multiple of MR zero. A sliver is MR row streams.</li>
 *   <li>B panel, op(B)[pc:pc+kc, jc:jc+nc]: NR-column slivers, step-major, sliver s step p column j at
 *       {@code START + s·NR·kc + p·NR + j} ({@link PanelBuffers#START}: where a buffer's 64-byte lines
 *       begin, or 0), columns past nc zero.</li>
 * </ul>
 *
 * An operand stored the other way round (A transposed, B transposed) is transposed 16×16 blocks at a
 * time in registers with 512-bit vectors, and by a scalar loop over 16-step strips otherwise (the strip
 * keeps the lines it reads and writes in L1). Copy and zero-fill are separate loops: a conditional load
 * inside a copy loop made C2 deoptimise endlessly.
 */
final class GemmPacking {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Whether transposes go 16×16 blocks at a time through registers (512-bit vectors only). */
    private static final boolean TRANSPOSE_IN_REGISTERS = Lanes.SIXTEEN;
    /** Floats of the scratch buffer {@link #transpose16} needs. */
    static final int SCRATCH_FLOATS = 16 * 16;

    private GemmPacking() {}

    /** Floats of a packed A block of mc rows and depth kc (rows padded to a multiple of MR). */
    static int aBlockFloats(int mc, int kc) {
        return (mc + MR - 1) / MR * MR * KC;
    }

    /** Packs α·op(A)[ic:ic+mc, pc:pc+kc] into {@code buf} (layout above). */
    static void packA(Transpose ta, float alpha, Matrix a, int ic, int mc, int pc, int kc, float[] buf, float[] scratch) {
        MemorySegment as = a.segment();
        long stride = a.stride();
        if (ta == Transpose.N) {
            long src = a.offset() + (long) ic * stride + pc;
            int vectorPart = kc / L * L;
            for (int i = 0; i < mc; i++) {
                long from = (src + i * stride) * Float.BYTES;
                int to = i * KC;
                for (int p = 0; p < vectorPart; p += L) {
                    FloatVector.fromMemorySegment(S, as, from + (long) p * Float.BYTES, LE).mul(alpha).intoArray(buf, to + p);
                }
                for (int p = vectorPart; p < kc; p++) {
                    buf[to + p] = alpha * as.get(FLOAT, from + (long) p * Float.BYTES);
                }
            }
        } else {                                    // op(A)[i, p] = A[pc + p, ic + i]
            long src = a.offset() + (long) pc * stride + ic;
            int i0 = 0;
            if (TRANSPOSE_IN_REGISTERS) {
                long inRow = stride * Float.BYTES;
                // the last rows of a block too: a transpose reads 16 columns of A and keeps the rows it
                // needs, unless the 16 would pass A's last column (then the scalar loop below)
                for (; i0 < mc && ic + i0 + 16 <= a.cols(); i0 += 16) {
                    int rows = Math.min(16, mc - i0), p0 = 0;
                    for (; p0 + 16 <= kc; p0 += 16) {
                        transpose16(as, (src + p0 * stride + i0) * Float.BYTES, inRow, alpha, buf, i0 * KC + p0, KC, rows, scratch);
                    }
                    transposeScalar(as, src, stride, alpha, i0, i0 + rows, p0, kc, buf, KC);
                }
            }
            transposeScalar(as, src, stride, alpha, i0, mc, 0, kc, buf, KC);
        }
        java.util.Arrays.fill(buf, mc * KC, aBlockFloats(mc, kc), 0f);
    }

    /**
     * {@code buf[i·outRow + p] = α·in[src + p·stride + i]} for i in [i0, i1), p in [p0, p1): a transpose
     * read in 16-step strips, each strip's rows in order.
     */
    private static void transposeScalar(MemorySegment in, long src, long stride, float alpha, int i0, int i1, int p0, int p1,
                                        float[] buf, int outRow) {
        for (int q = p0; q < p1; q += 16) {
            int q1 = Math.min(p1, q + 16);
            for (int p = q; p < q1; p++) {
                long row = src + p * stride;
                for (int i = i0; i < i1; i++) {
                    buf[i * outRow + p] = alpha * in.getAtIndex(FLOAT, row + i);
                }
            }
        }
    }

    /**
     * Packs op(B)[pc:pc+kc, jc:jc+nc] (layout above), slivers [fromSliver, toSliver) only: with a team
     * each member packs its share of one shared panel ({@link PackedLoops#computeAsMember}).
     */
    static void packB(Transpose tb, Matrix b, int pc, int kc, int jc, int nc, float[] buf, float[] scratch,
                      int fromSliver, int toSliver) {
        int fullTo = tb == Transpose.N ? Math.max(fromSliver, Math.min(toSliver, nc / NR)) : fromSliver;
        if (fromSliver < fullTo) copyRowsIntoSlivers(b, pc, kc, jc, fromSliver, fullTo, buf);
        MemorySegment bs = b.segment();
        long stride = b.stride();
        for (int s = fullTo; s < toSliver; s++) {
            int cols = Math.min(NR, nc - s * NR);
            int dst = PanelBuffers.START + s * NR * kc;
            if (tb == Transpose.N) {                // the partial last sliver
                long src = b.offset() + (long) pc * stride + jc + (long) s * NR;
                for (int p = 0; p < kc; p++) {
                    long row = src + p * stride;
                    for (int j = 0; j < cols; j++) buf[dst + p * NR + j] = bs.getAtIndex(FLOAT, row + j);
                }
            } else {                                // op(B)[p, j] = B[jc + j, pc + p]
                long src = b.offset() + (jc + (long) s * NR) * stride + pc;
                int j0 = 0;
                if (TRANSPOSE_IN_REGISTERS) {
                    long inRow = stride * Float.BYTES;
                    for (; j0 + 16 <= cols; j0 += 16) {
                        int p0 = 0;
                        for (; p0 + 16 <= kc; p0 += 16) {
                            transpose16(bs, (src + j0 * stride + p0) * Float.BYTES, inRow, 1f, buf, dst + p0 * NR + j0, NR, 16, scratch);
                        }
                        transposeRows(bs, src, stride, j0, j0 + 16, p0, kc, buf, dst);
                    }
                }
                transposeRows(bs, src, stride, j0, cols, 0, kc, buf, dst);
            }
            for (int p = 0; p < kc; p++) {
                java.util.Arrays.fill(buf, dst + p * NR + cols, dst + (p + 1) * NR, 0f);
            }
        }
    }

    /**
     * The full slivers [s0, s1) of B as stored: each row of B is read once, left to right, and dealt
     * to the slivers, so the reads run through memory in order (sliver by sliver, they would jump a
     * row of B every NR floats).
     */
    private static void copyRowsIntoSlivers(Matrix b, int pc, int kc, int jc, int s0, int s1, float[] buf) {
        MemorySegment bs = b.segment();
        long stride = b.stride(), src = b.offset() + (long) pc * stride + jc;
        for (int p = 0; p < kc; p++) {
            long from = (src + p * stride) * Float.BYTES;
            for (int s = s0; s < s1; s++) {
                long at = from + (long) s * NR * Float.BYTES;
                int to = PanelBuffers.START + s * NR * kc + p * NR;
                for (int v = 0; v < VECTORS_PER_ROW; v++) {
                    FloatVector.fromMemorySegment(S, bs, at + (long) v * L * Float.BYTES, LE).intoArray(buf, to + v * L);
                }
            }
        }
    }

    /** {@code buf[dst + p·NR + j] = in[src + j·stride + p]} for j in [j0, j1), p in [p0, p1), in 16-step strips. */
    private static void transposeRows(MemorySegment in, long src, long stride, int j0, int j1, int p0, int p1, float[] buf, int dst) {
        for (int q = p0; q < p1; q += 16) {
            int q1 = Math.min(p1, q + 16);
            for (int j = j0; j < j1; j++) {
                long row = src + j * stride;
                for (int p = q; p < q1; p++) buf[dst + p * NR + j] = in.getAtIndex(FLOAT, row + p);
            }
        }
    }

    /**
     * Transposes the 16×16 block whose row i is the 16 floats at byte {@code inOff + i·inRow} of
     * {@code in}, times α, into rows at {@code outOff + p·outRow} of {@code out}, through {@code scratch};
     * of the 16 output rows only the first {@code rows} are written (the rest of {@code out} may be
     * another block's, or past its end). Four stages, d = 4, 2, 1 within each half of the rows, then d = 8 across the halves: stage d swaps
     * the d×d off-diagonal blocks of every 2d×2d block with two-source permutes, so an element at
     * (row i, lane l) trades bit d of i and l when they differ; the stages commute, and after all four it
     * sits at (l, i). Split in three calls on purpose: the whole transpose in one method fails C1's
     * register allocation ("out of virtual registers") and can stay in C1's tier 2 (docs/vector-api-pitfalls.md).
     */
    static void transpose16(MemorySegment in, long inOff, long inRow, float alpha, float[] out, int outOff, int outRow,
                            int rows, float[] scratch) {
        transposeWithinHalf(in, inOff, inRow, scratch, 0);
        transposeWithinHalf(in, inOff + 8 * inRow, inRow, scratch, 8 * 16);
        for (int i = 0; i < 8; i++) {
            IntVector a = FloatVector.fromArray(S, scratch, i * 16).reinterpretAsInts();
            IntVector b = FloatVector.fromArray(S, scratch, 8 * 16 + i * 16).reinterpretAsInts();
            if (i < rows) Lanes.LO8.selectFrom(a, b).reinterpretAsFloats().mul(alpha).intoArray(out, outOff + i * outRow);
            if (i + 8 < rows) Lanes.HI8.selectFrom(a, b).reinterpretAsFloats().mul(alpha).intoArray(out, outOff + (i + 8) * outRow);
        }
    }

    /**
     * Stages d = 4, 2, 1 of {@link #transpose16} on 8 rows of 16 floats, stored as 8 rows of {@code scratch}
     * from {@code scratchOff}. The rows are permuted as ints (their bits), read and written as floats once.
     */
    private static void transposeWithinHalf(MemorySegment in, long inOff, long inRow, float[] scratch, int scratchOff) {
        IntVector r0 = row(in, inOff), r1 = row(in, inOff + inRow), r2 = row(in, inOff + 2 * inRow), r3 = row(in, inOff + 3 * inRow);
        IntVector r4 = row(in, inOff + 4 * inRow), r5 = row(in, inOff + 5 * inRow);
        IntVector r6 = row(in, inOff + 6 * inRow), r7 = row(in, inOff + 7 * inRow);
        IntVector t;
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
        r0.reinterpretAsFloats().intoArray(scratch, scratchOff);
        r1.reinterpretAsFloats().intoArray(scratch, scratchOff + 16);
        r2.reinterpretAsFloats().intoArray(scratch, scratchOff + 32);
        r3.reinterpretAsFloats().intoArray(scratch, scratchOff + 48);
        r4.reinterpretAsFloats().intoArray(scratch, scratchOff + 64);
        r5.reinterpretAsFloats().intoArray(scratch, scratchOff + 80);
        r6.reinterpretAsFloats().intoArray(scratch, scratchOff + 96);
        r7.reinterpretAsFloats().intoArray(scratch, scratchOff + 112);
    }

    /** 16 floats of {@code in} at byte {@code off}, as their bits. */
    private static IntVector row(MemorySegment in, long off) {
        return FloatVector.fromMemorySegment(S, in, off, LE).reinterpretAsInts();
    }
}
