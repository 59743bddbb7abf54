package io.vectorprop.network;

import java.util.Locale;

/**
 * A learning-rate schedule: the rate of each epoch from the base rate η the user gave. Epochs count
 * from 1; {@code E} is the run's number of epochs.
 * <ul>
 *   <li>{@link Kind#CONSTANT}: η every epoch (the default, as in PyTorch, Keras and scikit-learn);</li>
 *   <li>{@link Kind#STEP}: {@code η·decay^⌊(e−1)/stepEpochs⌋}, the rate cut by {@code decay} every
 *       {@code stepEpochs} epochs;</li>
 *   <li>{@link Kind#EXPONENTIAL}: {@code η·decay^(e−1)};</li>
 *   <li>{@link Kind#COSINE}: {@code f + (η − f)·(1 + cos(π·(e−1)/(E−1)))/2} with the floor
 *       {@code f = η·}{@link #COSINE_FLOOR}: from η at the first epoch to the floor at the last, whatever
 *       the run's length.</li>
 * </ul>
 *
 * @param kind       the shape
 * @param decay      factor of STEP and EXPONENTIAL, in (0, 1]
 * @param stepEpochs epochs between two cuts of STEP, at least 1
 *
 * <p>Immutable: safe from any thread.
 */
public record Schedule(Kind kind, float decay, int stepEpochs) {
    /** The cosine schedule's last rate, as a fraction of the base rate. */
    public static final float COSINE_FLOOR = 0.01f;

    public enum Kind {
        CONSTANT, STEP, EXPONENTIAL, COSINE;

        /** Parses {@code constant}, {@code step}, {@code exponential} or {@code cosine}. */
        public static Kind parse(String name) {
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown schedule '" + name + "' (expected constant, step, exponential or cosine)");
            }
        }

        public String id() { return name().toLowerCase(Locale.ROOT); }
    }

    public Schedule {
        java.util.Objects.requireNonNull(kind, "schedule kind");
        if (!(decay > 0 && decay <= 1)) throw new IllegalArgumentException("learning-rate decay " + decay + " must be in (0, 1]");
        if (stepEpochs < 1) throw new IllegalArgumentException("step epochs " + stepEpochs + " must be at least 1");
    }

    /** The constant schedule: the user's rate, every epoch. */
    public static Schedule constant() { return new Schedule(Kind.CONSTANT, 1f, 1); }

    /** The rate of epoch {@code epoch} (1 … {@code epochs}) for base rate {@code base}. */
    public float rate(float base, int epoch, int epochs) {
        if (epoch < 1 || epoch > epochs) throw new IllegalArgumentException("epoch " + epoch + " outside 1.." + epochs);
        double r = switch (kind) {
            case CONSTANT -> base;
            case STEP -> base * Math.pow(decay, (epoch - 1) / stepEpochs);
            case EXPONENTIAL -> base * Math.pow(decay, epoch - 1);
            case COSINE -> {
                if (epochs == 1) yield base;
                double floor = base * (double) COSINE_FLOOR;
                yield floor + (base - floor) * (1 + Math.cos(Math.PI * (epoch - 1) / (epochs - 1))) / 2;
            }
        };
        return (float) r;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case CONSTANT, COSINE -> kind.id();
            case STEP -> "step x" + decay + " every " + stepEpochs + " epochs";
            case EXPONENTIAL -> "exponential x" + decay + " per epoch";
        };
    }
}
