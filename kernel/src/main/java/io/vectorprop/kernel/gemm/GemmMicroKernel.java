package io.vectorprop.kernel.gemm;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import io.vectorprop.kernel.internal.Lanes;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.gemm.GemmBlocking.KC;
import static io.vectorprop.kernel.gemm.GemmBlocking.NR;

/**
 * The packed GEMM's micro-kernel: one MR×NR tile {@code T = 1·initᵀ + Σ_p a[:, p] ⊗ b[p, :]} over kc
 * steps, in outer-product form — per step NR/L vector loads from the B sliver, MR broadcasts from the A sliver,
 * MR·NR/L FMAs into accumulators that stay in registers for the whole k loop.
 *
 * <p>Two register budgets, picked once by {@link GemmBlocking#VECTORS_PER_ROW}: 6×4 vectors (24
 * accumulators + 4 B vectors + a broadcast = 29 of 32 registers: AVX-512, NEON, SVE) and 6×2 (12 + 2 +
 * 1 = 15 of 16: AVX2). A bigger tile feeds each load to more FMAs; one that needs more registers than
 * the CPU has spills accumulators to the stack on every step.
 *
 * <p>Why the operands are heap {@code float[]} (the packed copies only; the user's matrices stay off
 * heap): every index below is the loop counter plus a loop-invariant base (times a constant), which
 * C2's range-check elimination hoists out of the loop, so the loop body is loads, broadcasts, FMAs
 * and the counter. Over a {@code MemorySegment} with the same indexing a compare and branch per load
 * and broadcast stayed in the loop, which is what bounds a kernel on CPUs whose 512-bit FMA runs at
 * full rate.
 *
 * <p>Why one k step per iteration: written out twice per iteration, C2 schedules the second step's
 * loads and broadcasts among the first step's FMAs, needs more than 32 vector registers and spills
 * B vectors to the stack on every iteration (it measured slower); one step per iteration compiles to
 * loads, broadcasts, FMAs and five instructions of loop and index arithmetic (docs/performance.md, "GEMM and training").
 *
 * <p>Layouts (see {@link GemmPacking}): the A sliver is MR rows of kc floats, row r at
 * {@code ai + r·KC} — KC, the constant, not the panel's kc, so the six broadcasts address one index
 * plus constant displacements; the B sliver is kc steps of NR floats, step p at {@code bi + p·NR}. The
 * accumulators start from the NR floats of {@code init} at {@code ii} in every row: zeros for a plain
 * product, a dense layer's bias in its first k panel (so the bias costs NR/L loads per tile, and the
 * tile can still go straight into C). The
 * tile goes to {@code out} at byte offset {@code outOff}, rows {@code outRow} bytes apart — straight
 * into C, or into a tile buffer that {@link PackedLoops#writeBack} adds onto C. The kernel stores but
 * never reads C: a kernel that also applied β failed C1's register allocation, which can leave it in
 * C1's profiling tier for good (docs/vector-api-pitfalls.md).
 */
final class GemmMicroKernel {
    static final VectorSpecies<Float> S = Lanes.S;
    static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private GemmMicroKernel() {}

    /** The MR×NR tile with the tile shape of this CPU's register budget. */
    static void tile(int kc, float[] a, int ai, float[] b, int bi, float[] init, int ii, MemorySegment out, long outOff, long outRow) {
        if (GemmBlocking.VECTORS_PER_ROW == 4) {
            tile6x4(kc, a, ai, b, bi, init, ii, out, outOff, outRow);
        } else {
            tile6x2(kc, a, ai, b, bi, init, ii, out, outOff, outRow);
        }
    }

