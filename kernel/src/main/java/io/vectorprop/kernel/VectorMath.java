package io.vectorprop.kernel;

import io.vectorprop.kernel.internal.Lanes;

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
        return expInRange(atMost(atLeast(x, MIN_X), MAX_X));           // the same values as max/min, NaN included
    }

    /** e^x for x already within [−87.34, 88.38] (or NaN): {@link #exp} without its clamp. */
    static FloatVector expInRange(FloatVector xc) {
        FloatVector n = xc.fma(LOG2E, ROUNDER).sub(ROUNDER);            // round(x·log₂e)
        FloatVector r = n.fma(V_NEG_LN2_HI, xc);
        r = n.fma(V_NEG_LN2_LO, r);                                     // r = x − n·ln 2, |r| ≤ ln2/2
        FloatVector p = r.fma(P0, P1).fma(r, V_P2).fma(r, V_P3).fma(r, V_P4).fma(r, V_P5);
        FloatVector er = p.fma(r.mul(r), r).add(1f);                    // e^r
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return er.mul(bits.reinterpretAsFloats());                      // · 2^n
    }

    /**
     * {@link #exp(FloatVector)} for one float, the same operations in the same order with
     * {@code Math.fma}, so the same bits: for a row's last columns, which a vector does not fill. Why
     * not a masked vector there: until C2 compiles a kernel, every Vector API operation in it runs as
     * a Java fallback, and a softmax's narrow rows (10 classes) through a masked exp made a fresh JVM's
     * first epoch about 9 % slower; plain float code runs at full speed in every tier.
     */
    static float exp(float x) {
        float xc = Math.min(Math.max(x, MIN_X), MAX_X);
        float n = Math.fma(xc, LOG2E, ROUNDER) - ROUNDER;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(r, P0, P1), r, P2), r, P3), r, P4), r, P5);
        float er = Math.fma(p, r * r, r) + 1f;
        return er * Float.intBitsToFloat(((int) n + 127) << 23);
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

    // ---------------------------------------------------------------- GELU, GELU's tanh form, SiLU

    /**
     * GELU and its derivative as rational functions, fitted here (weighted least squares on Chebyshev
     * points of t = z² ∈ [0, 36], degree 6 over degree 5): {@code Φ(z) ≈ ½ + z·P(z²)/Q(z²)} with
     * |error| ≤ 1.3e-9·|z|, and {@code GELU'(z) = Φ(z) + z·φ(z) ≈ ½ + z·P'(z²)/Q'(z²)} with |error| ≤ 3e-7,
     * for |z| ≤ {@value #GELU_FLAT}; beyond it Φ is 0 or 1 and GELU' 0 or 1 to fp32 precision, so z is
     * clamped there. Eleven FMAs and one division, no exponential: erf has no Vector API operator,
     * and the forms through e^(−z²) cost about twice as much.
     */
    static final float[] GELU_CDF_P = {3.989422807e-01f, 3.282706105e-02f, 4.791431552e-03f, 1.699679457e-04f,
            8.230282471e-06f, 4.964583580e-08f, -6.796950502e-11f};
    static final float[] GELU_CDF_Q = {1f, 2.489519266e-01f, 2.850224876e-02f, 1.928922913e-03f, 8.105768046e-05f,
            1.914033371e-06f};
    static final float[] GELU_PRIME_P = {7.978846069e-01f, -3.146988500e-02f, 1.412801629e-02f, 1.863619416e-05f,
            3.388639741e-05f, 1.429776375e-07f, 1.574756575e-10f};
    static final float[] GELU_PRIME_Q = {1f, 2.938930529e-01f, 4.066602188e-02f, 3.448960362e-03f, 1.885478613e-04f,
            7.857229247e-06f};
    /**
     * GELU's tanh form the same way, fitted on z² ∈ [0, 30.25]: {@code ½·(1 + tanh(k·(z + c·z³))) ≈ ½ + z·P(z²)/Q(z²)}
     * (degree 5/5, relative error of the product with z ≤ 1e-6 in fp32) and its derivative (degree 6/5,
     * ≤ 4e-7), for |z| ≤ {@value #GELU_TANH_FLAT}, where tanh(k·(z + c·z³)) is 1 to fp32 precision.
     */
    static final float[] GELU_TANH_P = {3.989422846e-01f, 3.093307855e-02f, 3.660336486e-03f, 1.376697735e-04f,
            7.027213349e-06f, 2.350076144e-08f};
    static final float[] GELU_TANH_Q = {1f, 2.450295382e-01f, 2.464326122e-02f, 1.323571922e-03f, 7.676159018e-05f,
            1.296606346e-06f};
    static final float[] GELU_TANH_PRIME_P = {7.978846021e-01f, -4.810923263e-02f, 1.325950920e-02f, -2.714296959e-04f,
            2.793626910e-05f, -8.052177688e-08f, 1.158796309e-09f};
    static final float[] GELU_TANH_PRIME_Q = {1f, 2.746884202e-01f, 3.191519054e-02f, 1.748279313e-03f, 1.143621853e-04f,
            4.167677894e-06f};
    /** Where GELU is flat to fp32 precision: its argument is clamped to ±{@value}. */
    static final float GELU_FLAT = 6f;
    static final float GELU_TANH_FLAT = 5.5f;
    /**
     * The same for SiLU, whose σ(z) reaches 0 and 1 more slowly: at ±87 σ is 1 or 1.6e-38, and e^(−z)
     * stays within {@link #expInRange}'s range, so the clamp that SiLU needs anyway (for ±∞) is the only one.
     */
    static final float SILU_FLAT = 87f;

    /**
     * max(z, lo) and min(z, hi) as a compare and a blend: NaN stays NaN (the compare is false), and it
     * costs two instructions where {@code max}/{@code min}, which must also order −0 below +0 and
     * propagate NaN from either side, take several on x86.
     */
    static FloatVector atLeast(FloatVector z, float lo) {
        return z.blend(lo, z.compare(VectorOperators.LT, lo));
    }

    static FloatVector atMost(FloatVector z, float hi) {
        return z.blend(hi, z.compare(VectorOperators.GT, hi));
    }

    static FloatVector clamp(FloatVector z, float bound) {
        return atMost(atLeast(z, -bound), bound);
    }

    /** ½ + z·P(z²)/Q(z²) for z already clamped, the coefficients in increasing powers. */
    private static FloatVector halfPlusOddRational(FloatVector z, float[] p, float[] q) {
        FloatVector t = z.mul(z);
        return horner(t, p).div(horner(t, q)).fma(z, V_HALF);
    }

    /** c₀ + t·(c₁ + t·(c₂ + …)); the loop has a constant trip count and is unrolled by C2. */
    private static FloatVector horner(FloatVector t, float[] c) {
        FloatVector acc = t.fma(c[c.length - 1], c[c.length - 2]);
        for (int i = c.length - 3; i >= 0; i--) acc = acc.fma(t, FloatVector.broadcast(S, c[i]));
        return acc;
    }

    private static final FloatVector V_HALF = FloatVector.broadcast(S, 0.5f);

    /** GELU: z·Φ(z); −∞ gives 0 (the multiplier is clamped below like the argument), +∞ gives +∞. */
    static FloatVector gelu(FloatVector z) {
        FloatVector low = atLeast(z, -GELU_FLAT);
        return low.mul(halfPlusOddRational(atMost(low, GELU_FLAT), GELU_CDF_P, GELU_CDF_Q));
    }

    /** GELU's derivative Φ(z) + z·φ(z). */
    static FloatVector geluPrime(FloatVector z) {
        return halfPlusOddRational(clamp(z, GELU_FLAT), GELU_PRIME_P, GELU_PRIME_Q);
    }

    /** ½·z·(1 + tanh(k·(z + c·z³))). */
    static FloatVector geluTanh(FloatVector z) {
        FloatVector low = atLeast(z, -GELU_TANH_FLAT);
        return low.mul(halfPlusOddRational(atMost(low, GELU_TANH_FLAT), GELU_TANH_P, GELU_TANH_Q));
    }

    /** Its derivative ½·(1 + t) + ½·z·(1 − t²)·k·(1 + 3c·z²), t = tanh(k·(z + c·z³)). */
    static FloatVector geluTanhPrime(FloatVector z) {
        return halfPlusOddRational(clamp(z, GELU_TANH_FLAT), GELU_TANH_PRIME_P, GELU_TANH_PRIME_Q);
    }

    /** σ(z) = 1/(1 + e^(−z)). */
    static FloatVector sigmoid(FloatVector z) {
        return V_ONE.div(exp(z.neg()).add(1f));
    }

    /** SiLU: z·σ(z). */
    static FloatVector silu(FloatVector z) {
        FloatVector zc = clamp(z, SILU_FLAT);
        return atLeast(z, -SILU_FLAT).mul(V_ONE.div(expInRange(zc.neg()).add(1f)));
    }

    /** SiLU's derivative σ(z)·(1 + z·(1 − σ(z))). */
    static FloatVector siluPrime(FloatVector z) {
        FloatVector zc = clamp(z, SILU_FLAT);
        FloatVector s = V_ONE.div(expInRange(zc.neg()).add(1f));
        return V_ONE.sub(s).fma(zc, V_ONE).mul(s);
    }
}
