package io.vectorprop.kernel;

import static io.vectorprop.kernel.TestData.assertClose;
import static io.vectorprop.kernel.TestData.random;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * Layer normalization, both implementations: the forward pass against a double-precision computation
 * written here from the definition, the backward pass against central differences of
 * {@code C = Σ w ⊙ layerNorm(x)} (w fixed, so ∂C/∂out = w), on contiguous and strided views.
 */
class LayerNormTest {
    static final Kernels[] BOTH = {Kernels.scalar(), Kernels.get()};
    static final int[] WIDTHS = {1, 2, 3, 7, 16, 17, 33, 64, 100};
    static final float EPS = 1e-5f;

    /** out[r] = (x − μ)/√(σ² + ε)·γ + β in double; stats[r] = {μ, 1/√(σ² + ε)}. */
    static double[][] reference(float[][] x, float[] gamma, float[] beta, double eps) {
        double[][] out = new double[x.length][];
        for (int r = 0; r < x.length; r++) {
            int n = x[r].length;
            double mean = 0, var = 0;
            for (float v : x[r]) mean += v;
            mean /= n;
            for (float v : x[r]) var += (v - mean) * (v - mean);
            var /= n;
            out[r] = new double[n];
            for (int i = 0; i < n; i++) out[r][i] = (x[r][i] - mean) / Math.sqrt(var + eps) * gamma[i] + beta[i];
        }
        return out;
    }

    static float[][] rows(Matrix m) {
        float[][] a = new float[m.rows()][m.cols()];
        for (int r = 0; r < m.rows(); r++) for (int c = 0; c < m.cols(); c++) a[r][c] = m.get(r, c);
        return a;
    }

    @Test
    void forwardMatchesTheDefinition() {
        long seed = 1;
        for (Kernels k : BOTH) {
            for (int n : WIDTHS) {
                for (boolean strided : new boolean[] {false, true}) {
                    try (Arena arena = Arena.ofConfined()) {
                        Random rnd = new Random(seed++);
                        Matrix x = random(arena, rnd, 5, n, strided), gamma = random(arena, rnd, 1, n, false),
                                beta = random(arena, rnd, 1, n, false);
                        for (int c = 0; c < n; c++) x.set(2, c, 100f + x.get(2, c) * 0.5f);    // a large mean: the variance is taken about it
                        double[][] e = reference(rows(x), gamma.toArray(), beta.toArray(), EPS);
                        Matrix out = Matrix.allocate(arena, 5, n), stats = Matrix.allocate(arena, 5, 2);
                        k.layerNorm(x, gamma, beta, EPS, out, stats);
                        Matrix expected = Matrix.allocate(arena, 5, n);
                        for (int r = 0; r < 5; r++) for (int c = 0; c < n; c++) expected.set(r, c, (float) e[r][c]);
                        assertClose(expected, out, 2e-4, k.name() + " layerNorm width " + n + (strided ? " strided" : ""));
                        k.layerNorm(x, gamma, beta, EPS, x, null);                          // in place
                        assertClose(expected, x, 2e-4, k.name() + " in place, width " + n);
                    }
                }
            }
        }
    }

    @Test
    void backwardMatchesCentralDifferences() {
        long seed = 100;
        for (Kernels k : BOTH) {
            for (int n : WIDTHS) {
                try (Arena arena = Arena.ofConfined()) {
                    Random rnd = new Random(seed++);
                    int rows = 4;
                    Matrix x = random(arena, rnd, rows, n, true), gamma = random(arena, rnd, 1, n, false),
                            beta = random(arena, rnd, 1, n, false), w = random(arena, rnd, rows, n, false);
                    Matrix out = Matrix.allocate(arena, rows, n), stats = Matrix.allocate(arena, rows, 2);
                    k.layerNorm(x, gamma, beta, EPS, out, stats);
                    Matrix dx = Matrix.allocate(arena, rows, n), dGamma = Matrix.allocate(arena, 1, n), dBeta = Matrix.allocate(arena, 1, n);
                    float alpha = 0.25f;
                    k.layerNormBackward(x, stats, gamma, w, dx, alpha, dGamma, dBeta);
                    float[][] xs = rows(x), ws = rows(w);
                    float[] g = gamma.toArray(), b = beta.toArray();
                    double h = 1e-3;
                    for (int r = 0; r < rows; r++) {
                        for (int c = 0; c < n; c++) {
                            float saved = xs[r][c];
                            xs[r][c] = (float) (saved + h);
                            double plus = loss(xs, g, b, ws);
                            xs[r][c] = (float) (saved - h);
                            double minus = loss(xs, g, b, ws);
                            xs[r][c] = saved;
                            double numeric = (plus - minus) / ((float) (saved + h) - (float) (saved - h));
                            check(numeric, dx.get(r, c), k.name() + " dx[" + r + "," + c + "] width " + n);
                        }
                    }
                    for (int c = 0; c < n; c++) {
                        for (int which = 0; which < 2; which++) {
                            float[] p = which == 0 ? g : b;
                            float saved = p[c];
                            p[c] = (float) (saved + h);
                            double plus = loss(xs, g, b, ws);
                            p[c] = (float) (saved - h);
                            double minus = loss(xs, g, b, ws);
                            p[c] = saved;
                            double numeric = alpha * (plus - minus) / ((float) (saved + h) - (float) (saved - h));
                            check(numeric, (which == 0 ? dGamma : dBeta).get(0, c), k.name() + (which == 0 ? " dGamma[" : " dBeta[") + c + "]");
                        }
                    }
                    k.layerNormBackward(x, stats, gamma, w, w, alpha, dGamma, dBeta);       // dx over g, in place
                    assertClose(dx, w, 1e-6, k.name() + " backward in place, width " + n);
                }
            }
        }
    }

    private static double loss(float[][] x, float[] gamma, float[] beta, float[][] w) {
        double[][] out = reference(x, gamma, beta, EPS);
        double c = 0;
        for (int r = 0; r < x.length; r++) for (int i = 0; i < out[r].length; i++) c += w[r][i] * out[r][i];
        return c;
    }

    private static void check(double numeric, float analytic, String what) {
        double err = Math.abs(numeric - analytic) / Math.max(1e-2, Math.max(Math.abs(numeric), Math.abs(analytic)));
        if (err > 2e-3) throw new AssertionError(what + ": analytic " + analytic + ", central difference " + numeric);
    }

    @Test
    void errorsNameTheShapes() {
        Kernels k = Kernels.get();
        try (Arena arena = Arena.ofConfined()) {
            Matrix x = Matrix.allocate(arena, 3, 4), g = Matrix.allocate(arena, 1, 5), b = Matrix.allocate(arena, 1, 4);
            var e = assertThrows(IllegalArgumentException.class, () -> k.layerNorm(x, g, b, 1e-5f, x, null));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("gamma 1x5 must be 1x4"), e.getMessage());
            Matrix g4 = Matrix.allocate(arena, 1, 4), stats = Matrix.allocate(arena, 2, 2);
            e = assertThrows(IllegalArgumentException.class, () -> k.layerNorm(x, g4, b, 1e-5f, x, stats));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("stats 2x2 must be 3x2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.layerNorm(x, g4, b, 0f, x, null));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("epsilon 0.0"), e.getMessage());
        }
    }
}
