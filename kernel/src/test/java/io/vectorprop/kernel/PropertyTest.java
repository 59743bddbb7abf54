package io.vectorprop.kernel;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * jqwik properties: generated shapes and data, fixed seeds so CI sees the same cases every run.
 * Several hundred cases per operation.
 */
class PropertyTest {
    @Property(tries = 400, seed = "20261128")
    void gemmMatchesReference(@ForAll @IntRange(min = 1, max = 70) int m, @ForAll @IntRange(min = 1, max = 70) int n,
                              @ForAll @IntRange(min = 1, max = 90) int k, @ForAll boolean transA,
                              @ForAll boolean transB, @ForAll @IntRange(min = 0, max = 3) int alphaBeta,
                              @ForAll boolean strided, @ForAll long seed) {
        float[] ab = SimdMatchesScalarTest.ALPHA_BETA[alphaBeta];
        SimdMatchesScalarTest.checkGemm(SimdMatchesScalarTest.SIMD, transA ? Transpose.T : Transpose.N,
                transB ? Transpose.T : Transpose.N, m, n, k, ab[0], ab[1], strided, seed);
    }

    @Property(tries = 400, seed = "20261129")
    void elementwiseMatchesReference(@ForAll SimdMatchesScalarTest.Op op, @ForAll @IntRange(min = 1, max = 5) int rows,
                                     @ForAll @IntRange(min = 1, max = 300) int cols, @ForAll boolean strided,
                                     @ForAll long seed) {
        SimdMatchesScalarTest.checkOp(op, rows, cols, strided, seed);
    }

    /** Several hundred cases for each operation individually, not just across all of them. */
    @Property(tries = 16 * 300, seed = "20261130")
    void eachOperationGetsHundredsOfCases(@ForAll @IntRange(min = 0, max = 16 * 300 - 1) int caseNumber,
                                          @ForAll @IntRange(min = 1, max = 4) int rows,
                                          @ForAll @IntRange(min = 1, max = 130) int cols, @ForAll boolean strided) {
        SimdMatchesScalarTest.Op op = SimdMatchesScalarTest.Op.values()[caseNumber % SimdMatchesScalarTest.Op.values().length];
        SimdMatchesScalarTest.checkOp(op, rows, cols, strided, caseNumber);
    }
}
