package io.vectorprop.kernel.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * A lane sum with a fixed order of additions. {@code reduceLanes(ADD)} may add in a different order
 * in the interpreter, C1 and C2 (its javadoc allows it), so a result would depend on how far the JIT
 * had got: training would not be bit-identical run to run. Here the order is always the same tree:
 * lanes i and i ^ L/2 first, then i ^ L/4, …, each step a plain lane-wise add.
 *
 * <p>Stateless: safe from any thread.
 */
public final class Lanes {
    /**
     * The species of every SIMD kernel: the preferred one, or the width {@link Settings#VECTOR_BITS} asks
     * for ({@code KernelProvider} has checked it before any vector class loads). Every kernel class copies
     * this into a {@code static final} of its own: a species held anywhere else makes C2 box vectors.
     */
    public static final VectorSpecies<Float> S = species(Settings.VECTOR_BITS);

    private static VectorSpecies<Float> species(int bits) {
        if (bits == 0) return FloatVector.SPECIES_PREFERRED;
        int widest = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        if (bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("system property vectorprop.vectorBits=" + bits + ": expected 128, 256 or 512");
        }
        if (bits > widest) {
            throw new IllegalArgumentException("system property vectorprop.vectorBits=" + bits + ": this CPU's widest vectors have "
                    + widest + " bits (a wider species would run in the Vector API's slow Java fallback)");
        }
        return VectorSpecies.of(float.class, jdk.incubator.vector.VectorShape.forBitSize(bits));
    }
    public static final int L = S.length();
    /** The int species of S's shape, for the permutes' lane indices. */
    private static final VectorSpecies<Integer> INDEX = VectorSpecies.of(int.class, S.vectorShape());
    private static final VectorShuffle<Float> X8 = L >= 16 ? VectorShuffle.fromOp(S, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> X4 = L >= 8 ? VectorShuffle.fromOp(S, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> X2 = L >= 4 ? VectorShuffle.fromOp(S, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> X1 = L >= 2 ? VectorShuffle.fromOp(S, i -> i ^ 1) : null;

    /** Whether the block permutes below apply: 16 lanes (512-bit vectors). */
    public static final boolean SIXTEEN = L == 16;
    /**
     * Lane indices for {@code idx.selectFrom(a, b)} (0–15 pick a's lane, 16–31 b's) that swap the
     * off-diagonal d×d blocks between rows a and b of every 2d×2d block of a 16×16 matrix: LOd gives
     * the new row a (lanes with bit d clear from a, the others from b shifted down by d), HId the new
     * row b. For a reduction, {@code LOd.selectFrom(a, b) + HId.selectFrom(a, b)} adds lanes l and
     * l ^ d of a into the lanes of a with bit d clear, and those of b into the others. The indices are
     * ints and a and b the floats' bits ({@code reinterpretAsInts}): with float indices
     * ({@code FloatVector.selectFrom}) C2 converted and range-checked the index vector at every use,
     * which made a 16×16 transpose 1.4 times slower.
     */
    public static final IntVector LO8 = swapIndices(8, false), HI8 = swapIndices(8, true),
            LO4 = swapIndices(4, false), HI4 = swapIndices(4, true),
            LO2 = swapIndices(2, false), HI2 = swapIndices(2, true),
            LO1 = swapIndices(1, false), HI1 = swapIndices(1, true);
    /**
     * Reducing eight vectors at once with the swaps above (stages d = 8, 4, 2, see
     * DotProducts.finish8) leaves the partial sums of input q in lanes 2·rev₃(q) and 2·rev₃(q) + 1
     * (rev₃ reverses three bits); these two shuffles bring them to lane q for the last addition.
     */
    public static final VectorShuffle<Float> PAIR_FIRST = SIXTEEN ? VectorShuffle.fromOp(S, q -> 2 * reverse3(q % 8)) : null;
    public static final VectorShuffle<Float> PAIR_SECOND = SIXTEEN ? VectorShuffle.fromOp(S, q -> 2 * reverse3(q % 8) + 1) : null;

    private Lanes() {}

    private static IntVector swapIndices(int d, boolean high) {
        int[] idx = new int[L];
        for (int l = 0; l < L; l++) {
            boolean second = (l & d) != 0;                 // lane l of the new row lies in the right-hand block
            idx[l] = high ? (second ? L + l : l + d) : (second ? L + l - d : l);
        }
        return IntVector.fromArray(INDEX, idx, 0);
    }

    private static int reverse3(int q) {
        return (q & 1) << 2 | (q & 2) | (q & 4) >> 2;
    }

    /** Σ lanes of v, always added in the same order. */
    public static float sum(FloatVector v) {
        if (L > 16) return v.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);   // no such CPU today
        if (L >= 16) v = v.add(v.rearrange(X8));
        if (L >= 8) v = v.add(v.rearrange(X4));
        if (L >= 4) v = v.add(v.rearrange(X2));
        if (L >= 2) v = v.add(v.rearrange(X1));
        return v.lane(0);
    }
}
