package io.vectorprop.kernel.gemm;

import static io.vectorprop.kernel.TestData.ODD_SIZES;
import static io.vectorprop.kernel.TestData.assertClose;
import static io.vectorprop.kernel.TestData.copy;
import static io.vectorprop.kernel.TestData.maxAbs;
import static io.vectorprop.kernel.TestData.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * The Vector API GEMM against the scalar reference: every transpose, α and β, odd sizes, every block
 * boundary, every path on its own and through the dispatcher, one and two threads.
 *
 * <p>Tolerance: {@code 1e-6·k·max|A|·max|B|·|α| + 1e-6·|β|·max|C|}. Each of the k products has
 * relative error ≤ 2⁻²⁴ ≈ 6e-8 and the two summation orders differ by at most k roundings of partial
 * sums bounded by k·max|A|·max|B|; for uniform data the observed error is far smaller.
 */
class GemmMatchesScalarTest {
    static final Kernels SIMD = Kernels.get();
    static final Kernels SCALAR = Kernels.scalar();
    static final float[][] ALPHA_BETA = {{1f, 0f}, {1f, 1f}, {-0.75f, 2.5f}, {0f, 0.5f}};

    @Test
    void theSimdImplementationIsTheOneUnderTest() {
        assertEquals("simd", SIMD.name(), "tests must run with --add-modules jdk.incubator.vector");
        int asked = Integer.getInteger("vectorprop.vectorBits", 0);
        int expected = asked == 0 ? jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize() : asked;
        assertEquals(expected, SIMD.status().vectorBits(), "the kernels run at the width -Dvectorprop.vectorBits asks for");
        int vectorsPerRow = Integer.getInteger("vectorprop.gemm.vectorsPerRow", 0);
        if (vectorsPerRow != 0) {
            assertEquals(vectorsPerRow, GemmBlocking.VECTORS_PER_ROW, "the GEMM tile -Dvectorprop.gemm.vectorsPerRow asks for");
        }
        assertEquals(GemmBlocking.VECTORS_PER_ROW * SIMD.status().vectorBits() / Float.SIZE, GemmBlocking.NR, "NR");
    }

    static void checkGemm(Kernels simd, Transpose ta, Transpose tb, int m, int n, int k, float alpha, float beta,
                          boolean strided, long seed) {
        try (Arena arena = simd.threads() > 1 ? Arena.ofShared() : Arena.ofConfined()) {
            Random rnd = new Random(seed);
            Matrix a = ta == Transpose.N ? random(arena, rnd, m, k, strided) : random(arena, rnd, k, m, strided);
            Matrix b = tb == Transpose.N ? random(arena, rnd, k, n, strided) : random(arena, rnd, n, k, strided);
            Matrix c0 = random(arena, rnd, m, n, strided);
            Matrix expected = copy(arena, c0, strided), actual = copy(arena, c0, strided);
            SCALAR.gemm(ta, tb, alpha, a, b, beta, expected);
            simd.gemm(ta, tb, alpha, a, b, beta, actual);
            double tol = 1e-6 * k * maxAbs(a) * maxAbs(b) * Math.abs(alpha) + 1e-6 * Math.abs(beta) * maxAbs(c0) + 1e-7;
            assertClose(expected, actual, tol, "gemm " + ta + tb + " " + m + "x" + n + "x" + k + " α=" + alpha
                    + " β=" + beta + (strided ? " strided" : ""));
        }
    }

    @Test
    void gemmOddSizesAllTransposesAlphaBeta() {
        int cases = 0;
        for (int i = 0; i < ODD_SIZES.length; i++) {
            int m = ODD_SIZES[i], n = ODD_SIZES[(i + 5) % ODD_SIZES.length], k = ODD_SIZES[(i + 11) % ODD_SIZES.length];
            for (Transpose ta : Transpose.values()) {
                for (Transpose tb : Transpose.values()) {
                    float[] ab = ALPHA_BETA[cases % ALPHA_BETA.length];
                    checkGemm(SIMD, ta, tb, m, n, k, ab[0], ab[1], cases % 2 == 1, cases);
                    cases++;
                }
            }
        }
        for (int s : ODD_SIZES) {                     // square, every size, plain NN and α=1, β=0
            checkGemm(SIMD, Transpose.N, Transpose.N, s, s, s, 1f, 0f, false, s);
        }
    }

