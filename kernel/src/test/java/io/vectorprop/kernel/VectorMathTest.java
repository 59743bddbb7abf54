package io.vectorprop.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * VectorMath's clamps: compare-and-blend gives exactly the values of max/min, NaN, ±0 and ±∞ included;
 * and its scalar exp gives the vector exp's bits.
 */
class VectorMathTest {
    @Test
    void blendClampsEqualMaxMinBitForBit() {
        var s = VectorMath.S;
        float[] special = {Float.NaN, -0f, 0f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -87.3365447504f, 88.3762626647949f,
                -88f, 89f, -1e-30f, 1e-30f, Float.MIN_VALUE, -Float.MAX_VALUE, Float.MAX_VALUE};
        Random rnd = new Random(1);
        float[] x = new float[s.length()];
        for (int round = 0; round < 20_000; round++) {
            for (int i = 0; i < x.length; i++) {
                x[i] = round < special.length ? special[(round + i) % special.length]
                        : (float) (rnd.nextGaussian() * (round % 3 == 0 ? 200 : 30));
            }
            FloatVector v = FloatVector.fromArray(s, x, 0);
            float lo = -87.3365447504f, hi = 88.3762626647949f;
            float[] blend = VectorMath.atMost(VectorMath.atLeast(v, lo), hi).toArray(), maxMin = v.max(lo).min(hi).toArray();
            float[] exp = VectorMath.exp(v).toArray(), ref = VectorMath.expInRange(v.max(lo).min(hi)).toArray();
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(maxMin[i]), Float.floatToRawIntBits(blend[i]), "clamp of " + x[i]);
                assertEquals(Float.floatToRawIntBits(ref[i]), Float.floatToRawIntBits(exp[i]), "exp of " + x[i]);
                assertEquals(Float.floatToRawIntBits(exp[i]), Float.floatToRawIntBits(VectorMath.exp(x[i])), "scalar exp of " + x[i]);
            }
        }
    }
}
