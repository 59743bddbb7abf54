package io.vectorprop.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The scalar reference against small cases computed by hand. */
class ScalarReferenceTest {
    private final Arena arena = Arena.ofConfined();
    private final Kernels k = Kernels.scalar();

    @AfterEach
    void close() {
        arena.close();
    }

    @Test
    void gemmTwoByThreeTimesThreeByFour() {
        Matrix a = Matrix.of(arena, 2, 3, 1, 2, 3, 4, 5, 6);
        Matrix b = Matrix.of(arena, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        Matrix c = Matrix.allocate(arena, 2, 4);
        k.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c);
        // Row 0: 1·[1 2 3 4] + 2·[5 6 7 8] + 3·[9 10 11 12] = [38 44 50 56]
        // Row 1: 4·[1 2 3 4] + 5·[5 6 7 8] + 6·[9 10 11 12] = [83 98 113 128]
        assertArrayEquals(new float[] {38, 44, 50, 56, 83, 98, 113, 128}, c.toArray());
    }

    @Test
    void gemmTransposesAlphaBeta() {
        Matrix at = Matrix.of(arena, 3, 2, 1, 4, 2, 5, 3, 6);              // Aᵀ of the case above
        Matrix bt = Matrix.of(arena, 4, 3, 1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12);
        Matrix c = Matrix.of(arena, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1);
        k.gemm(Transpose.T, Transpose.T, 2f, at, bt, -1f, c);            // 2·A·B − 1
        assertArrayEquals(new float[] {75, 87, 99, 111, 165, 195, 225, 255}, c.toArray());
    }