    @Test
    void gemmCrossesEveryBlockBoundary() {
        // Fixed shapes past the blocking of every CPU we know (MC ≤ 256, KC ≤ 512, NC ≤ 512: GemmBlockingTest),
        // never derived from this machine's: several packed A blocks, accumulation across k panels, several B
        // panels. .ci/run also runs this suite with other CPUs' blockings forced.
        checkGemm(SIMD, Transpose.N, Transpose.T, 520, 35, 1100, 1f, 0.5f, true, 1);
        checkGemm(SIMD, Transpose.T, Transpose.N, 9, 1100, 600, 0.5f, 0f, false, 2);
        // a weight gradient's shape: shallow k (panels wider than NC), A blocks whose last rows are not a
        // multiple of 16 (transposed with the rows they need kept), the last block at A's last column
        checkGemm(SIMD, Transpose.T, Transpose.N, 300, 1100, 40, 0.5f, 1f, false, 3);
        checkGemm(SIMD, Transpose.T, Transpose.N, 300, 1100, 40, -1f, 0.5f, true, 4);
    }

    @Test
    void gemmThreadedMatchesReferenceAndIsDeterministic() {
        Kernels two = SIMD.withThreads(2);
        for (Transpose ta : Transpose.values()) {
            for (Transpose tb : Transpose.values()) {
                checkGemm(two, ta, tb, 130, 257, 129, 1f, 1f, false, 7);   // split by columns
                checkGemm(two, ta, tb, 257, 66, 129, -1f, 0f, true, 8);    // split by rows
            }
        }
        checkGemm(two, Transpose.N, Transpose.T, 16, 257, 784, 1f, 0.5f, false, 9);   // dot-product path (m ≤ dotMaxM), threaded
        checkGemm(two, Transpose.N, Transpose.N, 3, 1029, 700, 1f, 1f, false, 10);    // row path, threaded
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(3);
            Matrix a = random(arena, rnd, 200, 300, false), b = random(arena, rnd, 300, 250, false);
            Matrix c1 = Matrix.allocate(arena, 200, 250), c2 = Matrix.allocate(arena, 200, 250);
            two.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c1);
            two.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c2);
            assertArrayEquals(c1.toArray(), c2.toArray(), "same thread count must give bit-identical results");
        }
    }

    /**
     * Two threads give exactly the single-thread result, on every path. A team (packed: B packed once
     * and shared, rows handed out in chunks) would change bits if a chunk were skipped, computed twice
     * (β ≠ 0) or read from a B panel before it was fully packed; the other paths hand out blocks of
     * columns or rows from the same counter. Shapes: several chunks, k panels and B panels, B read in
     * place (odd stride) and packed, all transposes; the dot-product path, the row path (few rows, and
     * a rank-12 update), and packed products too short for a team (16 rows, split by columns).
     */
    @Test
    void twoThreadsAreBitIdenticalToOne() {
        // Fixed shapes (not derived from this CPU's blocking, so each is large enough to split everywhere).
        int[][] shapes = {{130, 257, 129}, {520, 45, 600}, {64, 784, 256},
                {257, 66, 1100}, {40, 1100, 70}, {16, 1030, 300}, {40, 256, 784}, {24, 256, 784}, {256, 784, 12},
                {301, 790, 10}};   // row path by fours, pairs and an odd last row; columns past the last vector
        Kernels one = SIMD.withThreads(1), two = SIMD.withThreads(2);
        int[] seen = new int[4];                           // team, dot, rows, packed split by columns
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (Transpose ta : Transpose.values()) {
                for (Transpose tb : Transpose.values()) {
                    GemmPath path = GemmPath.select(ta, tb, m, k, 0.75f);
                    boolean team = GemmThreads.byTeam(path, m, 2);
                    assertTrue((long) m * n * k >= 2 * GemmThreads.MIN_FLOPS_PER_THREAD, "shape too small to split");
                    seen[team ? 0 : switch (path) { case DOT_NT -> 1; case ROWS_NN -> 2; case PACKED -> 3; }]++;
                    try (Arena arena = Arena.ofShared()) {
                        Random rnd = new Random(m * 7 + n);
                        boolean strided = (m + n) % 2 == 1;
                        Matrix a = ta == Transpose.N ? random(arena, rnd, m, k, strided) : random(arena, rnd, k, m, strided);
                        Matrix b = tb == Transpose.N ? random(arena, rnd, k, n, strided) : random(arena, rnd, n, k, strided);
                        Matrix c0 = random(arena, rnd, m, n, strided);
                        Matrix c1 = copy(arena, c0, strided), c2 = copy(arena, c0, strided);
                        one.gemm(ta, tb, 0.5f, a, b, 0.75f, c1);
                        two.gemm(ta, tb, 0.5f, a, b, 0.75f, c2);
                        assertArrayEquals(c1.toArray(), c2.toArray(), "gemm " + ta + tb + " " + m + "x" + n + "x" + k
                                + " path " + path + (team ? " (team)" : ""));
                    }
                }
            }
        }
        for (int i = 0; i < seen.length; i++) assertTrue(seen[i] >= 2, "kind " + i + " of split covered " + seen[i] + " times");
    }

    /**
     * A failure in any thread of a threaded product reaches the caller as the original exception, nobody
     * is left waiting at the team's barrier, and the pool works afterwards. The failure is forced with a
     * C whose last rows lie past its segment (built around the checks of Matrix.wrap, which would refuse
     * it): writing them throws IndexOutOfBoundsException in whichever thread computes them.
     */
    @Test
    void aFailingThreadFailsTheProductAndLeavesThePoolUsable() throws Exception {
        var make = Matrix.class.getDeclaredConstructor(java.lang.foreign.MemorySegment.class, long.class, int.class,
                int.class, int.class);
        make.setAccessible(true);
        Kernels two = SIMD.withThreads(2);
        int[][] shapes = {{256, 256, 300}, {40, 256, 784}, {256, 300, 12}};   // team, dot path, row path
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            try (Arena arena = Arena.ofShared()) {
                Random rnd = new Random(5);
                Matrix a = random(arena, rnd, m, k, false);
                Matrix bt = random(arena, rnd, n, k, false), b = random(arena, rnd, k, n, false);
                Matrix c = (Matrix) make.newInstance(arena.allocate((long) (m - 8) * n * Float.BYTES, 64), 0L, m, n, n);
                Transpose tb = k <= 16 ? Transpose.N : Transpose.T;
                float beta = tb == Transpose.N ? 1f : 0f;       // a small k takes the row path when it updates C
                GemmPath path = GemmPath.select(Transpose.N, tb, m, k, beta);
                assertThrows(IndexOutOfBoundsException.class, () -> org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                        java.time.Duration.ofSeconds(20), () -> GemmThreads.run(Transpose.N, tb, 1f, a, tb == Transpose.N ? b : bt,
                                beta, c, null, 2, path)), "path " + path);
            }
            checkGemm(two, Transpose.N, Transpose.T, 130, 257, 129, 1f, 1f, false, 7);   // the pool still works
        }
    }

    /** The layouts of A a path is tested with: the row path also reads a transposed A (the weight gradient Δᵀ·A). */
    static Transpose[] transposesOfA(GemmPath path) {
        return switch (path) {
            case PACKED, DOT_NT -> new Transpose[] {Transpose.N};
            case ROWS_NN -> Transpose.values();
        };
    }

    /** The layout of B a path computes: the dot path reads Bᵀ (NT), the row path B as stored; packed, NT here. */
    static Transpose bLayout(GemmPath path) {
        return switch (path) {
            case PACKED, DOT_NT -> Transpose.T;
            case ROWS_NN -> Transpose.N;
        };
    }

    /** Each GEMM path on its own (whatever the dispatcher would pick), against the reference. */
    @Test
    void everyGemmPathOnItsOwn() {
        int[][] shapes = {{1, 1, 1}, {1, 33, 17}, {3, 7, 31}, {4, 64, 784}, {5, 17, 257}, {9, 63, 65}, {70, 100, 129},
                {256, 784, 1}, {33, 65, 3}, {1, 24, 64}, {10, 40, 48},   // these two: k a multiple of 16 (dotNT's finish8)
                {9, 33, 5}, {7, 50, 10}, {256, 784, 10}, {3, 17, 15},    // the row path at small k: odd rows and columns
                {1, 10, 128}, {2, 10, 64}, {4, 10, 48}, {2, 13, 20}, {5, 9, 33}};   // dot path: last columns by a shifted block
        for (int[] s : shapes) {
            for (GemmPath path : GemmPath.values()) for (Transpose ta : transposesOfA(path)) {
                Transpose tb = bLayout(path);
                try (Arena arena = Arena.ofConfined()) {
                    Random rnd = new Random(s[0] * 31 + path.ordinal() * 2 + ta.ordinal());
                    int m = s[0], n = s[1], k = s[2];
                    Matrix a = ta == Transpose.N ? random(arena, rnd, m, k, true) : random(arena, rnd, k, m, true);
                    Matrix b = tb == Transpose.N ? random(arena, rnd, k, n, true) : random(arena, rnd, n, k, true);
                    Matrix c0 = random(arena, rnd, m, n, true);
                    Matrix expected = copy(arena, c0, true), actual = copy(arena, c0, true);
                    SCALAR.gemm(ta, tb, 0.5f, a, b, 2f, expected);
                    path.compute(ta, tb, 0.5f, a, b, 2f, actual, null, 0, m, 0, n);
                    assertClose(expected, actual, 1e-6 * k * maxAbs(a) * maxAbs(b) + 4e-6 * maxAbs(c0) + 1e-7,
                            "path " + path + " " + ta + tb + " " + m + "x" + n + "x" + k);
                }
            }
        }
    }

    /**
     * The row path when B's rows are exactly four vectors (a predictor's slivers of Wᵀ, contiguous): its
     * loop then steps through B with a constant stride. Against the reference, one row and three (a pair
     * and a single row), A as stored and transposed, with β ≠ 0.
     */
    @Test
    void rowPathOnBFourVectorsWide() {
        int n = 4 * SIMD.status().vectorBits() / Float.SIZE;
        for (int m : new int[] {1, 3}) for (int k : new int[] {1, 33, 200}) for (Transpose ta : Transpose.values()) {
            try (Arena arena = Arena.ofConfined()) {
                Random rnd = new Random(m * 1000L + k * 2 + ta.ordinal());
                Matrix a = ta == Transpose.N ? random(arena, rnd, m, k, true) : random(arena, rnd, k, m, true);
                Matrix b = random(arena, rnd, k, n, false);
                Matrix c0 = random(arena, rnd, m, n, true);
                Matrix expected = copy(arena, c0, true), actual = copy(arena, c0, true);
                SCALAR.gemm(ta, Transpose.N, 0.5f, a, b, 2f, expected);
                GemmPath.ROWS_NN.compute(ta, Transpose.N, 0.5f, a, b, 2f, actual, null, 0, m, 0, n);
                assertClose(expected, actual, 1e-6 * k * maxAbs(a) * maxAbs(b) + 4e-6 * maxAbs(c0) + 1e-7,
                        "row path " + ta + "N " + m + "x" + n + "x" + k + ", B contiguous");
            }
        }
    }

    /**
     * The dot-product path sums every output in the same order whichever block computes it when k is a
     * multiple of the vector length (no scalar tail): each row of an m-row product (4×4, 2×8 and 1×8
     * blocks, the last columns by a block shifted left, or 1×4 and single columns when n is below a
     * block's width) equals that row computed alone (1×8 blocks reduced in registers at 16 lanes) bit for bit. A sample's scores do not depend on the batch it
     * comes in. Fails if a block's lane sums leave the tree of Lanes.sum or land in the wrong column.
     */
    @Test
    void dotPathRowsDoNotDependOnTheRowsBesideThem() {
        for (int k : new int[] {64, 784}) for (int n : new int[] {7, 10, 31}) for (int m = 1; m <= 11; m++) {
            try (Arena arena = Arena.ofConfined()) {
                Random rnd = new Random(k * 16L + m * 64L + n);
                Matrix a = random(arena, rnd, m, k, true), b = random(arena, rnd, n, k, true);
                Matrix c0 = random(arena, rnd, m, n, true), all = copy(arena, c0, true);
                GemmPath.DOT_NT.compute(Transpose.N, Transpose.T, 0.5f, a, b, 2f, all, null, 0, m, 0, n);
                for (int i = 0; i < m; i++) {
                    Matrix alone = copy(arena, c0.view(i, 0, 1, n), true);
                    GemmPath.DOT_NT.compute(Transpose.N, Transpose.T, 0.5f, a.view(i, 0, 1, k), b, 2f, alone, null, 0, 1, 0, n);
                    assertArrayEquals(all.view(i, 0, 1, n).toArray(), alone.toArray(),
                            "row " + i + " of a " + m + "x" + n + "x" + k + " product against the row alone");
                }
            }
        }
    }

    /**
     * With β = 0, C is only written (Kernels.gemm's contract): a C full of NaN gives the same result as a
     * C of zeros, on every path, through the dispatcher and each path on its own. Fails if any kernel
     * computes β·C (0·NaN = NaN) instead of ignoring C.
     */
    @Test
    void betaZeroNeverReadsC() {
        int[][] shapes = {{70, 100, 129}, {4, 64, 784}, {9, 63, 65}, {33, 50, 10}, {7, 40, 15}, {256, 300, 3}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            // null: through the dispatcher (Kernels.gemm); else each path on its own.
            List<GemmPath> paths = new ArrayList<>(Arrays.asList(GemmPath.values()));
            paths.addFirst(null);
            for (GemmPath path : paths) for (Transpose ta : path == null ? new Transpose[] {k == 10 ? Transpose.T : Transpose.N}
                    : transposesOfA(path)) {
                Transpose tb = path == null ? (k <= 16 ? Transpose.N : Transpose.T) : bLayout(path);
                try (Arena arena = Arena.ofConfined()) {
                    Random rnd = new Random(m * 13 + (path == null ? 0 : 1 + path.ordinal() * 2 + ta.ordinal()));
                    Matrix a = ta == Transpose.N ? random(arena, rnd, m, k, true) : random(arena, rnd, k, m, true);
                    Matrix b = tb == Transpose.N ? random(arena, rnd, k, n, true) : random(arena, rnd, n, k, true);
                    Matrix expected = Matrix.allocate(arena, m, n), actual = Matrix.allocate(arena, m, n, n + 3);
                    actual.fill(Float.NaN);
                    SCALAR.gemm(ta, tb, 0.5f, a, b, 0f, expected);
                    if (path == null) SIMD.gemm(ta, tb, 0.5f, a, b, 0f, actual);
                    else path.compute(ta, tb, 0.5f, a, b, 0f, actual, null, 0, m, 0, n);
                    assertClose(expected, actual, 1e-6 * k * maxAbs(a) * maxAbs(b) + 1e-7,
                            "β = 0 over a C of NaN, path " + path + " " + ta + tb + " " + m + "x" + n + "x" + k);
                }
            }
        }
    }

    /**
     * {@code Kernels.linear} (Z = x·Wᵀ + 1·bᵀ, the bias where the packed path's accumulators start)
     * against the scalar reference's gemm then addBias, on shapes that take every path (the dispatcher
     * decides), strided views, one and two threads — the two bit-identical — and with Z full of NaN
     * (it is only written); where the product is packed, bit-identical to the predictor's packed layer
     * (the same sums from the bias, not the product plus the bias afterwards).
     */
    @Test
    void linearMatchesProductThenBias() {
        int[][] shapes = {{1, 256, 784}, {10, 256, 784}, {64, 256, 784}, {256, 128, 256}, {256, 10, 128}, {130, 257, 129},
                {7, 50, 10}, {300, 1100, 40}};
        Kernels two = SIMD.withThreads(2);
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            boolean packed = GemmPath.select(Transpose.N, Transpose.T, m, k, 0f) == GemmPath.PACKED;
            try (Arena arena = Arena.ofShared()) {
                Random rnd = new Random(m * 7L + n);
                Matrix x = random(arena, rnd, m, k, m % 2 == 0), w = random(arena, rnd, n, k, true), bias = random(arena, rnd, 1, n, false);
                Matrix expected = Matrix.allocate(arena, m, n), one = Matrix.allocate(arena, m, n, n + 5), both = Matrix.allocate(arena, m, n);
                SCALAR.gemm(Transpose.N, Transpose.T, 1f, x, w, 0f, expected);
                SCALAR.addBias(expected, bias);
                one.fill(Float.NaN);
                both.fill(Float.NaN);
                SIMD.linear(x, w, bias, one);
                two.linear(x, w, bias, both);
                String what = "linear " + m + "x" + n + "x" + k + (packed ? " (packed)" : "");
                assertClose(expected, one, 1e-6 * k * maxAbs(x) * maxAbs(w) + 1e-6 * maxAbs(bias) + 1e-7, what);
                assertArrayEquals(one.toArray(), both.toArray(), what + ": two threads differ from one");
                if (packed) {                      // the bias in the accumulators: the predictor's packed layer's bits
                    Matrix predictor = Matrix.allocate(arena, m, n);
                    int[] start = new int[1];
                    float[] packedW = Gemm.packWeights(new Matrix[] {w}, start);
                    Gemm.denseForward(x, packedW, start[0], bias, predictor);
                    assertArrayEquals(predictor.toArray(), one.toArray(), what + ": differs from Gemm.denseForward");
                }
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            Matrix x = Matrix.allocate(arena, 4, 8), w = Matrix.allocate(arena, 3, 8), z = Matrix.allocate(arena, 4, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SIMD.linear(x, w, Matrix.allocate(arena, 1, 4), z));
            assertTrue(e.getMessage().contains("bias 1x4"), e.getMessage());
        }
    }

    /** 400 generated cases (seeded: CI sees the same ones every run; a failure names its seed). */
    @Test
    void generatedShapesTransposesAndStrides() {
        Random draw = new Random(20261128);
        for (int tries = 0; tries < 400; tries++) {
            int m = 1 + draw.nextInt(70), n = 1 + draw.nextInt(70), k = 1 + draw.nextInt(90);
            Transpose ta = draw.nextBoolean() ? Transpose.T : Transpose.N, tb = draw.nextBoolean() ? Transpose.T : Transpose.N;
            float[] ab = ALPHA_BETA[draw.nextInt(ALPHA_BETA.length)];
            checkGemm(SIMD, ta, tb, m, n, k, ab[0], ab[1], draw.nextBoolean(), draw.nextLong());
        }
    }
}
