package io.vectorprop.network;

import java.lang.foreign.Arena;
import java.util.Locale;

import io.vectorprop.kernel.Matrix;

/**
 * Parameter updates over a network's whole parameter block, in one kernel pass:
 * <ul>
 *   <li>SGD: {@code θ ← θ − η·(∇θ + λ·θ)} (the seed's rule, with optional L2 weight decay λ);</li>
 *   <li>momentum: {@code v ← μv − η(∇θ + λθ)}, {@code θ ← θ + v}; Nesterov: {@code θ ← θ + μv − η(∇θ + λθ)};</li>
 *   <li>Adam (Kingma and Ba, bias-corrected).</li>
 * </ul>
 * Weight decay never applies to biases. State blocks have the parameter block's layout.
 *
 * <p>Not thread-safe: an optimizer and its network belong to one thread at a time.
 */
public final class Optimizer implements AutoCloseable {
    public enum Kind { SGD, MOMENTUM, NESTEROV, ADAM;
        public static Kind parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown optimizer '" + s + "' (expected sgd, momentum, nesterov or adam)");
            }
        }
    }

    /** Hyper-parameters; {@link #validate()} checks ranges and finiteness. */
    public record Config(Kind kind, float learningRate, float momentum, float weightDecay, float beta1, float beta2,
                         float epsilon) {
        public static Config sgd(float lr) { return new Config(Kind.SGD, lr, 0f, 0f, 0.9f, 0.999f, 1e-8f); }

        public static Config of(Kind kind, float lr, float momentum, float weightDecay) {
            return new Config(kind, lr, momentum, weightDecay, 0.9f, 0.999f, 1e-8f);
        }

        public Config validate() {
            check("learning rate", learningRate, learningRate > 0);
            check("momentum", momentum, momentum >= 0 && momentum < 1);
            check("weight decay", weightDecay, weightDecay >= 0);
            check("beta1", beta1, beta1 >= 0 && beta1 < 1);
            check("beta2", beta2, beta2 >= 0 && beta2 < 1);
            check("epsilon", epsilon, epsilon > 0);
            return this;
        }

        private static void check(String name, float v, boolean ok) {
            if (!Float.isFinite(v) || !ok) {
                throw new IllegalArgumentException(name + " " + v + " is out of range");
            }
        }
    }

    private final Config config;
    private final Network network;
    private final Arena arena = Arena.ofShared();
    private final Rule rule;
    private long step;
    private float learningRate;

    /**
     * The update rule and the state it keeps, one type per kind, so that a switch over it names each
     * rule's own state and a new rule without its update does not compile.
     */
    private sealed interface Rule permits Sgd, Momentum, Adam {}

    /** Plain SGD; the velocity block is scratch for the weight-decay pass ({@code momentumStep} with μ = 0). */
    private record Sgd(Matrix velocity) implements Rule {}

    /** Momentum or Nesterov: the velocity {@code v}. */
    private record Momentum(Matrix velocity, boolean nesterov) implements Rule {}

    /** Adam: the first and second moments. */
    private record Adam(Matrix m, Matrix v) implements Rule {}

    public Optimizer(Config config, Network network) {
        this.config = config.validate();
        this.network = network;
        this.learningRate = config.learningRate();
        int p = network.parameters().cols();
        rule = switch (config.kind()) {
            case SGD -> new Sgd(Matrix.allocate(arena, 1, p));
            case MOMENTUM, NESTEROV -> new Momentum(Matrix.allocate(arena, 1, p), config.kind() == Kind.NESTEROV);
            case ADAM -> new Adam(Matrix.allocate(arena, 1, p), Matrix.allocate(arena, 1, p));
        };
    }

    public Config config() { return config; }

    /** The learning rate in use now (starts at the configured one). */
    public float learningRate() { return learningRate; }

    /** Changes the learning rate for the next steps (a schedule); must be positive and finite. */
    public void setLearningRate(float lr) {
        if (!Float.isFinite(lr) || lr <= 0) throw new IllegalArgumentException("learning rate " + lr + " must be positive");
        this.learningRate = lr;
    }

    Network network() { return network; }

    /** Steps taken so far (Adam's bias correction depends on it). */
    public long steps() { return step; }

    /** A copy of the state: the velocity (momentum, Nesterov; zeros for SGD) and, for Adam, m and v. */
    public float[][] state() {
        return blocks().stream().map(Matrix::toArray).toArray(float[][]::new);
    }

    /** The state blocks, in the order {@link #state()} gives them. */
    private java.util.List<Matrix> blocks() {
        return switch (rule) {
            case Sgd(Matrix velocity) -> java.util.List.of(velocity);
            case Momentum(Matrix velocity, boolean nesterov) -> java.util.List.of(velocity);
            case Adam(Matrix m, Matrix v) -> java.util.List.of(m, v);
        };
    }

    /** Restores what {@link #state()} and {@link #steps()} returned, to continue a run exactly. */
    public void restore(float[][] state, long steps) {
        var blocks = blocks();
        if (state.length != blocks.size() || steps < 0) {
            throw new IllegalArgumentException("optimizer restore: " + state.length + " state blocks and " + steps
                    + " steps for " + config.kind() + " (needs " + blocks.size() + ")");
        }
        for (int i = 0; i < state.length; i++) blocks.get(i).copyFrom(state[i]);
        step = steps;
    }

    /** Plain SGD needs no state, so {@link Network#backwardAndStep} can apply it inside BP3/BP4. */
    boolean fusesIntoBackward() { return rule instanceof Sgd; }

    /** Counts a step applied by {@link Network#backwardAndStep}. */
    void countStep() { step++; }

    /** Applies the gradients of the last backward pass to the parameters. */
    public void step() {
        step++;
        update(network.parameters(), network.gradients(), network.decayMask(), rule);
    }

    /**
     * Applies the gradients to the parameters {@code [from, to)} only, with that slice of the state, and
     * counts a step: what a data-parallel worker that owns that slice of the parameters does (the others
     * update theirs and the slices are then exchanged). The other parameters and their state are left as
     * they are. Each element of the slice gets the update {@link #step()} gives it, bit for bit, when
     * {@code from} and {@code to} are multiples of 16 or the parameter count: the kernels then handle every
     * element in the same kind of loop (vector lanes or scalar tail) as over the whole vector. An empty
     * slice only counts the step.
     */
    public void step(int from, int to) {
        int p = network.parameters().cols();
        if (from < 0 || from > to || to > p) {
            throw new IllegalArgumentException("Optimizer.step: slice [" + from + ", " + to + ") is not inside the " + p
                    + " parameters");
        }
        step++;
        if (from == to) return;
        if (slice == null || slice.from != from || slice.to != to) slice = new Slice(from, to);
        update(slice.parameters, slice.gradients, slice.decayMask, slice.rule);
    }

    /** Views of a slice of the parameters, gradients, decay mask and state, kept for the next step on the same slice. */
    private Slice slice;

    private final class Slice {
        final int from, to;
        final Matrix parameters, gradients, decayMask;
        final Rule rule;

        Slice(int from, int to) {
            this.from = from;
            this.to = to;
            parameters = part(network.parameters());
            gradients = part(network.gradients());
            decayMask = part(network.decayMask());
            rule = switch (Optimizer.this.rule) {
                case Sgd(Matrix velocity) -> new Sgd(part(velocity));
                case Momentum(Matrix velocity, boolean nesterov) -> new Momentum(part(velocity), nesterov);
                case Adam(Matrix m, Matrix v) -> new Adam(part(m), part(v));
            };
        }

        private Matrix part(Matrix whole) {
            return whole.view(0, from, 1, to - from);
        }
    }

    /** One update of {@code theta} from {@code grad} with {@code rule}'s state (the step already counted). */
    private void update(Matrix theta, Matrix grad, Matrix decayMask, Rule rule) {
        var k = network.kernels();
        switch (rule) {
            case Sgd(Matrix velocity) -> {
                if (config.weightDecay() == 0f) {
                    k.axpy(-learningRate, grad, theta);   // θ ← θ − η∇θ: one pass, no state
                } else {
                    k.momentumStep(theta, grad, velocity, decayMask, learningRate, 0f, config.weightDecay(), false);
                }
            }
            case Momentum(Matrix velocity, boolean nesterov) -> k.momentumStep(theta, grad, velocity, decayMask,
                    learningRate, config.momentum(), config.weightDecay(), nesterov);
            case Adam(Matrix m, Matrix v) -> k.adamStep(theta, grad, m, v, decayMask, learningRate, config.beta1(),
                    config.beta2(), config.epsilon(), config.weightDecay(), step);
        }
    }

    /** Frees the off-heap memory; closing again does nothing. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
