package io.vectorprop.kernel.gemm;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.packed.PackedDense;
import io.vectorprop.kernel.packed.PackedWeights;

import static io.vectorprop.kernel.TestData.assertClose;
import static io.vectorprop.kernel.TestData.maxAbs;
import static io.vectorprop.kernel.TestData.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PackedDense#forward}: {@code out = f(x·Wᵀ + 1·bᵀ)} with W packed once, against the scalar
 * reference's unfused sequence (gemm NT, addBias, activate) for every activation and both
 * implementations; with a zero bias, bit for bit against the SIMD kernels' gemm where it takes the
 * packed path (the same sums in the same order); out never read; the packed copy independent of W.
 */
class PackedDenseTest {
    static final Kernels SIMD = Kernels.get(), SCALAR = Kernels.scalar();

    /**
     * Rows × outputs × inputs: single rows, the tile's remainders (4-row and one-vector slivers), odd
     * sizes, several k panels and B panels, the 784-256-128-10 layers at 64 rows.
     */
    static final int[][] SHAPES = {{1, 1, 1}, {1, 256, 784}, {2, 10, 128}, {5, 17, 3}, {6, 64, 16}, {7, 65, 33},
            {13, 129, 100}, {16, 40, 70}, {64, 256, 784}, {64, 128, 256}, {64, 10, 128}, {130, 257, 129}, {257, 1100, 600}};

    @Test
    void matchesTheReferenceForEveryActivation() {
        for (Kernels kernels : new Kernels[] {SIMD, SCALAR}) {
            for (Activation f : Activation.values()) {
                for (int[] s : SHAPES) {
                    check(kernels, f, s[0], s[1], s[2], (s[0] + s[1]) % 2 == 1);
                }
            }
        }
    }

