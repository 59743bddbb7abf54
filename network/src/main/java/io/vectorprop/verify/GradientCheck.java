package io.vectorprop.verify;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Workspace;

/**
 * Checks backpropagation against central finite differences. For each activation × loss pair, a
 * small random network (5-4-3, batch 4) computes its analytic gradients with the kernels; then every
 * parameter θᵢ is perturbed by ±h in a plain double-precision re-implementation of the forward pass
 * and loss, giving {@code nᵢ = (C(θᵢ+h) − C(θᵢ−h)) / 2h}. The error measure is
 * {@code |aᵢ − nᵢ| / max(|aᵢ|, |nᵢ|, 1e-4)}: relative for gradients above 1e-4, absolute below
 * (float analytic gradients carry ~1e-8 absolute rounding noise). Step {@code h = 1e-4}. Cases that
 * put a ReLU-type unit within {@link #KINK_MARGIN} of its kink are drawn again.
 */
public final class GradientCheck {
    public static final double STEP = 1e-4;
    public static final double FLOOR = 1e-4;
    static final int[] SIZES = {5, 4, 3};
    public static final int BATCH = 4;

    /** One activation × loss combination. */
    public record Case(String activation, String output, String loss, int parameters, double maxRelativeError) {}

    /** All cases and the worst error. */
    public record Result(double maxRelativeError, double step, List<Case> cases) {}

    private GradientCheck() {}

    /** Runs every element-wise hidden activation with every loss. */
    public static Result run(Kernels kernels, long seed) {
        return run(kernels, seed, 0f);
    }

    /**
     * {@link #run(Kernels, long)}, with inverted dropout of probability {@code dropout} (masks fixed)
     * on the hidden layers of {@link #SIZES_DROPOUT} networks when it is above 0.
     */
    public static Result run(Kernels kernels, long seed, float dropout) {
        List<Case> cases = new ArrayList<>();
        double worst = 0;
        for (Activation f : Activation.values()) {
            if (!f.isElementwise()) continue;               // softmax is an output, fused with its loss
            for (Loss loss : Loss.values()) {
                Case c = dropout > 0 ? checkWithDropout(Architecture.of(SIZES_DROPOUT, f, loss), kernels, seed++, dropout)
                        : check(Architecture.of(SIZES, f, loss), kernels, seed++);
                cases.add(c);
                worst = Math.max(worst, c.maxRelativeError());
            }
        }
        return new Result(worst, STEP, cases);
    }

    /** Two hidden layers, so that dropout acts on a layer whose error BP2 passes down. */
    static final int[] SIZES_DROPOUT = {5, 4, 4, 3};

    /**
     * Smallest |z| allowed at a ReLU-type unit: central differences across the kink at 0 are
     * meaningless, so a random case that puts some z closer than this to 0 is drawn again.
     */
    static final double KINK_MARGIN = 1e-2;

    /** The worst relative error over all parameters of one architecture. */
    public static Case check(Architecture arch, Kernels kernels, long seed) {
        return checkWithDropout(arch, kernels, seed, 0f);
    }

    /**
     * {@link #check} with inverted dropout of probability {@code p} on the hidden layers, the masks
     * drawn once from {@code seed} and fixed: the network computes with them in its workspace, the
     * double-precision reference multiplies the same hidden activations by the same masks, so the
     * check covers dropout's forward and its factor in BP2.
     */
    public static Case checkWithDropout(Architecture arch, Kernels kernels, long seed, float p) {
        return redrawing(arch, a -> Network.create(a, kernels), seed, p);
    }

    /** Seeds of redrawn cases are {@code seed + REDRAW_SEED_STRIDE·attempt} (a prime, so attempts do not repeat other seeds' draws). */
    static final long REDRAW_SEED_STRIDE = 7919L;
    /** Redraws allowed before a case with a unit near a kink is accepted anyway (its error may then be large). */
    static final int MAX_REDRAWS = 100;

