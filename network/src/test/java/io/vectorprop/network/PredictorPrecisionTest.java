package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Bf16Weights;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.DoubleActivations;

/** bf16 weights in the predictor: against a double-precision forward pass over the rounded weights. */
class PredictorPrecisionTest {
    /** Forward in double: layers with ≥ 32 outputs use bf16-rounded weights when {@code bf16}. */
    static double[] reference(Network net, float[] x, boolean bf16) {
        Architecture a = net.architecture();
        double[] act = new double[x.length];
        for (int i = 0; i < x.length; i++) act[i] = x[i];
        for (int l = 0; l < a.layers(); l++) {
            Matrix w = net.weight(l), b = net.bias(l);
            int out = a.size(l + 1);
            boolean rounded = bf16 && out >= Predictor.TRANSPOSED_MIN_OUT;
            double[] z = new double[out];
            for (int j = 0; j < out; j++) {
                double s = b.get(0, j);
                for (int k = 0; k < act.length; k++) {
                    float wjk = w.get(j, k);
                    s += act[k] * (rounded ? Bf16Weights.roundToBf16(wjk) : wjk);
                }
                z[j] = s;
            }
            Activation f = a.activation(l);
            if (f == Activation.SOFTMAX) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (double v : z) max = Math.max(max, v);
                for (int j = 0; j < out; j++) sum += z[j] = Math.exp(z[j] - max);
                for (int j = 0; j < out; j++) z[j] /= sum;
            } else {
                for (int j = 0; j < out; j++) {
                    z[j] = io.vectorprop.model.DoubleActivations.apply(f, z[j]);
                }
            }
            act = z;
        }
        return act;
    }

    @Test
    void bf16PredictionsFollowTheRoundedWeightsAndBatchesMatchSingles() {
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            Architecture arch = Architecture.of(new int[] {50, 70, 33, 4}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
            try (Network net = Network.create(arch, k); Arena arena = Arena.ofConfined()) {
                net.initialize(Init.HE, 9);
                Random rnd = new Random(5);
                int rows = 7;
                float[] x = new float[rows * 50];
                for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
                try (Predictor fp32 = Predictor.of(net); Predictor bf16 = Predictor.of(net, Predictor.Precision.BF16)) {
                    assertEquals(Predictor.Precision.BF16, bf16.precision());
                    assertTrue(bf16.parameterBytes() < fp32.parameterBytes() / 2,      // fp32 keeps Wᵀ and the packed W of wide layers
                            "bf16 " + bf16.parameterBytes() + " bytes vs fp32 " + fp32.parameterBytes());
                    Matrix in = Matrix.of(arena, rows, 50, x), batchOut = Matrix.allocate(arena, rows, 4);
                    bf16.predict(in, batchOut);
                    float[] out = new float[4], fp = new float[4];
                    double maxChange = 0;
                    for (int r = 0; r < rows; r++) {
                        float[] xr = java.util.Arrays.copyOfRange(x, r * 50, r * 50 + 50);
                        bf16.predict(xr, out);
                        fp32.predict(xr, fp);
                        double[] expected = reference(net, xr, true);
                        for (int j = 0; j < 4; j++) {
                            assertEquals(expected[j], out[j], 2e-6, k.name() + " row " + r + " output " + j);
                            maxChange = Math.max(maxChange, Math.abs(out[j] - fp[j]));
                        }
                        assertArrayEquals(out, java.util.Arrays.copyOfRange(batchOut.toArray(), r * 4, r * 4 + 4),
                                "a row gives the same bits alone and in a batch");
                    }
                    assertTrue(maxChange > 0, "bf16 rounding must change something");
                }
            }
        }
    }

    /** fp32 single samples (Wᵀ in slivers of {@link Predictor#SLIVER} columns) against the double forward pass, on widths that cut slivers short. */
    @Test
    void fp32SinglesFollowTheDoubleForwardPassAcrossSlivers() {
        int[] sizes = {50, 2 * Predictor.SLIVER + 72, Predictor.SLIVER + 6, 4};   // 3 whole slivers and 8 columns; 1 and 6
        for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
            Architecture arch = Architecture.of(sizes, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
            try (Network net = Network.create(arch, k)) {
                net.initialize(Init.HE, 3);
                try (Predictor p = Predictor.of(net)) {
                    Random rnd = new Random(8);
                    float[] x = new float[50], out = new float[4], again = new float[4];
                    for (int r = 0; r < 5; r++) {
                        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
                        p.predict(x, out);
                        double[] expected = reference(net, x, false);
                        for (int j = 0; j < 4; j++) assertEquals(expected[j], out[j], 1e-5, k.name() + " sample " + r + " output " + j);
                        p.predict(x, again);                   // the next call walks the slivers the other way
                        assertArrayEquals(out, again, k.name() + " sample " + r + ": slivers walked in either order");
                    }
                }
            }
        }
    }
}
