package io.vectorprop.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The weights {@code W} (out × in) of one dense layer stored as bfloat16, for the single-sample
 * product {@code z = x·Wᵀ} of {@link Kernels#vecMatBf16}. bfloat16 is the upper half of an IEEE
 * float (8 exponent bits, 7 mantissa bits): widening is a 16-bit shift, so a kernel streams half
 * the bytes of fp32 weights and widens them in registers.
 *
 * <p>Layout, the same for every vector width: row {@code k} of {@code Wᵀ} (the {@code out} weights
 * that multiply input {@code k}) is {@code paddedOut / 2} 32-bit words, in blocks of
 * {@link #BLOCK} outputs. Word {@code t} (0 ≤ t &lt; 16) of a block holds output {@code t} of the block
 * in its low half and output {@code t + 16} in its high half. A vector of {@code n} words then widens
 * into two float vectors, one by a left shift ({@code word << 16}: outputs {@code t … t+n−1}) and one
 * by a mask ({@code word & 0xFFFF0000}: outputs {@code t+16 … t+16+n−1}), with no lane shuffles.
 * The rows are cut into slivers of {@link #SLIVER_WORDS} words (128 outputs; the last sliver may be
 * narrower), and each sliver is stored whole, row after row: word {@code w} of row {@code k} is at
 * {@code s·SLIVER_WORDS·in + k·width(s) + w mod SLIVER_WORDS} with {@code s = w / SLIVER_WORDS}. The
 * kernel's pass over a sliver (all of k for its outputs) then reads one contiguous run of memory
 * instead of a part of every row, which measured 1.3× faster than whole rows for a 784-input layer.
 * Outputs beyond {@code out} are zero. Rounding from fp32 is to nearest, ties to even; NaN stays NaN.
 *
 * <p>Thread-safety: written once when made, then only read; any number of threads may use it at once until its arena is closed.
 */
public final class Bf16Weights {
    /** Outputs per block of the layout. */
    public static final int BLOCK = 32;
    /** Words per block: two bfloat16 values per 32-bit word. */
    static final int WORDS_PER_BLOCK = BLOCK / 2;
    /** Words of one row of a sliver: 4 vectors of 512 bits, one pass of the kernel's eight accumulators. */
    static final int SLIVER_WORDS = 64;

    private final MemorySegment words;
    private final int in, out, paddedOut;

    private Bf16Weights(MemorySegment words, int in, int out, int paddedOut) {
        this.words = words;
        this.in = in;
        this.out = out;
        this.paddedOut = paddedOut;
    }

    /** Rounds {@code w} (out × in, any stride) to bfloat16 into memory from {@code arena}. */
    public static Bf16Weights of(Arena arena, Matrix w) {
        Kernels.alive("Bf16Weights.of", w);
        int out = w.rows(), in = w.cols();
        int paddedOut = (out + BLOCK - 1) / BLOCK * BLOCK;
        long wordsPerRow = paddedOut / 2;
        MemorySegment words = arena.allocate(wordsPerRow * in * Integer.BYTES, Matrix.ALIGNMENT);
        Bf16Weights bf16 = new Bf16Weights(words, in, out, paddedOut);
        for (int k = 0; k < in; k++) {
            for (int j = 0; j < out; j++) {
                long word = bf16.wordIndex(k, wordOf(j));
                int shift = j % BLOCK < WORDS_PER_BLOCK ? 0 : 16;
                int old = words.getAtIndex(ValueLayout.JAVA_INT, word);
                words.setAtIndex(ValueLayout.JAVA_INT, word, old | (toBf16(w.get(j, k)) << shift));
            }
        }
        return bf16;
    }

    /** The word of a row that holds output {@code j} (in its low half for the first 16 of a block). */
    private static int wordOf(int j) {
        return j / BLOCK * WORDS_PER_BLOCK + j % BLOCK % WORDS_PER_BLOCK;
    }

    /** Where word {@code word} of row {@code k} of Wᵀ is, in words from the start (see the layout above). */
    long wordIndex(int k, int word) {
        int s = word / SLIVER_WORDS;
        return sliverStart(s) + (long) k * sliverWords(s) + word % SLIVER_WORDS;
    }

    /** Words per row of sliver {@code s}: {@link #SLIVER_WORDS}, or fewer for the last. */
    int sliverWords(int s) {
        return Math.min(SLIVER_WORDS, wordsPerRow() - s * SLIVER_WORDS);
    }

    /** The first word of sliver {@code s}. */
    long sliverStart(int s) {
        return (long) s * SLIVER_WORDS * in;
    }

    /** Slivers per row. */
    int slivers() {
        return (wordsPerRow() + SLIVER_WORDS - 1) / SLIVER_WORDS;
    }

    /** bfloat16 bits of {@code v}, rounded to nearest even; a NaN stays a (quiet) NaN. */
    public static int toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (v != v) return (bits >>> 16) | 0x0040;
        return (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
    }

    /** The float of bfloat16 bits (the low 16 bits of {@code bf16}). */
    public static float fromBf16(int bf16) {
        return Float.intBitsToFloat(bf16 << 16);
    }

    /** {@code v} rounded to bfloat16 and widened back: the value a bf16 kernel computes with. */
    public static float roundToBf16(float v) {
        return fromBf16(toBf16(v));
    }

    public int in() { return in; }

    public int out() { return out; }

    /** Outputs rounded up to a whole number of {@link #BLOCK}s. */
    int paddedOut() { return paddedOut; }

    /** Words per row of Wᵀ (over all slivers). */
    int wordsPerRow() { return paddedOut / 2; }

    MemorySegment words() { return words; }

    /** The widened weight {@code W[j, k]}. */
    public float get(int j, int k) {
        if (j < 0 || j >= out || k < 0 || k >= in) {
            throw new IndexOutOfBoundsException("Bf16Weights.get(" + j + ", " + k + ") outside " + out + "x" + in);
        }
        int word = words.getAtIndex(ValueLayout.JAVA_INT, wordIndex(k, wordOf(j)));
        return Float.intBitsToFloat(j % BLOCK < WORDS_PER_BLOCK ? word << 16 : word & 0xFFFF0000);
    }

    /** Bytes of weight memory (half of fp32, plus the padding of the last block). */
    public long byteSize() { return words.byteSize(); }

    boolean isAlive() { return words.scope().isAlive(); }

    @Override
    public String toString() { return "bf16 " + out + "x" + in; }
}
