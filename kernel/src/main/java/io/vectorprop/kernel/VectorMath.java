package io.vectorprop.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp and tanh built from plain lane-wise arithmetic. The EXP operator is intrinsified by C2 (SVML)
 * but computed lane by lane with {@code Math.exp} before that, and the two may differ in the last
 * bit; a network's result would then depend on how far the JIT had got. These functions give the
 * same bits in every tier, so training is bit-identical run to run, and are as fast as SVML.
 */
final class VectorMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    // Cephes expf: e^x = 2^n · e^r, n = round(x / ln 2), r = x − n·ln 2 (ln 2 split in two for
    // exactness), e^r by a degree-6 minimax polynomial on [−ln2/2, ln2/2]: error ≤ 1 ulp or so.
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float MAX_X = 88.3762626647949f, MIN_X = -87.3365447504f;
    /** 1.5·2²³: adding and subtracting it rounds a float of magnitude < 2²² to the nearest integer. */
    private static final float ROUNDER = 12582912f;
    private static final float P0 = 1.9875691500E-4f, P1 = 1.3981999507E-3f, P2 = 8.3334519073E-3f,
            P3 = 4.1665795894E-2f, P4 = 1.6666665459E-1f, P5 = 5.0000001201E-1f;

    private VectorMath() {}

    /** e^x lane by lane: +∞ above 88.38, 0 below −87.34 (no subnormals), NaN stays NaN. */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(MIN_X).min(MAX_X);                       // NaN passes through max/min
        FloatVector n = xc.mul(LOG2E).add(ROUNDER).sub(ROUNDER);        // round to nearest
        FloatVector r = xc.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.mul(P0).add(P1).mul(r).add(P2).mul(r).add(P3).mul(r).add(P4).mul(r).add(P5);
        FloatVector er = p.mul(r.mul(r)).add(r).add(1f);
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector result = er.mul(bits.reinterpretAsFloats());
        result = result.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, MAX_X));
        return result.blend(0f, x.compare(VectorOperators.LT, MIN_X));
    }

    /** Below this |z|, tanh uses its Taylor series (error < 1e-9 relative); above, (1 − e^(−2|z|)) / (1 + e^(−2|z|)). */
    private static final float TANH_SMALL = 0.125f;

    /** tanh lane by lane; odd, exact to a couple of ulps, NaN stays NaN. */
    static FloatVector tanh(FloatVector z) {
        FloatVector a = z.abs();
        FloatVector e = exp(a.mul(-2f));
        FloatVector big = e.neg().add(1f).div(e.add(1f));               // tanh |z|
        FloatVector z2 = z.mul(z);
        // z − z³/3 + 2z⁵/15 − 17z⁷/315, Horner in z²
        FloatVector small = z2.mul(-17f / 315f).add(2f / 15f).mul(z2).add(-1f / 3f).mul(z2).mul(z).add(z);
        FloatVector signed = big.blend(big.neg(), z.compare(VectorOperators.LT, 0f));
        return signed.blend(small, a.compare(VectorOperators.LT, TANH_SMALL)).blend(z, z.test(VectorOperators.IS_NAN));
    }
}
