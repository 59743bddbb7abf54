package io.vectorprop.kernel;

import java.lang.foreign.Arena;
import java.util.Random;

/** Helpers for kernel tests: random matrices, strided views, comparisons with stated tolerances. */
public final class TestData {
    /** Sizes around every vector-length and tile boundary (1, 2, 3 lanes; 15–17 and 31–33 around 16 and 32; …). */
    public static final int[] ODD_SIZES = {1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 100, 127, 129, 255, 257};

    private TestData() {}

    /** A rows×cols matrix of uniform values in [-1, 1); when {@code strided}, a view at (1, 3) inside a larger matrix. */
    public static Matrix random(Arena arena, Random rnd, int rows, int cols, boolean strided) {
        Matrix m = strided
                ? Matrix.allocate(arena, rows + 2, cols + 5, cols + 7).view(1, 3, rows, cols)
                : Matrix.allocate(arena, rows, cols);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                m.set(r, c, rnd.nextFloat() * 2 - 1);
            }
        }
        return m;
    }

    /** A copy with the same shape and the same kind of layout (strided or not). */
    public static Matrix copy(Arena arena, Matrix src, boolean strided) {
        Matrix m = strided
                ? Matrix.allocate(arena, src.rows() + 2, src.cols() + 5, src.cols() + 7).view(1, 3, src.rows(), src.cols())
                : Matrix.allocate(arena, src.rows(), src.cols());
        m.copyFrom(src);
        return m;
    }

    public static float maxAbs(Matrix m) {
        float max = 0;
        for (float v : m.toArray()) max = Math.max(max, Math.abs(v));
        return max;
    }

    /** Fails unless |expected − actual| ≤ tol element by element (NaN must match NaN). */
    public static void assertClose(Matrix expected, Matrix actual, double tol, String what) {
        float[] e = expected.toArray(), a = actual.toArray();
        for (int i = 0; i < e.length; i++) {
            boolean ok = e[i] == a[i] || (Float.isNaN(e[i]) ? Float.isNaN(a[i]) : Math.abs(e[i] - a[i]) <= tol);
            if (!ok) {
                throw new AssertionError(what + ": element " + (i / expected.cols()) + "," + (i % expected.cols())
                        + " of " + expected.shape() + " expected " + e[i] + " got " + a[i] + " (tolerance " + tol + ")");
            }
        }
    }

    /** Relative-plus-absolute closeness for element-wise results: |e − a| ≤ tol·(1 + |e|). */
    public static void assertCloseRel(Matrix expected, Matrix actual, double tol, String what) {
        float[] e = expected.toArray(), a = actual.toArray();
        for (int i = 0; i < e.length; i++) {
            boolean ok = e[i] == a[i]
                    || (Float.isNaN(e[i]) ? Float.isNaN(a[i]) : Math.abs(e[i] - a[i]) <= tol * (1 + Math.abs(e[i])));
            if (!ok) {
                throw new AssertionError(what + ": element " + i + " of " + expected.shape() + " expected " + e[i]
                        + " got " + a[i] + " (tolerance " + tol + "·(1+|e|))");
            }
        }
    }
}
