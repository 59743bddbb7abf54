package io.vectorprop.kernel;

import static io.vectorprop.kernel.TestData.ODD_SIZES;
import static io.vectorprop.kernel.TestData.assertClose;
import static io.vectorprop.kernel.TestData.assertCloseRel;
import static io.vectorprop.kernel.TestData.copy;
import static io.vectorprop.kernel.TestData.maxAbs;
import static io.vectorprop.kernel.TestData.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * Every Vector API kernel against the scalar reference on the odd sizes of {@link TestData#ODD_SIZES}, on
 * contiguous and on strided, offset views.
 *
 * <p>(The GEMM's tests: gemm.GemmMatchesScalarTest.) Element-wise kernels: {@code |e − a| ≤ tol·(1 + |e|)} with tol 1e-6 for arithmetic and 4e-6 where
 * exp/log are involved (SVML and {@code Math.exp} differ by a few ulps).
 */
class SimdMatchesScalarTest {
    static final Kernels SIMD = Kernels.get();
    static final Kernels SCALAR = Kernels.scalar();

    // ------------------------------------------------------------ element-wise

    enum Op { HADAMARD, SUBTRACT, ACTIVATE, BACKWARD, SOFTMAX, ADD_BIAS, COLUMN_SUMS, AXPY, SCALE, LOSS, LOSS_GRADIENT,
        OUTPUT_DELTA, ARGMAX, MOMENTUM, NESTEROV, ADAM }

    /** Every element-wise activation (all but softmax), so a new one is tested here without editing this file. */
    static final Activation[] ELEMENTWISE = java.util.Arrays.stream(Activation.values()).filter(Activation::isElementwise)
            .toArray(Activation[]::new);

    /** Runs {@code op} with both implementations on the same random data and compares. */
    static void checkOp(Op op, int rows, int cols, boolean strided, long seed) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(seed);
            Matrix x = random(arena, rnd, rows, cols, strided), y = random(arena, rnd, rows, cols, strided);
            scaleBy(x, 4f);                                   // activations see [-4, 4)
            Activation act = ELEMENTWISE[(int) Math.floorMod(seed, ELEMENTWISE.length)];
            Loss loss = Loss.values()[(int) Math.floorMod(seed, Loss.values().length)];
            Matrix[] out = new Matrix[2];
            double[] scalarResult = new double[2];
            int[][] idx = new int[2][rows];
            for (int impl = 0; impl < 2; impl++) {
                Kernels k = impl == 0 ? SCALAR : SIMD;
                Matrix o = copy(arena, y, strided);
                switch (op) {
                    case HADAMARD -> k.hadamard(x, y, o);
                    case SUBTRACT -> k.subtract(x, y, o);
                    case ACTIVATE -> k.activate(act, x, o);
                    case BACKWARD -> k.activationBackward(act, x, y, o);
                    case SOFTMAX -> k.softmax(x, o);
                    case ADD_BIAS -> k.addBias(o, x.rows(0, 1));
                    case COLUMN_SUMS -> {
                        o = copy(arena, y.rows(0, 1), strided);
                        k.columnSums(0.5f, x, rows % 2 == 0 ? 0f : 1.5f, o);
                    }
                    case AXPY -> k.axpy(-1.25f, x, o);
                    case SCALE -> k.scale(0.3f, o);
                    case LOSS -> {
                        Matrix probs = copy(arena, x, strided);
                        k.activate(Activation.SIGMOID, x, probs);
                        Matrix targets = copy(arena, y, strided);
                        SCALAR.activate(Activation.SIGMOID, y, targets);
                        scalarResult[impl] = k.loss(loss, probs, targets);
                    }
                    case LOSS_GRADIENT -> {
                        Matrix probs = copy(arena, x, strided);
                        SCALAR.activate(Activation.SIGMOID, x, probs);
                        k.lossGradient(loss, probs, y, o);
                    }
                    case OUTPUT_DELTA -> {
                        Matrix probs = copy(arena, x, strided);
                        SCALAR.activate(Activation.SIGMOID, x, probs);
                        k.outputDelta(Loss.QUADRATIC, Activation.SIGMOID, x, probs, y, o);
                    }
                    case ARGMAX -> k.argmax(x, idx[impl]);
                    case MOMENTUM, NESTEROV, ADAM -> {
                        Matrix theta = Matrix.allocate(arena, rows, cols), g = Matrix.allocate(arena, rows, cols);
                        Matrix s1 = Matrix.allocate(arena, rows, cols), s2 = Matrix.allocate(arena, rows, cols);
                        Matrix mask = Matrix.allocate(arena, rows, cols);
                        theta.copyFrom(x);
                        g.copyFrom(y);
                        s2.copyFrom(x);
                        k.scale(0f, s2);
                        mask.fill(1f);
                        for (int t = 1; t <= 3; t++) {
                            if (op == Op.ADAM) {
                                k.adamStep(theta, g, s1, s2, mask, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
                            } else {
                                k.momentumStep(theta, g, s1, mask, 0.1f, 0.9f, 0.01f, op == Op.NESTEROV);
                            }
                        }
                        o = theta;
                    }
                }
                out[impl] = o;
            }
            String what = op + " " + act + " " + loss + " " + rows + "x" + cols + (strided ? " strided" : "");
            switch (op) {
                case LOSS -> assertEquals(scalarResult[0], scalarResult[1], 1e-5 * (1 + Math.abs(scalarResult[0])), what);
                case ARGMAX -> assertArrayEquals(idx[0], idx[1], what);
                case ACTIVATE, BACKWARD, SOFTMAX, LOSS_GRADIENT, OUTPUT_DELTA, ADAM -> assertCloseRel(out[0], out[1], 4e-6, what);
                default -> assertCloseRel(out[0], out[1], 1e-6 * (op == Op.COLUMN_SUMS ? rows : 1), what);
            }
        }
    }

    static void scaleBy(Matrix m, float s) {
        SCALAR.scale(s, m);
    }

    @Test
    void everyElementwiseOpOnOddSizes() {
        int seed = 0;
        for (Op op : Op.values()) {
            for (int n : ODD_SIZES) {
                for (boolean strided : new boolean[] {false, true}) {
                    checkOp(op, 1 + seed % 3, n, strided, seed++);
                }
            }
            checkOp(op, 2, 1_000, false, seed++);
        }
    }

    @Test
    void activationsOnEveryFunctionAndExtremes() {
        try (Arena arena = Arena.ofConfined()) {
            float[] vals = {-100f, -20f, -9.5f, -1e-4f, -1e-8f, 0f, 1e-8f, 1e-4f, 0.5f, 9.5f, 20f, 100f,
                    Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -3f, 3f, 0.25f};
            Matrix z = Matrix.of(arena, 1, vals.length, vals);
            Matrix g = Matrix.allocate(arena, 1, vals.length);
            g.fill(1.5f);
            for (Activation f : ELEMENTWISE) {
                Matrix e = Matrix.allocate(arena, 1, vals.length), a = Matrix.allocate(arena, 1, vals.length);
                SCALAR.activate(f, z, e);
                SIMD.activate(f, z, a);
                assertCloseRel(e, a, 4e-6, "activate " + f);
                if (f == Activation.TANH) {                   // small |z| must stay accurate relative to z
                    assertEquals(1e-4f, a.get(0, 7), 1e-10f, "tanh(1e-4)");
                }
                SCALAR.activationBackward(f, z, g, e);
                SIMD.activationBackward(f, z, g, a);
                assertCloseRel(e, a, 4e-6, "backward " + f);
            }
        }
    }

    /**
     * Adam's contract for subnormal floats (Kernels.adamStep): a gradient, m or v below Float.MIN_NORMAL is
     * taken and stored as 0, so with subnormal gradients and moments the moments come out exactly 0 and θ
     * keeps its bits, in the vector body and the scalar tail alike (37 elements), in both implementations.
     */
    @Test
    void adamFlushesSubnormalGradientsAndMoments() {
        int n = 37;
        float[] start = new float[n], tiny = new float[n];
        for (int i = 0; i < n; i++) {
            start[i] = 1f + i;
            tiny[i] = (i % 2 == 0 ? 1 : -1) * Float.MIN_NORMAL * (i + 1) / 64f;     // subnormal, both signs
        }
        for (Kernels k : new Kernels[] {SCALAR, SIMD}) {
            try (Arena arena = Arena.ofConfined()) {
                Matrix theta = Matrix.of(arena, 1, n, start), g = Matrix.of(arena, 1, n, tiny);
                Matrix m = Matrix.of(arena, 1, n, tiny), v = Matrix.of(arena, 1, n, tiny);
                for (int i = 0; i < n; i++) v.set(0, i, Math.abs(tiny[i]));
                Matrix mask = Matrix.allocate(arena, 1, n);
                k.adamStep(theta, g, m, v, mask, 0.01f, 0.9f, 0.999f, 1e-8f, 0f, 5);
                assertArrayEquals(new float[n], m.toArray(), 0f, k.getClass().getSimpleName() + ": m");
                assertArrayEquals(new float[n], v.toArray(), 0f, k.getClass().getSimpleName() + ": v");
                assertArrayEquals(start, theta.toArray(), 0f, k.getClass().getSimpleName() + ": θ");
            }
        }
    }

    /**
     * With weight decay λ = 0 the momentum and Adam updates do not read the decay mask (Kernels.momentumStep,
     * Kernels.adamStep): a mask of NaN must give the bits a mask of zeros gives, vector body and scalar tail
     * (37 elements), both implementations. A kernel that still multiplied the mask by λ would turn every θ
     * into NaN (NaN · 0 is NaN).
     */
    @Test
    void zeroWeightDecayReadsNoMask() {
        int n = 37;
        float[] start = new float[n], grad = new float[n], nan = new float[n];
        for (int i = 0; i < n; i++) {
            start[i] = 0.5f - i * 0.03f;
            grad[i] = (i % 3 - 1) * 0.2f + 0.01f * i;
            nan[i] = Float.NaN;
        }
        for (Kernels k : new Kernels[] {SCALAR, SIMD}) {
            for (boolean adam : new boolean[] {false, true}) {
                float[][] theta = new float[2][];
                for (int run = 0; run < 2; run++) {
                    try (Arena arena = Arena.ofConfined()) {
                        Matrix th = Matrix.of(arena, 1, n, start), g = Matrix.of(arena, 1, n, grad);
                        Matrix s1 = Matrix.allocate(arena, 1, n), s2 = Matrix.allocate(arena, 1, n);
                        Matrix mask = run == 0 ? Matrix.allocate(arena, 1, n) : Matrix.of(arena, 1, n, nan);
                        for (int t = 1; t <= 2; t++) {
                            if (adam) k.adamStep(th, g, s1, s2, mask, 0.01f, 0.9f, 0.999f, 1e-8f, 0f, t);
                            else k.momentumStep(th, g, s1, mask, 0.1f, 0.9f, 0f, t == 2);
                        }
                        theta[run] = th.toArray();
                    }
                }
                assertArrayEquals(theta[0], theta[1], 0f, k.getClass().getSimpleName() + (adam ? " adam" : " momentum"));
            }
        }
    }
}
