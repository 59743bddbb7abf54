package io.vectorprop.network;

import java.lang.foreign.Arena;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Standardization;

/**
 * A {@link Standardization} as the kernels apply it: the rows −μ and 1/σ, in the owner's arena, and
 * {@code x = (x − μ) ⊙ (1/σ)} as one broadcast add and one column scaling. {@link Network} and
 * {@link Predictor} each hold one, allocated once.
 */
final class StandardizationRows {
    private final Matrix negMean, scale;

    StandardizationRows(Arena arena, int features) {
        negMean = Matrix.allocate(arena, 1, features);
        scale = Matrix.allocate(arena, 1, features);
    }

    /** Takes the values of {@code s} (its feature count must be this one's). */
    StandardizationRows set(Standardization s) {
        float[] m = s.mean();
        for (int i = 0; i < m.length; i++) m[i] = -m[i];
        negMean.copyFrom(m);
        scale.copyFrom(s.scale());
        return this;
    }

    /** {@code x = (x − μ) ⊙ (1/σ)} in place, x being rows × features. */
    void apply(Kernels k, Matrix x) {
        k.addBias(x, negMean);
        k.scaleColumns(x, scale);
    }
}
