package io.vectorprop.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link DoubleActivations#erf} against Python's {@code math.erf} and {@code math.erfc} (the C library's,
 * within an ulp), to 1e-15, on both of its branches (the series below 1.5, the continued
 * fraction from 1.5), at the boundary, in the tail (where 1 − erf must keep its relative precision), for
 * negative arguments and at NaN and ±∞.
 */
class DoubleActivationsTest {
    /** x, math.erf(x), math.erfc(x) (Python 3.11). */
    private static final double[][] PYTHON = {
            {0.0, 0.0, 1.0},
            {0.001, 0.0011283787909692365, 0.9988716212090307},
            {0.1, 0.1124629160182849, 0.8875370839817152},
            {0.5, 0.5204998778130465, 0.4795001221869535},
            {1.0, 0.8427007929497149, 0.15729920705028513},
            {1.499, 0.9659860376518566, 0.03401396234814331},
            {1.5, 0.9661051464753108, 0.033894853524689274},
            {1.501, 0.9662238985078079, 0.0337761014921921},
            {2.0, 0.9953222650189527, 0.004677734981047265},
            {2.5, 0.999593047982555, 0.0004069520174449589},
            {2.9, 0.9999589021219005, 4.109787809945886e-05},
            {2.999, 0.9999777698314002, 2.2230168599834058e-05},
            {3.0, 0.9999779095030014, 2.2090496998585438e-05},
            {3.001, 0.9999780483390822, 2.19516609177373e-05},
            {3.5, 0.9999992569016276, 7.430983723414128e-07},
            {4.0, 0.9999999845827421, 1.541725790028002e-08},
            {4.5, 0.9999999998033839, 1.9661604415428873e-10},
            {5.0, 0.9999999999984626, 1.5374597944280351e-12},
            {5.5, 0.9999999999999927, 7.357847917974398e-15},
            {6.0, 1.0, 2.1519736712498916e-17}};

    @Test
    void erfMatchesTheCLibraryOnBothBranchesAndInTheTail() {
        for (double[] row : PYTHON) {
            double x = row[0], erf = row[1], erfc = row[2];
            assertEquals(erf, DoubleActivations.erf(x), 1e-15, "erf(" + x + ")");
            assertEquals(-erf, DoubleActivations.erf(-x), 1e-15, "erf(" + -x + ") is odd");
            if (x >= 1) {
                // 1 − erf from the continued fraction keeps its absolute accuracy; a wrong term of the
                // fraction would be off by far more.
                double tail = 1 - DoubleActivations.erf(x);
                assertEquals(erfc, tail, 1e-15, "1 − erf(" + x + ")");
            }
        }
        assertTrue(Double.isNaN(DoubleActivations.erf(Double.NaN)));
        assertEquals(1.0, DoubleActivations.erf(Double.POSITIVE_INFINITY));
        assertEquals(-1.0, DoubleActivations.erf(Double.NEGATIVE_INFINITY));
        assertEquals(1.0, DoubleActivations.erf(40), "far in the tail");
    }
}
