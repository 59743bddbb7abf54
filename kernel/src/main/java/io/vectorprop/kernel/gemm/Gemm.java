package io.vectorprop.kernel.gemm;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.kernel.internal.RowPass;

/**
 * The GEMM of the Vector API kernels, the one way into this package (which the module does not export):
 * {@code C = α·op(A)·op(B) + β·C} for operands {@code Kernels.gemm} has checked, a dense layer's
 * {@code Z = x·Wᵀ + 1·bᵀ} with the bias in the accumulators ({@link #linear}), and a predictor's dense
 * layer with its weights packed once.
 *
 * <p>How a product is computed: {@link GemmPath#select} picks the path from its shape and β — the packed BLIS
 * loop nest ({@link PackedLoops}, with {@link GemmBlocking}'s block sizes, {@link GemmPacking} and
 * {@link GemmMicroKernel}), dot products of rows for NT products with few rows ({@link DotProducts}), or
 * combinations of rows of B for NN products with few rows or a short k ({@link RowCombinations}) — and
 * {@link GemmThreads} splits large products between the caller's thread and a pool of workers. Every
 * element of C is computed by the same operations whichever thread computes it: results do not depend
 * on the thread count.
 */
public final class Gemm {
    private Gemm() {}

    /** {@code C = α·op(A)·op(B) + β·C} on up to {@code threads} threads; the operands are checked. */
    public static void multiply(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c,
                                int threads) {
        GemmThreads.run(ta, tb, alpha, a, b, beta, c, null, threads, GemmPath.select(ta, tb, c.rows(), ta.cols(a), beta));
    }

    /**
     * A dense layer's {@code Z = x·Wᵀ + 1·bᵀ} on up to {@code threads} threads, the bias where the packed
     * path's accumulators start (so Z is written once, not written and read back by a separate bias
     * pass); each element is {@code b + Σ} of the products {@code multiply(N, T, 1, x, W, 0, Z)} sums.
     * Returns false, computing nothing, when the product does not take the packed path: the caller then
     * multiplies and adds the bias itself. The operands are checked.
     */
    public static boolean linear(Matrix x, Matrix w, Matrix bias, Matrix z, int threads) {
        GemmPath path = GemmPath.select(Transpose.N, Transpose.T, z.rows(), x.cols(), 0f);
        if (path != GemmPath.PACKED) return false;
        GemmThreads.run(Transpose.N, Transpose.T, 1f, x, w, 0f, z, bias, threads, path);
        return true;
    }

    /**
     * An element-wise pass over the rows of {@code x} (and of {@code y}, {@code z}, the same shape; z may
     * be null) on up to {@code threads} threads, each thread the rows it would compute in a product of as
     * many rows; see {@link GemmThreads#rows}.
     */
    public static void rows(Matrix x, Matrix y, Matrix z, int threads, RowPass pass) {
        GemmThreads.rows(x, y, z, threads, pass);
    }

    /**
     * A pass over elements [0, n) of flat arrays on up to {@code threads} threads, cut at multiples of
     * {@code align}; {@code sharable}: whether other threads may touch the operands. See {@link GemmThreads#ranges}.
     */
    public static void ranges(int n, int align, boolean sharable, int threads, RowPass pass) {
        GemmThreads.ranges(n, align, sharable, threads, pass);
    }

    /**
     * Each W (out × in) of {@code ws} packed once as the B operand of {@code x·Wᵀ}, all into the one buffer
     * returned, W number l from {@code starts[l]}, for {@link #denseForward} (see {@link PackedLoops#packWeights}).
     */
    public static float[] packWeights(Matrix[] ws, int[] starts) {
        if (starts.length != ws.length) {
            throw new IllegalArgumentException("packWeights: " + ws.length + " weight matrices but " + starts.length + " starts");
        }
        return PackedLoops.packWeights(ws, starts);
    }

    /** Outputs per sliver of packed weights: the micro-tile's NR. */
    public static int sliverWidth() {
        return GemmBlocking.NR;
    }

    /** {@code Z = x·Wᵀ + 1·bᵀ} with W from {@link #packWeights} at {@code start}, on the calling thread; the operands are checked. */
    public static void denseForward(Matrix x, float[] packedW, int start, Matrix bias, Matrix out) {
        PackedLoops.denseForward(x, packedW, start, bias, out);
    }

    /** The blocking and tile in one line, for the kernels' description. */
    public static String describe() {
        return GemmBlocking.describe();
    }
}
