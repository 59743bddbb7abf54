package io.vectorprop.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Kernels;

/**
 * Mazur's worked example against an independent hand derivation in double precision (the chain rule
 * written out per weight, as in his post), and against his published figures.
 */
class MazurTest {
    static double sigma(double z) { return 1 / (1 + Math.exp(-z)); }

    /** One full step by hand: returns {E_before, w1..w8 after}; w is updated in place. */
    static double[] handStep(double[] w) {
        double i1 = 0.05, i2 = 0.10, t1 = 0.01, t2 = 0.99, b1 = 0.35, b2 = 0.60, eta = 0.5;
        double h1 = sigma(w[0] * i1 + w[1] * i2 + b1), h2 = sigma(w[2] * i1 + w[3] * i2 + b1);
        double o1 = sigma(w[4] * h1 + w[5] * h2 + b2), o2 = sigma(w[6] * h1 + w[7] * h2 + b2);
        double e = 0.5 * (t1 - o1) * (t1 - o1) + 0.5 * (t2 - o2) * (t2 - o2);
        double d1 = (o1 - t1) * o1 * (1 - o1), d2 = (o2 - t2) * o2 * (1 - o2);      // ∂E/∂net_o
        double dh1 = (d1 * w[4] + d2 * w[6]) * h1 * (1 - h1);                       // with the original w5, w7
        double dh2 = (d1 * w[5] + d2 * w[7]) * h2 * (1 - h2);
        double[] grad = {dh1 * i1, dh1 * i2, dh2 * i1, dh2 * i2, d1 * h1, d1 * h2, d2 * h1, d2 * h2};
        for (int i = 0; i < 8; i++) w[i] -= eta * grad[i];
        return new double[] {e};
    }

    @Test
    void matchesTheHandDerivationAndThePublishedNumbers() {
        double[] w = {0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55};
        double initial = handStep(w)[0];
        MazurCommand.Result r = MazurCommand.run(10000, Kernels.get());
        assertEquals(initial, r.initialError(), 1e-7);
        assertEquals(0.298371109, r.initialError(), 1e-7);                      // Mazur's post
        for (int i = 0; i < 8; i++) assertEquals(w[i], r.weights()[i], 1e-7, "w" + (i + 1));
        assertEquals(0.35891648, r.weights()[4], 1e-7);                         // published w5+
        assertEquals(0.149780716, r.weights()[0], 1e-7);                        // published w1+
        for (int it = 1; it < 10000; it++) handStep(w);
        double[] finalE = {0};
        double[] copy = w.clone();
        finalE[0] = handStep(copy)[0];                                          // error after 10000 updates
        assertEquals(finalE[0], r.finalError(), 1e-7);
        assertEquals(0.0000351085, r.finalError(), 2e-8);                       // Mazur's post: 0.0000351085
    }
}
