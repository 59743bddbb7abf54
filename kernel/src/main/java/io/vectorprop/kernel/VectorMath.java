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

    // ---------------------------------------------------------------- GELU, GELU's tanh form, SiLU

    /**
     * Abramowitz and Stegun 7.1.26: {@code erfc(u) ≈ t·(a₁ + t·(a₂ + t·(a₃ + t·(a₄ + t·a₅))))·e^(−u²)} with
     * {@code t = 1/(1 + p·u)}, u ≥ 0, absolute error ≤ 1.5e-7. The same e^(−u²) gives the normal density
     * GELU's derivative needs, so each GELU kernel costs one exponential.
     */
    static final float ERF_P = 0.3275911f, ERF_A1 = 0.254829592f, ERF_A2 = -0.284496736f, ERF_A3 = 1.421413741f,
            ERF_A4 = -1.453152027f, ERF_A5 = 1.061405429f;
    static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT_2PI = 0.39894228040143268f;
    /** √(2/π) and the cubic coefficient of GELU's tanh approximation. */
    static final float GELU_K = 0.79788456080286536f, GELU_C = 0.044715f;
    private static final FloatVector V_A4 = FloatVector.broadcast(S, ERF_A4), V_A3 = FloatVector.broadcast(S, ERF_A3),
            V_A2 = FloatVector.broadcast(S, ERF_A2), V_A1 = FloatVector.broadcast(S, ERF_A1);

    /** ½·erfc(|z|/√2) from t and e^(−z²/2): the tail mass Φ(−|z|). */
    private static FloatVector normalTail(FloatVector t, FloatVector gauss) {
        FloatVector poly = t.fma(ERF_A5, 0f).add(V_A4).fma(t, V_A3).fma(t, V_A2).fma(t, V_A1).mul(t);
        return poly.mul(gauss).mul(0.5f);
    }

    /**
     * Where GELU and its tanh form are flat to fp32 precision (Φ(±20) is 1 or 0 to within 1e-88): their
     * arguments are clamped to ±{@value}, so that ±∞ give the limits (z or 0, derivative 1 or 0)
     * instead of ∞·0 = NaN. NaN stays NaN (max and min keep it).
     */
    static final float GELU_FLAT = 20f;
    /** The same for SiLU, whose σ(z) reaches 0 and 1 more slowly. */
    static final float SILU_FLAT = 100f;

    /** Φ(z) for z already clamped to ±{@link #GELU_FLAT}. */
    private static FloatVector normalCdf(FloatVector z, FloatVector gauss, FloatVector u) {
        FloatVector t = V_ONE.div(u.fma(ERF_P, 1f));
        FloatVector tail = normalTail(t, gauss);
        return tail.blend(V_ONE.sub(tail), z.compare(VectorOperators.GE, 0f));
    }

    /** GELU: z·Φ(z). */
    static FloatVector gelu(FloatVector z) {
        FloatVector zc = z.max(-GELU_FLAT).min(GELU_FLAT);
        FloatVector u = zc.abs().mul(INV_SQRT2);
        return z.max(-GELU_FLAT).mul(normalCdf(zc, exp(u.mul(u).neg()), u));
    }

    /** GELU's derivative Φ(z) + z·φ(z), φ the standard normal density. */
    static FloatVector geluPrime(FloatVector z) {
        FloatVector zc = z.max(-GELU_FLAT).min(GELU_FLAT);
        FloatVector u = zc.abs().mul(INV_SQRT2);
        FloatVector gauss = exp(u.mul(u).neg());
        return zc.mul(gauss.mul(INV_SQRT_2PI)).add(normalCdf(zc, gauss, u));
    }

    /** ½·z·(1 + tanh(k·(z + c·z³))). */
    static FloatVector geluTanh(FloatVector z) {
        FloatVector zc = z.max(-GELU_FLAT).min(GELU_FLAT);
        FloatVector inner = zc.mul(zc).fma(GELU_C, 1f).mul(zc).mul(GELU_K);
        return tanh(inner).add(1f).mul(z.max(-GELU_FLAT)).mul(0.5f);
    }

    /** ½·(1 + t) + ½·z·(1 − t²)·k·(1 + 3c·z²), t = tanh(k·(z + c·z³)). */
    static FloatVector geluTanhPrime(FloatVector z) {
        FloatVector zc = z.max(-GELU_FLAT).min(GELU_FLAT), z2 = zc.mul(zc);
        FloatVector t = tanh(z2.fma(GELU_C, 1f).mul(zc).mul(GELU_K));
        FloatVector dInner = z2.fma(3f * GELU_C, 1f).mul(GELU_K);
        return t.add(1f).mul(0.5f).add(t.mul(t).neg().add(1f).mul(dInner).mul(zc).mul(0.5f));
    }

    /** σ(z) = 1/(1 + e^(−z)). */
    static FloatVector sigmoid(FloatVector z) {
        return V_ONE.div(exp(z.neg()).add(1f));
    }

    /** SiLU: z·σ(z). */
    static FloatVector silu(FloatVector z) {
        FloatVector zc = z.max(-SILU_FLAT);
        return zc.mul(sigmoid(zc));
    }

    /** SiLU's derivative σ(z)·(1 + z·(1 − σ(z))). */
    static FloatVector siluPrime(FloatVector z) {
        FloatVector zc = z.max(-SILU_FLAT).min(SILU_FLAT);
        FloatVector s = sigmoid(zc);
        return V_ONE.sub(s).fma(zc, V_ONE).mul(s);
    }
}