    private static void check(Kernels kernels, Activation f, int m, int n, int k, boolean strided) {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(m * 31L + n * 7L + k + f.ordinal());
            Matrix x = random(arena, rnd, m, k, strided), w = random(arena, rnd, n, k, strided);
            Matrix bias = random(arena, rnd, 1, n, false);
            Matrix expected = Matrix.allocate(arena, m, n), actual = nans(arena, m, n);
            SCALAR.gemm(Transpose.N, Transpose.T, 1f, x, w, 0f, expected);
            SCALAR.addBias(expected, bias);
            // The GEMM's bound (GemmMatchesScalarTest) for Z; every activation here has a slope of at most 1.
            double tol = 1e-6 * k * maxAbs(x) * maxAbs(w) + 1e-6 * maxAbs(expected) + 1e-6;
            SCALAR.activate(f, expected, expected);
            PackedWeights packed = PackedDense.pack(kernels, w);
            w.copyFrom(new float[n * k]);                     // the copy must not depend on W any more
            PackedDense.forward(kernels, x, packed, bias, f, actual);
            assertClose(expected, actual, tol, kernels.name() + " denseForward " + f + " " + m + "x" + n + "x" + k
                    + (strided ? " strided" : ""));
        }
    }

    /**
     * With a zero bias, the same sums as gemm NT's packed path bit for bit, then the same activation
     * pass. (With a bias the accumulators start from it, so it is added first instead of last: equal to
     * the unfused sequence within rounding, checked above.)
     */
    @Test
    void sumsAreBitIdenticalToThePackedPathOfGemm() {
        int checked = 0;
        for (Activation f : Activation.values()) {
            for (int[] s : SHAPES) {
                int m = s[0], n = s[1], k = s[2];
                if (GemmPath.select(Transpose.N, Transpose.T, m, k, 0f) != GemmPath.PACKED) continue;
                try (Arena arena = Arena.ofConfined()) {
                    Random rnd = new Random(m + 1000L * n + k);
                    Matrix x = random(arena, rnd, m, k, false), w = random(arena, rnd, n, k, true);
                    Matrix zeroBias = Matrix.allocate(arena, 1, n);
                    Matrix unfused = Matrix.allocate(arena, m, n), fused = Matrix.allocate(arena, m, n);
                    Kernels one = SIMD.withThreads(1);
                    one.gemm(Transpose.N, Transpose.T, 1f, x, w, 0f, unfused);
                    one.activate(f, unfused, unfused);
                    PackedDense.forward(SIMD, x, PackedDense.pack(SIMD, w), zeroBias, f, fused);
                    assertArrayEquals(unfused.toArray(), fused.toArray(), "denseForward vs gemm NT, activate "
                            + f + " " + m + "x" + n + "x" + k);
                    checked++;
                }
            }
        }
        assertTrue(checked >= 4 * Activation.values().length, "cases on the packed path: " + checked);
    }

    /**
     * Layers packed together into one array (a predictor's, which the SIMD kernels may place on cache lines)
     * give each layer the bits it gets packed alone, for both implementations; the shared array holds at
     * least every layer's floats. The sizes are a 784-256-128-10 network's plus odd ones, so that the whole
     * is large enough to be aligned where {@link PanelBuffers} aligns (CI also runs with it off).
     */
    @Test
    void layersPackedTogetherComputeTheBitsOfLayersPackedAlone() {
        int[][] layers = {{256, 784}, {128, 256}, {10, 128}, {17, 33}, {65, 3}};       // out × in
        for (Kernels kernels : new Kernels[] {SIMD, SCALAR}) {
            try (Arena arena = Arena.ofConfined()) {
                Random rnd = new Random(11);
                java.util.List<Matrix> ws = new java.util.ArrayList<>();
                for (int[] l : layers) ws.add(random(arena, rnd, l[0], l[1], l[1] % 2 == 1));
                java.util.List<PackedWeights> together = PackedDense.pack(kernels, ws);
                long floats = 0;
                for (int l = 0; l < layers.length; l++) {
                    PackedWeights alone = PackedDense.pack(kernels, ws.get(l)), shared = together.get(l);
                    assertEquals(alone.byteSize(), shared.byteSize(), "layer " + l);
                    assertEquals(together.getFirst().bufferBytes(), shared.bufferBytes(), "layer " + l + " shares the array");
                    floats += shared.byteSize() / Float.BYTES;
                    for (int rows : new int[] {1, 7, 64}) {
                        Matrix x = random(arena, rnd, rows, layers[l][1], false), bias = random(arena, rnd, 1, layers[l][0], false);
                        Matrix expected = nans(arena, rows, layers[l][0]), actual = nans(arena, rows, layers[l][0]);
                        PackedDense.forward(kernels, x, alone, bias, Activation.RELU, expected);
                        PackedDense.forward(kernels, x, shared, bias, Activation.RELU, actual);
                        assertArrayEquals(expected.toArray(), actual.toArray(), kernels.name() + " layer " + l + ", " + rows + " rows");
                    }
                }
                assertTrue(together.getFirst().bufferBytes() >= floats * Float.BYTES,
                        together.getFirst().bufferBytes() + " bytes for " + floats + " floats");
            }
        }
    }

    @Test
    void refusesWrongShapesAndAnotherImplementationsPacking() {
        try (Arena arena = Arena.ofConfined()) {
            Random rnd = new Random(1);
            Matrix w = random(arena, rnd, 10, 20, false), bias = Matrix.allocate(arena, 1, 10);
            PackedWeights simdPacked = PackedDense.pack(SIMD, w), scalarPacked = PackedDense.pack(SCALAR, w);
            assertEquals(10, simdPacked.out());
            assertEquals(20, simdPacked.in());
            var e = assertThrows(IllegalArgumentException.class, () -> PackedDense.forward(SIMD, Matrix.allocate(arena, 3, 21),
                    simdPacked, bias, Activation.RELU, Matrix.allocate(arena, 3, 10)));
            assertTrue(e.getMessage().contains("x 3x21") && e.getMessage().contains("W 10x20"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> PackedDense.forward(SIMD, Matrix.allocate(arena, 3, 20),
                    simdPacked, bias, Activation.RELU, Matrix.allocate(arena, 4, 10)));
            e = assertThrows(IllegalArgumentException.class, () -> PackedDense.forward(SIMD, Matrix.allocate(arena, 3, 20),
                    simdPacked, Matrix.allocate(arena, 1, 11), Activation.RELU, Matrix.allocate(arena, 3, 10)));
            assertTrue(e.getMessage().contains("bias 1x11"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> PackedDense.forward(SIMD, Matrix.allocate(arena, 3, 20),
                    scalarPacked, bias, Activation.RELU, Matrix.allocate(arena, 3, 10)));
            assertTrue(e.getMessage().contains("packed by the scalar kernels"), e.getMessage());
        }
    }

    private static Matrix nans(Arena arena, int rows, int cols) {
        float[] fill = new float[rows * cols];
        Arrays.fill(fill, Float.NaN);
        return Matrix.allocate(arena, rows, cols).copyFrom(fill);
    }
}
