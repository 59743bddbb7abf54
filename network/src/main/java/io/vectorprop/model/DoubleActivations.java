package io.vectorprop.model;

import io.vectorprop.kernel.Activation;

/**
 * The element-wise activations in double precision, written from their definitions and independent of
 * the kernels (whose fp32 GELU uses an approximation of erf): the reference of the gradient check and
 * what the ONNX importer compares an exported subgraph with.
 *
 * <p>Stateless: safe from any thread.
 */
public final class DoubleActivations {
    private DoubleActivations() {}

    /** {@code f(z)} for an element-wise activation. */
    public static double apply(Activation f, double z) {
        return switch (f) {
            case IDENTITY -> z;
            case SIGMOID -> 1 / (1 + Math.exp(-z));
            case TANH -> Math.tanh(z);
            case RELU -> Math.max(z, 0);
            case LEAKY_RELU -> z > 0 ? z : Activation.LEAKY_SLOPE * z;
            case GELU -> 0.5 * z * (1 + erf(z / Math.sqrt(2)));
            case GELU_TANH -> 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
            case SILU -> z / (1 + Math.exp(-z));
            case SOFTMAX -> throw new IllegalArgumentException("softmax is not element-wise");
        };
    }

    /**
     * erf to within 1e-15: its Maclaurin series below |x| = 1.5, 1 − erfc from Lentz's evaluation of the
     * continued fraction {@code erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))} from
     * there (at most 91 terms). The switch is at 1.5, not further out, because the series' alternating
     * terms cancel: continued up to 3 it lost up to 6e-14.
     */
    public static double erf(double x) {
        double ax = Math.abs(x);
        if (Double.isNaN(x)) return x;
        if (ax < 1.5) {
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            return Math.copySign(2 / Math.sqrt(Math.PI) * sum, x);
        }
        if (Double.isInfinite(ax)) return Math.copySign(1, x);
        double tiny = 1e-300, f = ax, c = ax, d = 0;
        for (int n = 1; n < 200; n++) {
            double an = n / 2.0;
            d = ax + an * d;
            d = Math.abs(d) < tiny ? tiny : d;
            c = ax + an / c;
            c = Math.abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1) < 1e-16) break;
        }
        return Math.copySign(1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f, x);
    }
}
