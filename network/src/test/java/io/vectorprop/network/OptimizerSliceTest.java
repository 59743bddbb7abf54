package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;

/**
 * {@link Optimizer#step(int, int)}, the update a data-parallel worker applies to the slice of the
 * parameters it owns: workers that each update one slice, with slice bounds at multiples of 16, end with
 * the bits of one optimizer that updates the whole vector — parameters and state, for every rule, with
 * and without weight decay, with the vector kernels and their scalar twin, over several steps. The
 * parameter count (174) is not a multiple of 16, so the last slice ends in the kernels' scalar tail.
 */
class OptimizerSliceTest {
    static final Architecture ARCH = Architecture.of(new int[] {7, 13, 5}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);

    @Test
    void workersUpdatingAlignedSlicesEndWithTheWholeUpdatesBits() {
        for (Kernels kernels : List.of(Kernels.get(), Kernels.scalar())) {
            for (Optimizer.Kind kind : Optimizer.Kind.values()) {
                for (float decay : new float[] {0f, 0.01f}) {
                    Optimizer.Config config = Optimizer.Config.of(kind, 0.05f, 0.9f, decay);
                    String what = kind + ", weight decay " + decay + ", " + kernels.getClass().getSimpleName();
                    try (Network whole = network(kernels); Optimizer wholeOpt = new Optimizer(config, whole)) {
                        int p = whole.parameters().cols();
                        int[] bounds = {0, 48, 48, 160, p};        // an empty slice, a middle one, one ending in the tail
                        Network[] workers = new Network[bounds.length - 1];
                        Optimizer[] opts = new Optimizer[workers.length];
                        try {
                            for (int w = 0; w < workers.length; w++) {
                                workers[w] = network(kernels);
                                opts[w] = new Optimizer(config, workers[w]);
                            }
                            Random rnd = new Random(3);
                            for (int step = 0; step < 3; step++) {
                                float[] g = new float[p];
                                for (int i = 0; i < p; i++) g[i] = (float) rnd.nextGaussian();
                                whole.gradients().copyFrom(g);
                                wholeOpt.step();
                                for (int w = 0; w < workers.length; w++) {
                                    workers[w].gradients().copyFrom(g);
                                    opts[w].step(bounds[w], bounds[w + 1]);
                                }
                            }
                            float[] want = whole.parameters().toArray();
                            float[][] wantState = wholeOpt.state();
                            for (int w = 0; w < workers.length; w++) {
                                int from = bounds[w], to = bounds[w + 1];
                                assertEquals(wholeOpt.steps(), opts[w].steps(), what + ": steps counted");
                                assertArrayEquals(Arrays.copyOfRange(want, from, to),
                                        Arrays.copyOfRange(workers[w].parameters().toArray(), from, to),
                                        what + ": parameters [" + from + ", " + to + ")");
                                float[][] state = opts[w].state();
                                for (int b = 0; b < state.length; b++) {
                                    assertArrayEquals(Arrays.copyOfRange(wantState[b], from, to),
                                            Arrays.copyOfRange(state[b], from, to),
                                            what + ": state block " + b + " [" + from + ", " + to + ")");
                                }
                            }
                        } finally {
                            for (int w = 0; w < workers.length; w++) {
                                if (opts[w] != null) opts[w].close();
                                if (workers[w] != null) workers[w].close();
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void aSliceOutsideTheParametersIsRefusedWithItsBounds() {
        try (Network net = network(Kernels.get());
             Optimizer opt = new Optimizer(Optimizer.Config.of(Optimizer.Kind.ADAM, 0.01f, 0, 0), net)) {
            int p = net.parameters().cols();
            for (int[] bad : new int[][] {{-1, 4}, {8, 4}, {0, p + 1}}) {
                var e = assertThrows(IllegalArgumentException.class, () -> opt.step(bad[0], bad[1]));
                assertEquals("Optimizer.step: slice [" + bad[0] + ", " + bad[1] + ") is not inside the " + p + " parameters",
                        e.getMessage());
            }
            assertEquals(0, opt.steps(), "a refused slice counts no step");
        }
    }

    private static Network network(Kernels kernels) {
        Network net = Network.create(ARCH, kernels);
        net.initialize(Init.HE, 17);
        return net;
    }
}
