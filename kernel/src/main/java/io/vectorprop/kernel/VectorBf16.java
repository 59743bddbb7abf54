package io.vectorprop.kernel;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static io.vectorprop.kernel.Matrix.FLOAT;

/**
 * {@code z = x·Wᵀ} for one sample over {@link Bf16Weights}: for each input {@code k}, one broadcast of
 * {@code x_k} and a pass over row {@code k} of Wᵀ, each vector of 32-bit words widened into two float
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
        int vectors = w.wordsPerRow() / IL;
        int v = 0;
        for (; v + 4 <= vectors; v += 4) fourVectors(x, xo, w, v * IL, z, zo);
        for (; v < vectors; v++) oneVector(x, xo, w, v * IL, z, zo);
    }

    /** Word vectors {@code word0 … word0 + 4·IL − 1} of every row: eight accumulators. */
    private static void fourVectors(MemorySegment x, long xo, Bf16Weights w, int word0, MemorySegment z, long zo) {
        MemorySegment words = w.words();
        long rowBytes = (long) w.wordsPerRow() * Integer.BYTES, at = (long) word0 * Integer.BYTES;
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
        store(lo0, hi0, word0, w.out(), z, zo);
        store(lo1, hi1, word0 + IL, w.out(), z, zo);
        store(lo2, hi2, word0 + 2 * IL, w.out(), z, zo);
        store(lo3, hi3, word0 + 3 * IL, w.out(), z, zo);
    }

    private static void oneVector(MemorySegment x, long xo, Bf16Weights w, int word0, MemorySegment z, long zo) {
        MemorySegment words = w.words();
        long rowBytes = (long) w.wordsPerRow() * Integer.BYTES, at = (long) word0 * Integer.BYTES;
        int in = w.in();
        FloatVector lo = FloatVector.zero(S), hi = lo;
        for (int k = 0; k < in; k++, at += rowBytes) {
            FloatVector xk = FloatVector.broadcast(S, x.getAtIndex(FLOAT, xo + k));
            IntVector wv = IntVector.fromMemorySegment(I, words, at, NATIVE);
            lo = wv.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xk, lo);
            hi = wv.lanewise(VectorOperators.AND, HIGH).reinterpretAsFloats().fma(xk, hi);
        }
        store(lo, hi, word0, w.out(), z, zo);
    }

    /** Writes the outputs of the words from {@code word0}: low halves then high halves, cut at {@code out}. */
    private static void store(FloatVector lo, FloatVector hi, int word0, int out, MemorySegment z, long zo) {
        int block = word0 / Bf16Weights.WORDS_PER_BLOCK, t = word0 % Bf16Weights.WORDS_PER_BLOCK;
        int loCol = block * Bf16Weights.BLOCK + t, hiCol = loCol + Bf16Weights.WORDS_PER_BLOCK;
        storeCut(lo, loCol, out, z, zo);
        storeCut(hi, hiCol, out, z, zo);
    }

    private static void storeCut(FloatVector v, int col, int out, MemorySegment z, long zo) {
        if (col + IL <= out) {
            v.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE);
        } else if (col < out) {
            VectorMask<Float> m = S.indexInRange(col, out);
            v.intoMemorySegment(z, (zo + col) * Float.BYTES, VectorKernels.LE, m);
        }
    }
}
