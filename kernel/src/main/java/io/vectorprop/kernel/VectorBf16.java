package io.vectorprop.kernel;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * {@code z = x·Wᵀ} for one sample over {@link Bf16Weights}: sliver by sliver, for each input {@code k},
 * one broadcast of {@code x_k} and a pass over the sliver's part of row {@code k} of Wᵀ, each vector of 32-bit words widened into two float
 * vectors (low halves by a shift, high halves by a mask; see the layout in {@link Bf16Weights}) and
 * fused into two accumulators. Four word vectors (eight accumulators) per pass over {@code x} keep
 * both FMA ports busy with independent chains and stay small enough for C1's register allocator;
 * leftover word vectors go one at a time.
 */
final class VectorBf16 {
    static final VectorSpecies<Float> S = VectorKernels.S;
    /** Words of the same vector width as {@link #S}: a word vector widens into two float vectors. */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    static final int IL = I.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final int HIGH = 0xFFFF0000;

    private VectorBf16() {}

    static void vecMat(MemorySegment x, long xo, Bf16Weights w, MemorySegment z, long zo) {
        for (int s = 0; s < w.slivers(); s++) {
            int width = w.sliverWords(s), vectors = width / IL, first = s * Bf16Weights.SLIVER_WORDS;
            long rowBytes = (long) width * Integer.BYTES, start = w.sliverStart(s) * Integer.BYTES;
            int v = 0;
            for (; v + 4 <= vectors; v += 4) fourVectors(x, xo, w, first + v * IL, start + (long) v * IL * Integer.BYTES, rowBytes, z, zo);
            for (; v < vectors; v++) oneVector(x, xo, w, first + v * IL, start + (long) v * IL * Integer.BYTES, rowBytes, z, zo);
        }
    }

    /**
     * Word vectors {@code word0 … word0 + 4·IL − 1} of every row: eight accumulators. The first of them
     * for row 0 is at byte {@code at} of the words, each next row {@code rowBytes} on (within a sliver).
     */
    private static void fourVectors(MemorySegment x, long xo, Bf16Weights w, int word0, long at, long rowBytes,
                                    MemorySegment z, long zo) {
        MemorySegment words = w.words();
        int in = w.in();
        FloatVector lo0 = FloatVector.zero(S), hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0, lo3 = lo0, hi3 = lo0;
        for (int k = 0; k < in; k++, at += rowBytes) {
            FloatVector xk = FloatVector.broadcast(S, x.getAtIndex(FLOAT, xo + k));
            IntVector w0 = IntVector.fromMemorySegment(I, words, at, NATIVE);
            IntVector w1 = IntVector.fromMemorySegment(I, words, at + IL * 4L, NATIVE);
            IntVector w2 = IntVector.fromMemorySegment(I, words, at + IL * 8L, NATIVE);
            IntVector w3 = IntVector.fromMemorySegment(I, words, at + IL * 12L, NATIVE);
            lo0 = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo0);
            hi0 = w0.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi0);
            lo1 = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo1);
            hi1 = w1.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi1);
            lo2 = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo2);
            hi2 = w2.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi2);
            lo3 = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo3);
            hi3 = w3.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi3);
        }
        // Stores written out: a helper taking vectors, if C2 does not inline it, boxes each one.
        int out = w.out(), col;
        col = column(word0);
        if (col + Bf16Weights.WORDS_PER_BLOCK + IL <= out) {
            lo0.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
            hi0.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE);
        } else {
            lo0.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, S.indexInRange(col, out));
            hi0.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE,
                    S.indexInRange(col + Bf16Weights.WORDS_PER_BLOCK, out));
        }
        col = column(word0 + IL);
        if (col + Bf16Weights.WORDS_PER_BLOCK + IL <= out) {
            lo1.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
            hi1.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE);
        } else {
            lo1.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, S.indexInRange(col, out));
            hi1.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE,
                    S.indexInRange(col + Bf16Weights.WORDS_PER_BLOCK, out));
        }
        col = column(word0 + 2 * IL);
        if (col + Bf16Weights.WORDS_PER_BLOCK + IL <= out) {
            lo2.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
            hi2.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE);
        } else {
            lo2.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, S.indexInRange(col, out));
            hi2.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE,
                    S.indexInRange(col + Bf16Weights.WORDS_PER_BLOCK, out));
        }
        col = column(word0 + 3 * IL);
        if (col + Bf16Weights.WORDS_PER_BLOCK + IL <= out) {
            lo3.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
            hi3.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE);
        } else {
            lo3.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, S.indexInRange(col, out));
            hi3.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE,
                    S.indexInRange(col + Bf16Weights.WORDS_PER_BLOCK, out));
        }
    }

    private static void oneVector(MemorySegment x, long xo, Bf16Weights w, int word0, long at, long rowBytes,
                                  MemorySegment z, long zo) {
        MemorySegment words = w.words();
        int in = w.in();
        FloatVector lo = FloatVector.zero(S), hi = lo;
        for (int k = 0; k < in; k++, at += rowBytes) {
            FloatVector xk = FloatVector.broadcast(S, x.getAtIndex(FLOAT, xo + k));
            IntVector wv = IntVector.fromMemorySegment(I, words, at, NATIVE);
            lo = wv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo);
            hi = wv.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi);
        }
        int out = w.out(), col;
        col = column(word0);
        if (col + Bf16Weights.WORDS_PER_BLOCK + IL <= out) {
            lo.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
            hi.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE);
        } else {
            lo.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, S.indexInRange(col, out));
            hi.intoMemorySegment(z, (zo + col + Bf16Weights.WORDS_PER_BLOCK) * Float.BYTES, VectorKernels.LE,
                    S.indexInRange(col + Bf16Weights.WORDS_PER_BLOCK, out));
        }
    }

    /** The output column of the low half of word {@code word} (its high half is 16 columns on). */
    private static int column(int word) {
        return word / Bf16Weights.WORDS_PER_BLOCK * Bf16Weights.BLOCK + word % Bf16Weights.WORDS_PER_BLOCK;
    }
}
