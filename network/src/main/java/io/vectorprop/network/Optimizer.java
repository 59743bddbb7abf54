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
    private final Matrix state1, state2;   // velocity, or Adam's m and v
    private long step;
    private float learningRate;

    public Optimizer(Config config, Network network) {
        this.config = config.validate();
        this.network = network;
        this.learningRate = config.learningRate();
        int p = network.parameters().cols();
        state1 = Matrix.allocate(arena, 1, p);
        state2 = config.kind() == Kind.ADAM ? Matrix.allocate(arena, 1, p) : null;
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
        return state2 == null ? new float[][] {state1.toArray()} : new float[][] {state1.toArray(), state2.toArray()};
    }

    /** Restores what {@link #state()} and {@link #steps()} returned, to continue a run exactly. */
    public void restore(float[][] state, long steps) {
        int expected = state2 == null ? 1 : 2;
        if (state.length != expected || steps < 0) {
            throw new IllegalArgumentException("optimizer restore: " + state.length + " state blocks and " + steps
                    + " steps for " + config.kind() + " (needs " + expected + ")");
        }
        state1.copyFrom(state[0]);
        if (state2 != null) state2.copyFrom(state[1]);
        step = steps;
    }

    /** Plain SGD needs no state, so {@link Network#backwardAndStep} can apply it inside BP3/BP4. */
    boolean fusesIntoBackward() { return config.kind() == Kind.SGD; }

    /** Counts a step applied by {@link Network#backwardAndStep}. */
    void countStep() { step++; }

    /** Applies the gradients of the last backward pass to the parameters. */
    public void step() {
        step++;
        var k = network.kernels();
        // A switch expression (each case yields the rule it applied), so a new Kind without its update does not compile.
        Kind applied = switch (config.kind()) {
            case SGD -> {
                if (config.weightDecay() == 0f) {
                    k.axpy(-learningRate, network.gradients(), network.parameters());   // θ ← θ − η∇θ: one pass, no state
                } else {
                    k.momentumStep(network.parameters(), network.gradients(), state1, network.decayMask(),
                            learningRate, 0f, config.weightDecay(), false);
                }
                yield Kind.SGD;
            }
            case MOMENTUM, NESTEROV -> {
                k.momentumStep(network.parameters(), network.gradients(), state1, network.decayMask(), learningRate,
                        config.momentum(), config.weightDecay(), config.kind() == Kind.NESTEROV);
                yield config.kind();
            }
            case ADAM -> {
                k.adamStep(network.parameters(), network.gradients(), state1, state2, network.decayMask(), learningRate,
                        config.beta1(), config.beta2(), config.epsilon(), config.weightDecay(), step);
                yield Kind.ADAM;
            }
        };
        assert applied == config.kind();
    }

    @Override
    /** Frees the off-heap memory; closing again does nothing. */
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
