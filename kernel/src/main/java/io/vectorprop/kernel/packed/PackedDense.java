package io.vectorprop.kernel.packed;

import java.util.List;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.gemm.Gemm;

/**
 * The forward pass of a dense layer with weights packed once, for a predictor (whose weights never
 * change): {@code out = f(x·Wᵀ + 1·bᵀ)}. Not part of the kernel's public contract: the packed layout
 * belongs to the GEMM of one implementation, so this package is exported only to the network module. The
 * Vector API kernels pack W into the micro-kernel's slivers ({@link Gemm#packWeights}) and run the
 * packed GEMM's loops on them, bias in the accumulators; the scalar reference keeps W row-major and
 * sums in plain loops. Results agree with {@code gemm(N, T, 1, x, W, 0, out)}, {@code addBias},
 * {@code activate} within the GEMM's rounding (bit for bit where gemm takes the packed path).
 *
 * <p>Stateless; the packed weights are only read after they are made, so any number of threads may run layers with them at once (each with its own output).
 */
public final class PackedDense {
    private PackedDense() {}

    /** W (out × in, any stride) copied into the layout {@code kernels}' GEMM reads; later changes to w do not reach it. */
    public static PackedWeights pack(Kernels kernels, Matrix w) {
        return pack(kernels, List.of(w)).getFirst();
    }

    /**
     * Each W of {@code ws} (out × in, any stride) copied as by {@link #pack(Kernels, Matrix)}, all into one
     * array: a predictor's layers packed together, so that the Vector API kernels can place every layer's
     * slivers on 64-byte cache lines (which their 512-bit loads need to run at full speed on some cores)
     * at the cost of one lengthened array for the network rather than one per layer. Same results as
     * packing each alone, bit for bit: only where the floats sit differs.
     */
    public static List<PackedWeights> pack(Kernels kernels, List<Matrix> ws) {
        for (int l = 0; l < ws.size(); l++) {
            Matrix w = ws.get(l);
            if (!w.isAlive()) throw new IllegalStateException("packWeights: weights " + l + "'s (" + w.shape() + ") memory has been freed");
        }
        return switch (kernels.name()) {
            case "simd" -> {
                int[] starts = new int[ws.size()];
                float[] data = Gemm.packWeights(ws.toArray(Matrix[]::new), starts);
                PackedWeights[] packed = new PackedWeights[ws.size()];
                for (int l = 0; l < packed.length; l++) {
                    Matrix w = ws.get(l);
                    packed[l] = new PackedWeights(data, starts[l], w.rows(), w.cols(), Gemm.sliverWidth(), kernels.name());
                }
                yield List.of(packed);
            }
            case "scalar" -> {                                   // W row-major, one after the other
                float[] data = new float[Math.toIntExact(ws.stream().mapToLong(Matrix::size).sum())];
                PackedWeights[] packed = new PackedWeights[ws.size()];
                int start = 0;
                for (int l = 0; l < packed.length; l++) {
                    Matrix w = ws.get(l);
                    float[] rows = w.toArray();
                    System.arraycopy(rows, 0, data, start, rows.length);
                    packed[l] = new PackedWeights(data, start, w.rows(), w.cols(), 0, kernels.name());
                    start += rows.length;
                }
                yield List.of(packed);
            }
            default -> throw new IllegalArgumentException("packWeights: unknown kernels " + kernels.name());
        };
    }

    /**
     * {@code out = f(x·Wᵀ + 1·bᵀ)} on the calling thread: x is B × in, the bias 1 × out, out B × out and only
     * written; W packed by {@link #pack} with the same kernels.
     */
    public static void forward(Kernels kernels, Matrix x, PackedWeights w, Matrix bias, Activation f, Matrix out) {
        alive(x);
        alive(bias);
        alive(out);
        if (x.cols() != w.in() || out.cols() != w.out() || out.rows() != x.rows() || bias.rows() != 1 || bias.cols() != w.out()) {
            throw new IllegalArgumentException("denseForward: x " + x.shape() + ", W " + w.out() + "x" + w.in() + ", bias "
                    + bias.shape() + ", out " + out.shape() + ": need x Bx" + w.in() + ", bias 1x" + w.out() + " and out Bx" + w.out());
        }
        if (!w.packedBy().equals(kernels.name())) {
            throw new IllegalArgumentException("denseForward: " + w + " was packed by the " + w.packedBy()
                    + " kernels; these are " + kernels.name() + " (pack it with the kernels that multiply)");
        }
        if (out.overlaps(x) || out.overlaps(bias)) {
            throw new IllegalArgumentException("denseForward: out overlaps " + (out.overlaps(x) ? "x" : "the bias")
                    + "; the output must be separate memory");
        }
        if (w.sliverWidth() > 0) {
            Gemm.denseForward(x, w.data(), w.start(), bias, out);
        } else {
            rowMajor(x, w, bias, out);
        }
        kernels.activate(f, out, out);
    }

    private static void alive(Matrix m) {
        if (!m.isAlive()) throw new IllegalStateException("denseForward: a " + m.shape() + " operand's memory has been freed");
    }

    /** The scalar reference: {@code Z[i, j] = Σ_p x[i, p]·W[j, p] + b[j]}, p in order, W row-major. */
    private static void rowMajor(Matrix x, PackedWeights w, Matrix bias, Matrix z) {
        float[] wr = w.data();
        int in = w.in(), start = w.start();
        for (int i = 0; i < z.rows(); i++) {
            for (int j = 0; j < z.cols(); j++) {
                float sum = 0f;
                for (int p = 0; p < in; p++) sum += x.get(i, p) * wr[start + j * in + p];
                z.set(i, j, sum + bias.get(0, j));
            }
        }
    }
}
