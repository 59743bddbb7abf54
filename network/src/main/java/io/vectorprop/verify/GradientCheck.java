package io.vectorprop.verify;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.model.LayerNorm;
import io.vectorprop.network.Network;
import io.vectorprop.network.Workspace;
import io.vectorprop.model.DoubleActivations;

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

    /**
     * Runs every element-wise hidden activation with every loss, then every activation with each
     * {@link LayerNorm} placement on the two hidden layers of {@link #SIZES_NORM}.
     */
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
        for (LayerNorm norm : LayerNorm.values()) {
            if (norm == LayerNorm.NONE) continue;
            for (Activation f : Activation.values()) {
                if (!f.isElementwise()) continue;
                Architecture arch = Architecture.of(SIZES_NORM, f, Loss.SOFTMAX_CROSS_ENTROPY)
                        .withHiddenActivations(f, Activation.SILU).withLayerNorms(1e-5f, norm, norm);
                Case c = checkWithDropout(arch, kernels, seed++, dropout);
                cases.add(c);
                worst = Math.max(worst, c.maxRelativeError());
            }
        }
        return new Result(worst, STEP, cases);
    }

    /** Two hidden layers, so that dropout acts on a layer whose error BP2 passes down. */
    static final int[] SIZES_DROPOUT = {5, 4, 4, 3};
    /** Two hidden layers with layer norms (the first's error passes down through the second's norm). */
    static final int[] SIZES_NORM = {5, 6, 4, 3};

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

    /**
     * The parameters in double precision, per dense layer: W (out × in, row-major), b, and γ, β of its
     * layer norm (null without one).
     */
    record Params(double[][] w, double[][] b, double[][] gamma, double[][] beta) {
        static Params of(Network net) {
            int n = net.architecture().layers();
            Params p = new Params(new double[n][], new double[n][], new double[n][], new double[n][]);
            for (int l = 0; l < n; l++) {
                p.w[l] = toDouble(net.weight(l).toArray());
                p.b[l] = toDouble(net.bias(l).toArray());
                if (net.architecture().layerNorm(l) != LayerNorm.NONE) {
                    p.gamma[l] = toDouble(net.layerNormScale(l).toArray());
                    p.beta[l] = toDouble(net.layerNormShift(l).toArray());
                }
            }
            return p;
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
            for (int l = 0; l < arch.layers(); l++) {        // non-zero biases exercise BP3; γ ≠ 1, β ≠ 0 the norm's gradients
                float[] b = new float[arch.size(l + 1)];
                for (int i = 0; i < b.length; i++) b[i] = (float) (rnd.nextGaussian() * 0.3);
                net.bias(l).copyFrom(b);
                if (arch.layerNorm(l) != LayerNorm.NONE) {
                    float[] g = new float[b.length], s = new float[b.length];
                    for (int i = 0; i < b.length; i++) {
                        g[i] = (float) (1 + rnd.nextGaussian() * 0.3);
                        s[i] = (float) (rnd.nextGaussian() * 0.3);
                    }
                    net.layerNormScale(l).copyFrom(g);
                    net.layerNormShift(l).copyFrom(s);
                }
            }
            ws.x().copyFrom(x);
            ws.y().copyFrom(y);
            net.forward(ws);
            net.backward(ws);
            Params params = Params.of(net);
            if (mayRedraw && minAbsKinkInput(arch, params, x, masks) < KINK_MARGIN) return null;
            double worst = 0;
            for (int l = 0; l < arch.layers(); l++) {
                worst = Math.max(worst, worst(arch, params, params.w[l], net.weightGradient(l).toArray(), x, y, masks));
                worst = Math.max(worst, worst(arch, params, params.b[l], net.biasGradient(l).toArray(), x, y, masks));
                if (params.gamma[l] != null) {
                    worst = Math.max(worst, worst(arch, params, params.gamma[l], net.layerNormScaleGradient(l).toArray(), x, y, masks));
                    worst = Math.max(worst, worst(arch, params, params.beta[l], net.layerNormShiftGradient(l).toArray(), x, y, masks));
                }
            }
            String hidden = arch.layers() < 2 ? arch.hidden().id() : arch.hiddenActivationsText()
                    + (arch.isPlain() ? "" : " (layer norm " + arch.layerNormsText() + ")");
            return new Case(arch.isPlain() ? arch.hidden().id() : hidden, arch.output().id(), arch.loss().id(),
                    (int) net.parameterCount(), worst);
        }
    }

    /** The worst error over the elements of one tensor, each perturbed in turn. */
    private static double worst(Architecture arch, Params params, double[] tensor, float[] analytic, float[] x, float[] y,
                                float[][] masks) {
        double worst = 0;
        for (int i = 0; i < tensor.length; i++) worst = Math.max(worst, error(analytic[i], numeric(arch, params, tensor, i, x, y, masks)));
        return worst;
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

    private static double numeric(Architecture arch, Params params, double[] tensor, int i, float[] x, float[] y,
                                  float[][] masks) {
        double saved = tensor[i];
        tensor[i] = saved + STEP;
        double plus = loss(arch, params, x, y, masks);
        tensor[i] = saved - STEP;
        double minus = loss(arch, params, x, y, masks);
        tensor[i] = saved;
        return (plus - minus) / (2 * STEP);
    }

    /** The batch-mean loss in double precision, written independently of the kernels. */
    private static double loss(Architecture arch, Params params, float[] x, float[] y, float[][] masks) {
        int out = arch.outputs();
        double total = 0;
        for (int r = 0; r < BATCH; r++) {
            double[] a = forward(arch, params, x, r, null, masks);
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
     * {@code minKink[0]} is lowered to the smallest |input| seen at a ReLU-type unit.
     */
    private static double[] forward(Architecture arch, Params p, float[] x, int r, double[] minKink, float[][] masks) {
        int in = arch.inputs();
        double[] a = new double[in];
        for (int j = 0; j < in; j++) a[j] = x[r * in + j];
        for (int l = 0; l < arch.layers(); l++) {
            int n = arch.size(l + 1), m = arch.size(l);
            Activation f = arch.activation(l);
            double[] z = new double[n];
            for (int j = 0; j < n; j++) {
                double s = p.b[l][j];
                for (int k = 0; k < m; k++) s += p.w[l][j * m + k] * a[k];
                z[j] = s;
            }
            LayerNorm norm = arch.layerNorm(l);
            if (norm == LayerNorm.BEFORE_ACTIVATION) z = layerNorm(z, p.gamma[l], p.beta[l], arch.layerNormEpsilon());
            if (minKink != null && (f == Activation.RELU || f == Activation.LEAKY_RELU)) {
                for (double v : z) minKink[0] = Math.min(minKink[0], Math.abs(v));
            }
            a = activate(f, z);
            if (norm == LayerNorm.AFTER_ACTIVATION) a = layerNorm(a, p.gamma[l], p.beta[l], arch.layerNormEpsilon());
            if (masks != null && l + 1 < arch.layers()) {
                for (int j = 0; j < n; j++) a[j] *= masks[l + 1][r * n + j];   // inverted dropout, mask fixed
            }
        }
        return a;
    }

    /** (v − mean)/√(var + ε)·γ + β, the biased variance. */
    private static double[] layerNorm(double[] v, double[] gamma, double[] beta, double eps) {
        double mean = 0, var = 0;
        for (double e : v) mean += e;
        mean /= v.length;
        for (double e : v) var += (e - mean) * (e - mean);
        var /= v.length;
        double[] out = new double[v.length];
        for (int j = 0; j < v.length; j++) out[j] = (v[j] - mean) / Math.sqrt(var + eps) * gamma[j] + beta[j];
        return out;
    }

    /** The smallest |z| over all units with a ReLU-type activation and all samples (∞ when there are none). */
    private static double minAbsKinkInput(Architecture arch, Params p, float[] x, float[][] masks) {
        double[] min = {Double.POSITIVE_INFINITY};
        for (int r = 0; r < BATCH; r++) forward(arch, p, x, r, min, masks);
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
        for (int j = 0; j < z.length; j++) a[j] = DoubleActivations.apply(f, z[j]);
        return a;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