    /**
     * {@link #check} for networks made by {@code factory} (a test can hand in one whose backward pass
     * is broken, and see the check fail).
     */
    public static Case check(Architecture arch, java.util.function.Function<Architecture, Network> factory, long seed) {
        return redrawing(arch, factory, seed, 0f);
    }

    /** Draws cases until none has a ReLU-type unit near its kink (or the redraws run out). */
    private static Case redrawing(Architecture arch, java.util.function.Function<Architecture, Network> factory, long seed,
                                  float p) {
        for (int attempt = 0; ; attempt++) {
            Case c = check(arch, factory, seed + REDRAW_SEED_STRIDE * attempt, attempt < MAX_REDRAWS, p);
            if (c != null) return c;
        }
    }

    private static Case check(Architecture arch, java.util.function.Function<Architecture, Network> factory, long seed,
                              boolean mayRedraw, float p) {
        Random rnd = new Random(seed);
        int in = arch.inputs(), out = arch.outputs();
        float[] x = new float[BATCH * in], y = new float[BATCH * out];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian());
        for (int r = 0; r < BATCH; r++) {
            int hot = rnd.nextInt(out);
            for (int j = 0; j < out; j++) {
                y[r * out + j] = switch (arch.loss()) {
                    case SOFTMAX_CROSS_ENTROPY -> j == hot ? 1f : 0f;
                    case BINARY_CROSS_ENTROPY -> rnd.nextBoolean() ? 1f : 0f;
                    case QUADRATIC -> rnd.nextFloat();
                };
            }
        }
        float[][] masks = p > 0 ? masks(arch, p, rnd) : null;
        try (Network net = factory.apply(arch); Workspace ws = net.newWorkspace(BATCH)) {
            net.initialize(Init.XAVIER, seed);
            if (masks != null) {
                ws.setDropout(true);
                for (int l = 1; l < arch.layers(); l++) ws.dropoutMask(l).copyFrom(masks[l]);
            }
            for (int l = 0; l < arch.layers(); l++) {        // non-zero biases exercise BP3
                float[] b = new float[arch.size(l + 1)];
                for (int i = 0; i < b.length; i++) b[i] = (float) (rnd.nextGaussian() * 0.3);
                net.bias(l).copyFrom(b);
            }
            ws.x().copyFrom(x);
            ws.y().copyFrom(y);
            net.forward(ws);
            net.backward(ws);
            double[][] w = new double[arch.layers()][], b = new double[arch.layers()][];
            for (int l = 0; l < arch.layers(); l++) {
                w[l] = toDouble(net.weight(l).toArray());
                b[l] = toDouble(net.bias(l).toArray());
            }
            if (mayRedraw && minAbsKinkInput(arch, w, b, x, masks) < KINK_MARGIN) return null;
            double worst = 0;
            for (int l = 0; l < arch.layers(); l++) {
                float[] gw = net.weightGradient(l).toArray(), gb = net.biasGradient(l).toArray();
                for (int i = 0; i < w[l].length; i++) worst = Math.max(worst, error(gw[i], numeric(arch, w, b, w[l], i, x, y, masks)));
                for (int i = 0; i < b[l].length; i++) worst = Math.max(worst, error(gb[i], numeric(arch, w, b, b[l], i, x, y, masks)));
            }
            return new Case(arch.hidden().id(), arch.output().id(), arch.loss().id(), (int) net.parameterCount(), worst);
        }
    }

    private static double error(double analytic, double numeric) {
        return Math.abs(analytic - numeric) / Math.max(FLOOR, Math.max(Math.abs(analytic), Math.abs(numeric)));
    }

    /** Inverted-dropout masks per hidden layer (BATCH × units): 0 with probability p, else 1/(1 − p). */
    private static float[][] masks(Architecture arch, float p, Random rnd) {
        float[][] m = new float[arch.layers()][];
        for (int l = 1; l < arch.layers(); l++) {
            m[l] = new float[BATCH * arch.size(l)];
            for (int i = 0; i < m[l].length; i++) m[l][i] = rnd.nextFloat() < p ? 0f : 1f / (1f - p);
        }
        return m;
    }

    private static double numeric(Architecture arch, double[][] w, double[][] b, double[] tensor, int i, float[] x, float[] y,
                                  float[][] masks) {
        double saved = tensor[i];
        tensor[i] = saved + STEP;
        double plus = loss(arch, w, b, x, y, masks);
        tensor[i] = saved - STEP;
        double minus = loss(arch, w, b, x, y, masks);
        tensor[i] = saved;
        return (plus - minus) / (2 * STEP);
    }

    /** The batch-mean loss in double precision, written independently of the kernels. */
    public static double loss(Architecture arch, double[][] w, double[][] b, float[] x, float[] y) {
        return loss(arch, w, b, x, y, null);
    }

    private static double loss(Architecture arch, double[][] w, double[][] b, float[] x, float[] y, float[][] masks) {
        int out = arch.outputs();
        double total = 0;
        for (int r = 0; r < BATCH; r++) {
            double[] a = forward(arch, w, b, x, r, null, masks);
            for (int j = 0; j < out; j++) {
                double t = y[r * out + j], o = a[j];
                total += switch (arch.loss()) {
                    case QUADRATIC -> 0.5 * (o - t) * (o - t);
                    case BINARY_CROSS_ENTROPY -> -(t * Math.log(o) + (1 - t) * Math.log(1 - o));
                    case SOFTMAX_CROSS_ENTROPY -> -t * Math.log(o);
                };
            }
        }
        return total / BATCH;
    }

    /**
     * The network's output for sample r, in double precision. When {@code minKink} is not null,
     * {@code minKink[0]} is lowered to the smallest |z| seen at a ReLU-type unit.
     */
    private static double[] forward(Architecture arch, double[][] w, double[][] b, float[] x, int r, double[] minKink,
                                    float[][] masks) {
        int in = arch.inputs();
        double[] a = new double[in];
        for (int j = 0; j < in; j++) a[j] = x[r * in + j];
        for (int l = 0; l < arch.layers(); l++) {
            int n = arch.size(l + 1), m = arch.size(l);
            Activation f = arch.activation(l);
            double[] z = new double[n];
            for (int j = 0; j < n; j++) {
                double s = b[l][j];
                for (int k = 0; k < m; k++) s += w[l][j * m + k] * a[k];
                z[j] = s;
                if (minKink != null && (f == Activation.RELU || f == Activation.LEAKY_RELU)) {
                    minKink[0] = Math.min(minKink[0], Math.abs(s));
                }
            }
            a = activate(f, z);
            if (masks != null && l + 1 < arch.layers()) {
                for (int j = 0; j < n; j++) a[j] *= masks[l + 1][r * n + j];   // inverted dropout, mask fixed
            }
        }
        return a;
    }

    /** The smallest |z| over all units with a ReLU-type activation and all samples (∞ when there are none). */
    public static double minAbsKinkInput(Architecture arch, double[][] w, double[][] b, float[] x) {
        return minAbsKinkInput(arch, w, b, x, null);
    }

    private static double minAbsKinkInput(Architecture arch, double[][] w, double[][] b, float[] x, float[][] masks) {
        double[] min = {Double.POSITIVE_INFINITY};
        for (int r = 0; r < BATCH; r++) forward(arch, w, b, x, r, min, masks);
        return min[0];
    }

    private static double[] activate(Activation f, double[] z) {
        double[] a = new double[z.length];
        if (f == Activation.SOFTMAX) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double v : z) max = Math.max(max, v);
            for (int j = 0; j < z.length; j++) sum += a[j] = Math.exp(z[j] - max);
            for (int j = 0; j < z.length; j++) a[j] /= sum;
            return a;
        }
        for (int j = 0; j < z.length; j++) {
            double v = z[j];
            a[j] = switch (f) {
                case IDENTITY -> v;
                case SIGMOID -> 1 / (1 + Math.exp(-v));
                case TANH -> Math.tanh(v);
                case RELU -> Math.max(v, 0);
                case LEAKY_RELU -> v > 0 ? v : Activation.LEAKY_SLOPE * v;
                case SOFTMAX -> throw new AssertionError();
            };
        }
        return a;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
