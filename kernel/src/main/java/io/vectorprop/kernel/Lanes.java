package io.vectorprop.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * A lane sum with a fixed order of additions. {@code reduceLanes(ADD)} may add in a different order
 * in the interpreter, C1 and C2 (its javadoc allows it), so a result would depend on how far the JIT
 * had got: training would not be bit-identical run to run. Here the order is always the same tree:
 * lanes i and i ^ L/2 first, then i ^ L/4, …, each step a plain lane-wise add.
 */
final class Lanes {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    private static final VectorShuffle<Float> X8 = L >= 16 ? VectorShuffle.fromOp(S, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> X4 = L >= 8 ? VectorShuffle.fromOp(S, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> X2 = L >= 4 ? VectorShuffle.fromOp(S, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> X1 = L >= 2 ? VectorShuffle.fromOp(S, i -> i ^ 1) : null;

    private Lanes() {}

    /** Σ lanes of v, always added in the same order. */
    static float sum(FloatVector v) {
        if (L > 16) return v.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);   // no such CPU today
        if (L >= 16) v = v.add(v.rearrange(X8));
        if (L >= 8) v = v.add(v.rearrange(X4));
        if (L >= 4) v = v.add(v.rearrange(X2));
        if (L >= 2) v = v.add(v.rearrange(X1));
        return v.lane(0);
    }
}
