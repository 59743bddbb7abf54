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
    static final VectorSpecies<Float> S = Lanes.S;

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

    private static final FloatVector V_P2 = FloatVector.broadcast(S, P2), V_P3 = FloatVector.broadcast(S, P3),
            V_P4 = FloatVector.broadcast(S, P4), V_P5 = FloatVector.broadcast(S, P5),
            V_NEG_LN2_HI = FloatVector.broadcast(S, -LN2_HI), V_NEG_LN2_LO = FloatVector.broadcast(S, -LN2_LO);

    /**
     * e^x lane by lane, for arguments clamped to [−87.34, 88.38]: it saturates at about 1.2e-38 and
     * 3.4e38 instead of reaching 0 and +∞, which changes nothing where it is used (σ, tanh, softmax);
     * NaN stays NaN. About 18 vector operations, FMAs throughout (Math.fma gives the same bits as the
     * instruction, so every tier agrees).
     */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(MIN_X).min(MAX_X);                       // NaN passes through max/min
        FloatVector n = xc.fma(LOG2E, ROUNDER).sub(ROUNDER);            // round(x·log₂e)
        FloatVector r = n.fma(V_NEG_LN2_HI, xc);
        r = n.fma(V_NEG_LN2_LO, r);                                     // r = x − n·ln 2, |r| ≤ ln2/2
        FloatVector p = r.fma(P0, P1).fma(r, V_P2).fma(r, V_P3).fma(r, V_P4).fma(r, V_P5);
        FloatVector er = p.fma(r.mul(r), r).add(1f);                    // e^r
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return er.mul(bits.reinterpretAsFloats());                      // · 2^n
    }

    /** Below this |z|, tanh uses its Taylor series (error < 1e-9 relative); above, 1 − 2/(e^(2z) + 1). */
    private static final float TANH_SMALL = 0.125f;
    private static final FloatVector V_ONE = FloatVector.broadcast(S, 1f), V_TWO = FloatVector.broadcast(S, 2f),
            V_T3 = FloatVector.broadcast(S, 2f / 15f), V_T5 = FloatVector.broadcast(S, -1f / 3f);

    /** tanh lane by lane, a few ulps from Math.tanh; NaN stays NaN (it flows through exp and the series). */
    static FloatVector tanh(FloatVector z) {
        FloatVector big = V_ONE.sub(V_TWO.div(exp(z.mul(2f)).add(1f)));  // saturated exp gives ±1 exactly
        FloatVector z2 = z.mul(z);
        // z − z³/3 + 2z⁵/15 − 17z⁷/315, Horner in z²
        FloatVector small = z2.fma(-17f / 315f, 0f).add(V_T3).fma(z2, V_T5).mul(z2).fma(z, z);
        return big.blend(small, z.abs().compare(VectorOperators.LT, TANH_SMALL));
    }
}