    @Test
    void gemmWithZeroBetaIgnoresNaNInC() {
        Matrix a = Matrix.of(arena, 1, 1, 3);
        Matrix b = Matrix.of(arena, 1, 1, 4);
        Matrix c = Matrix.of(arena, 1, 1, Float.NaN);
        k.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c);
        assertEquals(12f, c.get(0, 0));
    }

    @Test
    void softmaxRow() {
        Matrix z = Matrix.of(arena, 1, 3, 1, 2, 3);
        Matrix out = Matrix.allocate(arena, 1, 3);
        k.softmax(z, out);
        double s = Math.exp(1) + Math.exp(2) + Math.exp(3);       // 30.1928…
        assertArrayEquals(new float[] {(float) (Math.exp(1) / s), (float) (Math.exp(2) / s), (float) (Math.exp(3) / s)},
                out.toArray(), 1e-7f);                            // 0.0900306, 0.2447285, 0.6652410
        Matrix big = Matrix.of(arena, 1, 2, 1000, 1000);              // stable: no overflow
        k.softmax(big, big);
        assertArrayEquals(new float[] {0.5f, 0.5f}, big.toArray());
    }

    @Test
    void activationsAndDerivativesAtKnownPoints() {
        assertEquals(0.5f, ScalarKernels.f(Activation.SIGMOID, 0f));
        assertEquals(0.7310586f, ScalarKernels.f(Activation.SIGMOID, 1f), 1e-7f);
        assertEquals(0.25f, ScalarKernels.fPrime(Activation.SIGMOID, 0f));
        assertEquals(0.19661193f, ScalarKernels.fPrime(Activation.SIGMOID, 1f), 1e-7f); // σ(1)(1−σ(1))
        assertEquals(0.7615942f, ScalarKernels.f(Activation.TANH, 1f), 1e-7f);
        assertEquals(0.41997434f, ScalarKernels.fPrime(Activation.TANH, 1f), 1e-7f);    // 1 − tanh²(1)
        assertEquals(1f, ScalarKernels.fPrime(Activation.TANH, 0f));
        assertEquals(0f, ScalarKernels.f(Activation.RELU, -2f));
        assertEquals(3f, ScalarKernels.f(Activation.RELU, 3f));
        assertEquals(0f, ScalarKernels.fPrime(Activation.RELU, -2f));
        assertEquals(1f, ScalarKernels.fPrime(Activation.RELU, 3f));
        assertEquals(-0.02f, ScalarKernels.f(Activation.LEAKY_RELU, -2f), 1e-9f);
        assertEquals(0.01f, ScalarKernels.fPrime(Activation.LEAKY_RELU, -2f));
        assertEquals(-5f, ScalarKernels.f(Activation.IDENTITY, -5f));
        assertEquals(1f, ScalarKernels.fPrime(Activation.IDENTITY, -5f));
    }

    /** PyTorch 1.13 in float64: {@code F.gelu}, {@code F.gelu(approximate='tanh')}, {@code F.silu} and their autograd derivatives. */
    @Test
    void geluAndSiluMatchPyTorch() {
        float[] z = {-3f, -1f, -0.5f, 0f, 0.5f, 1f, 2f, 4f};
        double[][] torch = {
                {-0.004049694, -0.158655254, -0.154268769, 0.0, 0.345731231, 0.841344746, 1.954499736, 3.999873315},
                {-0.011945647, -0.083315471, 0.132504875, 0.5, 0.867495125, 1.083315471, 1.085231801, 1.00050365},
                {-0.003637392, -0.158808009, -0.15428599, 0.0, 0.34571401, 0.841191991, 1.954597694, 3.999929754},
                {-0.011584167, -0.082964084, 0.132630096, 0.5, 0.867369904, 1.082964084, 1.086099257, 1.000335123},
                {-0.14227762, -0.268941421, -0.188770334, 0.0, 0.311229666, 0.731058579, 1.761594156, 3.92805516},
                {-0.088104106, 0.072329488, 0.260038813, 0.5, 0.739961187, 0.927670512, 1.090784249, 1.052664615}};
        Activation[] fs = {Activation.GELU, Activation.GELU_TANH, Activation.SILU};
        for (int a = 0; a < fs.length; a++) {
            for (int i = 0; i < z.length; i++) {
                assertEquals(torch[2 * a][i], ScalarKernels.f(fs[a], z[i]), 4e-7, fs[a] + "(" + z[i] + ")");
                assertEquals(torch[2 * a + 1][i], ScalarKernels.fPrime(fs[a], z[i]), 4e-7, fs[a] + "'(" + z[i] + ")");
            }
            assertEquals(0f, ScalarKernels.f(fs[a], Float.NEGATIVE_INFINITY), 1e-6f, fs[a] + "(-inf) is the limit");
            assertEquals(Float.POSITIVE_INFINITY, ScalarKernels.f(fs[a], Float.POSITIVE_INFINITY), fs[a] + "(inf)");
            assertEquals(0f, ScalarKernels.fPrime(fs[a], Float.NEGATIVE_INFINITY), 1e-6f, fs[a] + "'(-inf)");
            assertEquals(1f, ScalarKernels.fPrime(fs[a], Float.POSITIVE_INFINITY), 1e-6f, fs[a] + "'(inf)");
            assertTrue(Float.isNaN(ScalarKernels.f(fs[a], Float.NaN)), fs[a] + "(NaN)");
        }
    }

    @Test
    void fusedBackwardIsGradientTimesDerivative() {
        Matrix z = Matrix.of(arena, 1, 3, -1, 0, 2);
        Matrix g = Matrix.of(arena, 1, 3, 10, 10, 10);
        Matrix out = Matrix.allocate(arena, 1, 3);
        k.activationBackward(Activation.RELU, z, g, out);
        assertArrayEquals(new float[] {0, 0, 10}, out.toArray());
        k.activationBackward(Activation.SIGMOID, z, g, out);
        assertArrayEquals(new float[] {1.9661193f, 2.5f, 1.0499358f}, out.toArray(), 1e-6f);
    }

    @Test
    void lossesByHand() {
        Matrix a = Matrix.of(arena, 2, 2, 0.75f, 0.25f, 0.5f, 0.5f);
        Matrix y = Matrix.of(arena, 2, 2, 1, 0, 0, 1);
        // quadratic: (½(0.0625+0.0625) + ½(0.25+0.25)) / 2 = (0.0625 + 0.25) / 2
        assertEquals(0.15625, k.loss(Loss.QUADRATIC, a, y), 1e-7);
        // softmax CE: (−ln 0.75 − ln 0.5) / 2
        assertEquals((-Math.log(0.75) - Math.log(0.5)) / 2, k.loss(Loss.SOFTMAX_CROSS_ENTROPY, a, y), 1e-7);
        // BCE: (−ln 0.75 − ln 0.75 − ln 0.5 − ln 0.5) / 2
        assertEquals(-(Math.log(0.75) + Math.log(0.5)), k.loss(Loss.BINARY_CROSS_ENTROPY, a, y), 1e-6);
        Matrix g = Matrix.allocate(arena, 2, 2);
        k.lossGradient(Loss.QUADRATIC, a, y, g);
        assertArrayEquals(new float[] {-0.25f, 0.25f, 0.5f, -0.5f}, g.toArray());
        k.lossGradient(Loss.BINARY_CROSS_ENTROPY, a, y, g);     // (a−y)/(a(1−a))
        assertArrayEquals(new float[] {-0.25f / 0.1875f, 0.25f / 0.1875f, 2f, -2f}, g.toArray(), 1e-6f);
        k.lossGradient(Loss.SOFTMAX_CROSS_ENTROPY, a, y, g);    // −y/a
        assertArrayEquals(new float[] {-1f / 0.75f, 0f, 0f, -2f}, g.toArray(), 1e-6f);
    }

    @Test
    void outputDeltaSoftmaxIsAMinusY() {
        Matrix z = Matrix.of(arena, 1, 2, 0, 0);
        Matrix a = Matrix.of(arena, 1, 2, 0.5f, 0.5f);
        Matrix y = Matrix.of(arena, 1, 2, 0, 1);
        Matrix d = Matrix.allocate(arena, 1, 2);
        k.outputDelta(Loss.SOFTMAX_CROSS_ENTROPY, Activation.SOFTMAX, z, a, y, d);
        assertArrayEquals(new float[] {0.5f, -0.5f}, d.toArray());
        k.outputDelta(Loss.QUADRATIC, Activation.SIGMOID, z, a, y, d);   // (a−y)·σ'(0) = ±0.5·0.25
        assertArrayEquals(new float[] {0.125f, -0.125f}, d.toArray());
    }

    @Test
    void biasColumnSumsAxpyScaleArgmax() {
        Matrix z = Matrix.of(arena, 2, 3, 1, 2, 3, 4, 5, 6);
        k.addBias(z, Matrix.of(arena, 1, 3, 10, 20, 30));
        assertArrayEquals(new float[] {11, 22, 33, 14, 25, 36}, z.toArray());
        Matrix sums = Matrix.of(arena, 1, 3, 1, 1, 1);
        k.columnSums(0.5f, z, 2f, sums);
        assertArrayEquals(new float[] {14.5f, 25.5f, 36.5f}, sums.toArray());
        Matrix y = Matrix.of(arena, 1, 3, 1, 1, 1);
        k.axpy(-2f, Matrix.of(arena, 1, 3, 1, 2, 3), y);
        assertArrayEquals(new float[] {-1, -3, -5}, y.toArray());
        k.scale(-1f, y);
        assertArrayEquals(new float[] {1, 3, 5}, y.toArray());
        int[] idx = new int[2];
        k.argmax(Matrix.of(arena, 2, 3, 1, 9, 9, 7, 3, 5), idx);
        assertArrayEquals(new int[] {1, 0}, idx);
    }

    @Test
    void optimizerStepsByHand() {
        Matrix theta = Matrix.of(arena, 1, 2, 1, 2);
        Matrix grad = Matrix.of(arena, 1, 2, 0.5f, -1);
        Matrix vel = Matrix.of(arena, 1, 2, 0.1f, 0);
        Matrix mask = Matrix.of(arena, 1, 2, 1, 0);
        // g' = [0.5 + 0.1·1, −1]; v = 0.9·[0.1, 0] − 0.1·g' = [0.03, 0.1]; θ = [1.03, 2.1]
        k.momentumStep(theta, grad, vel, mask, 0.1f, 0.9f, 0.1f, false);
        assertArrayEquals(new float[] {0.03f, 0.1f}, vel.toArray(), 1e-7f);
        assertArrayEquals(new float[] {1.03f, 2.1f}, theta.toArray(), 1e-6f);
        Matrix m = Matrix.allocate(arena, 1, 2), v = Matrix.allocate(arena, 1, 2);
        theta.copyFrom(new float[] {1, 2});
        // step 1: m̂ = g, v̂ = g², θ −= lr·g/(|g| + ε) ≈ θ − lr·sign(g)
        k.adamStep(theta, grad, m, v, mask, 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 1);
        assertArrayEquals(new float[] {0.99f, 2.01f}, theta.toArray(), 1e-6f);
    }
}
