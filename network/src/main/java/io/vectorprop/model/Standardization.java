package io.vectorprop.model;

import java.util.Arrays;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Matrix;

/**
 * Per-feature input standardization {@code x' = (x − μ) / σ}, part of a model: fitted on the training
 * set, applied wherever samples enter the network (training, evaluation, {@code Predictor}), and saved
 * in the model file, so that a service sees exactly the transformation the network was trained with.
 * A constant feature (σ = 0) gets σ = 1: it becomes 0 everywhere instead of NaN.
 *
 * @param mean  μ per feature
 * @param scale 1/σ per feature (what the kernels multiply by), finite and positive
 *
 * <p>Immutable (accessors return copies): safe to share between threads.
 */
public record Standardization(float[] mean, float[] scale) {
    public Standardization {
        mean = mean.clone();
        scale = scale.clone();
        if (mean.length != scale.length || mean.length == 0) {
            throw new IllegalArgumentException("standardization: " + mean.length + " means and " + scale.length + " scales");
        }
        for (int i = 0; i < mean.length; i++) {
            if (!Float.isFinite(mean[i]) || !Float.isFinite(scale[i]) || scale[i] <= 0) {
                throw new IllegalArgumentException("standardization: feature " + i + " has mean " + mean[i] + " and scale "
                        + scale[i] + "; need finite values and a positive scale");
            }
        }
    }

    /** Mean and standard deviation (population) of each feature of {@code train}, in double precision. */
    public static Standardization fit(Dataset train) {
        int[] all = new int[train.size()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        return fit(train, all);
    }

    /** {@link #fit(Dataset)} over the samples {@code rows} of {@code train} only (not the held-out ones). */
    public static Standardization fit(Dataset train, int[] rows) {
        Matrix x = train.features();
        int n = rows.length, f = x.cols();
        if (n == 0) throw new IllegalArgumentException("standardization: " + train.source() + " has no samples");
        double[] sum = new double[f], sumSq = new double[f];
        float[] row = new float[f];
        for (int r : rows) {
            x.rows(r, r + 1).copyTo(row);
            for (int i = 0; i < f; i++) sum[i] += row[i];
        }
        for (int r : rows) {                        // two passes: no cancellation in Σx² − n·μ²
            x.rows(r, r + 1).copyTo(row);
            for (int i = 0; i < f; i++) {
                double d = row[i] - sum[i] / n;
                sumSq[i] += d * d;
            }
        }
        return fromMoments(sum, sumSq, n);
    }

    /**
     * From per-feature sums {@code Σx} and sums of squared deviations {@code Σ(x − μ)²} over {@code n}
     * samples, as a two-pass computation over data held elsewhere (a Spark job, say) produces them: mean
     * {@code Σx/n}, scale {@code 1/σ} with the population σ, and scale 1 for a constant feature (σ ≈ 0),
     * which is then only shifted.
     */
    public static Standardization fromMoments(double[] sum, double[] sumSqDeviations, long n) {
        if (n < 1 || sum.length != sumSqDeviations.length) {
            throw new IllegalArgumentException("standardization: " + sum.length + " sums and " + sumSqDeviations.length
                    + " sums of squares over " + n + " samples");
        }
        int f = sum.length;
        float[] mean = new float[f], scale = new float[f];
        for (int i = 0; i < f; i++) {
            mean[i] = (float) (sum[i] / n);
            double sd = Math.sqrt(sumSqDeviations[i] / n);
            scale[i] = sd > 1e-12 * Math.max(1, Math.abs(mean[i])) ? (float) (1 / sd) : 1f;
        }
        return new Standardization(mean, scale);
    }

    public int features() { return mean.length; }

    @Override public float[] mean() { return mean.clone(); }

    @Override public float[] scale() { return scale.clone(); }

    /** σ per feature (1 / scale). */
    public float[] std() {
        float[] s = new float[scale.length];
        for (int i = 0; i < s.length; i++) s[i] = 1f / scale[i];
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Standardization s && Arrays.equals(mean, s.mean) && Arrays.equals(scale, s.scale);
    }

    @Override public int hashCode() { return Arrays.hashCode(mean) * 31 + Arrays.hashCode(scale); }

    @Override public String toString() { return "standardization of " + mean.length + " features"; }
}