    /** 6 rows × 4 vectors: 24 accumulators. */
    static void tile6x4(int kc, float[] a, int ai, float[] b, int bi, float[] init, int ii, MemorySegment out, long outOff, long outRow) {
        FloatVector i0 = FloatVector.fromArray(S, init, ii), i1 = FloatVector.fromArray(S, init, ii + L);
        FloatVector i2 = FloatVector.fromArray(S, init, ii + 2 * L), i3 = FloatVector.fromArray(S, init, ii + 3 * L);
        FloatVector c00 = i0, c01 = i1, c02 = i2, c03 = i3, c10 = i0, c11 = i1, c12 = i2, c13 = i3;
        FloatVector c20 = i0, c21 = i1, c22 = i2, c23 = i3, c30 = i0, c31 = i1, c32 = i2, c33 = i3;
        FloatVector c40 = i0, c41 = i1, c42 = i2, c43 = i3, c50 = i0, c51 = i1, c52 = i2, c53 = i3;
        for (int p = 0; p < kc; p++) {
            int ap = ai + p, bp = bi + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp);
            FloatVector b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector b2 = FloatVector.fromArray(S, b, bp + 2 * L);
            FloatVector b3 = FloatVector.fromArray(S, b, bp + 3 * L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02); c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(S, a[ap + 1 * KC]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12); c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(S, a[ap + 2 * KC]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22); c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(S, a[ap + 3 * KC]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32); c33 = x.fma(b3, c33);
            x = FloatVector.broadcast(S, a[ap + 4 * KC]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41); c42 = x.fma(b2, c42); c43 = x.fma(b3, c43);
            x = FloatVector.broadcast(S, a[ap + 5 * KC]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51); c52 = x.fma(b2, c52); c53 = x.fma(b3, c53);
        }
        long v = (long) L * Float.BYTES, o = outOff;
        c00.intoMemorySegment(out, o, LE); c01.intoMemorySegment(out, o + v, LE);
        c02.intoMemorySegment(out, o + 2 * v, LE); c03.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c10.intoMemorySegment(out, o, LE); c11.intoMemorySegment(out, o + v, LE);
        c12.intoMemorySegment(out, o + 2 * v, LE); c13.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c20.intoMemorySegment(out, o, LE); c21.intoMemorySegment(out, o + v, LE);
        c22.intoMemorySegment(out, o + 2 * v, LE); c23.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c30.intoMemorySegment(out, o, LE); c31.intoMemorySegment(out, o + v, LE);
        c32.intoMemorySegment(out, o + 2 * v, LE); c33.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c40.intoMemorySegment(out, o, LE); c41.intoMemorySegment(out, o + v, LE);
        c42.intoMemorySegment(out, o + 2 * v, LE); c43.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c50.intoMemorySegment(out, o, LE); c51.intoMemorySegment(out, o + v, LE);
        c52.intoMemorySegment(out, o + 2 * v, LE); c53.intoMemorySegment(out, o + 3 * v, LE);
    }

    /**
     * 6 rows × 2 vectors: 12 accumulators, for 16-register CPUs; with the 6×4 tile, the first half of a
     * sliver (B steps stay NR floats apart), for a last sliver with at most NR/2 columns.
     */
    static void tile6x2(int kc, float[] a, int ai, float[] b, int bi, float[] init, int ii, MemorySegment out, long outOff, long outRow) {
        FloatVector i0 = FloatVector.fromArray(S, init, ii), i1 = FloatVector.fromArray(S, init, ii + L);
        FloatVector c00 = i0, c01 = i1, c10 = i0, c11 = i1, c20 = i0, c21 = i1;
        FloatVector c30 = i0, c31 = i1, c40 = i0, c41 = i1, c50 = i0, c51 = i1;
        for (int p = 0; p < kc; p++) {
            int ap = ai + p, bp = bi + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp);
            FloatVector b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ap + 1 * KC]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ap + 2 * KC]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ap + 3 * KC]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ap + 4 * KC]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ap + 5 * KC]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        long v = (long) L * Float.BYTES, o = outOff;
        c00.intoMemorySegment(out, o, LE); c01.intoMemorySegment(out, o + v, LE);
        o += outRow;
        c10.intoMemorySegment(out, o, LE); c11.intoMemorySegment(out, o + v, LE);
        o += outRow;
        c20.intoMemorySegment(out, o, LE); c21.intoMemorySegment(out, o + v, LE);
        o += outRow;
        c30.intoMemorySegment(out, o, LE); c31.intoMemorySegment(out, o + v, LE);
        o += outRow;
        c40.intoMemorySegment(out, o, LE); c41.intoMemorySegment(out, o + v, LE);
        o += outRow;
        c50.intoMemorySegment(out, o, LE); c51.intoMemorySegment(out, o + v, LE);
    }
    /**
     * 6 rows × 1 vector: 6 accumulators, for a last sliver of at most one vector of columns (a
     * classifier's 10 outputs), which the wider tiles would compute 2 or 4 times over.
     */
    static void tile6x1(int kc, float[] a, int ai, float[] b, int bi, float[] init, int ii, MemorySegment out, long outOff, long outRow) {
        FloatVector i0 = FloatVector.fromArray(S, init, ii);
        FloatVector c0 = i0, c1 = i0, c2 = i0, c3 = i0, c4 = i0, c5 = i0;
        for (int p = 0; p < kc; p++) {
            int ap = ai + p;
            FloatVector b0 = FloatVector.fromArray(S, b, bi + p * NR);
            c0 = FloatVector.broadcast(S, a[ap]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[ap + KC]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[ap + 2 * KC]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[ap + 3 * KC]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[ap + 4 * KC]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[ap + 5 * KC]).fma(b0, c5);
        }
        c0.intoMemorySegment(out, outOff, LE);
        c1.intoMemorySegment(out, outOff + outRow, LE);
        c2.intoMemorySegment(out, outOff + 2 * outRow, LE);
        c3.intoMemorySegment(out, outOff + 3 * outRow, LE);
        c4.intoMemorySegment(out, outOff + 4 * outRow, LE);
        c5.intoMemorySegment(out, outOff + 5 * outRow, LE);
    }
    /**
     * 4 rows × 4 vectors: 16 accumulators, for a last sliver of at most 4 rows: batches of 16, 64 or 256
     * rows leave 4 after whole 6-row slivers, which the 6-row tile would compute as 6.
     */
    static void tile4x4(int kc, float[] a, int ai, float[] b, int bi, float[] init, int ii, MemorySegment out, long outOff, long outRow) {
        FloatVector i0 = FloatVector.fromArray(S, init, ii), i1 = FloatVector.fromArray(S, init, ii + L);
        FloatVector i2 = FloatVector.fromArray(S, init, ii + 2 * L), i3 = FloatVector.fromArray(S, init, ii + 3 * L);
        FloatVector c00 = i0, c01 = i1, c02 = i2, c03 = i3, c10 = i0, c11 = i1, c12 = i2, c13 = i3;
        FloatVector c20 = i0, c21 = i1, c22 = i2, c23 = i3, c30 = i0, c31 = i1, c32 = i2, c33 = i3;
        for (int p = 0; p < kc; p++) {
            int ap = ai + p, bp = bi + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp);
            FloatVector b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector b2 = FloatVector.fromArray(S, b, bp + 2 * L);
            FloatVector b3 = FloatVector.fromArray(S, b, bp + 3 * L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02); c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(S, a[ap + 1 * KC]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12); c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(S, a[ap + 2 * KC]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22); c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(S, a[ap + 3 * KC]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32); c33 = x.fma(b3, c33);
        }
        long v = (long) L * Float.BYTES, o = outOff;
        c00.intoMemorySegment(out, o, LE); c01.intoMemorySegment(out, o + v, LE);
        c02.intoMemorySegment(out, o + 2 * v, LE); c03.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c10.intoMemorySegment(out, o, LE); c11.intoMemorySegment(out, o + v, LE);
        c12.intoMemorySegment(out, o + 2 * v, LE); c13.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c20.intoMemorySegment(out, o, LE); c21.intoMemorySegment(out, o + v, LE);
        c22.intoMemorySegment(out, o + 2 * v, LE); c23.intoMemorySegment(out, o + 3 * v, LE);
        o += outRow;
        c30.intoMemorySegment(out, o, LE); c31.intoMemorySegment(out, o + v, LE);
        c32.intoMemorySegment(out, o + 2 * v, LE); c33.intoMemorySegment(out, o + 3 * v, LE);
    }
}
