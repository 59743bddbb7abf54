package io.vectorprop.cli;

import java.util.concurrent.Callable;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Workspace;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Matt Mazur's worked example: a 2-2-2 sigmoid network, inputs 0.05 and 0.10, targets 0.01 and
 * 0.99, w1…w8 = 0.15 … 0.55, one shared bias per layer (0.35, 0.60) that is not updated, error
 * E = Σ ½(target − out)², learning rate 0.5.
 */
@Command(name = "mazur", mixinStandardHelpOptions = true,
        description = "Runs Mazur's backpropagation worked example and prints the error and the weights.")
final class MazurCommand implements Callable<Integer> {
    @Mixin Common common;
    @Spec CommandSpec spec;

    @Option(names = "--iterations", defaultValue = "10000", description = "Training steps in all (default: ${DEFAULT-VALUE}).")
    int iterations;

    /** The result: error before training, w1…w8 after one step, error after all steps. */
    record Result(double initialError, float[] weights, double finalError, int iterations) {}

    static Result run(int iterations, io.vectorprop.kernel.Kernels kernels) {
        if (iterations < 1) throw new IllegalArgumentException("--iterations " + iterations + " must be at least 1");
        Architecture arch = Architecture.of(new int[] {2, 2, 2}, Activation.SIGMOID, Loss.QUADRATIC);
        try (Network net = Network.create(arch, kernels); Workspace ws = net.newWorkspace(1);
             Optimizer sgd = new Optimizer(Optimizer.Config.sgd(0.5f), net)) {
            net.weight(0).copyFrom(new float[] {0.15f, 0.20f, 0.25f, 0.30f});   // h1 ← (w1, w2), h2 ← (w3, w4)
            net.weight(1).copyFrom(new float[] {0.40f, 0.45f, 0.50f, 0.55f});   // o1 ← (w5, w6), o2 ← (w7, w8)
            float[] b1 = {0.35f, 0.35f}, b2 = {0.60f, 0.60f};
            net.bias(0).copyFrom(b1);
            net.bias(1).copyFrom(b2);
            ws.x().copyFrom(new float[] {0.05f, 0.10f});
            ws.y().copyFrom(new float[] {0.01f, 0.99f});
            float[] afterOne = null;
            double initial = Double.NaN;
            for (int i = 0; i < iterations; i++) {
                net.forward(ws);
                if (i == 0) initial = net.loss(ws);             // batch of one: the mean is E itself
                net.backward(ws);
                sgd.step();
                net.bias(0).copyFrom(b1);                       // the example keeps the biases fixed
                net.bias(1).copyFrom(b2);
                if (i == 0) {
                    float[] w0 = net.weight(0).toArray(), w1 = net.weight(1).toArray();
                    afterOne = new float[] {w0[0], w0[1], w0[2], w0[3], w1[0], w1[1], w1[2], w1[3]};
                }
            }
            net.forward(ws);
            return new Result(initial, afterOne, net.loss(ws), iterations);
        }
    }

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        Result r = run(iterations, common.kernels());
        out.printf("total error before training: %.9f%n", r.initialError());
        out.println("weights after one backward pass:");
        for (int i = 0; i < 8; i++) out.printf("  w%d = %.9f%n", i + 1, r.weights()[i]);
        out.printf("total error after %d iterations: %.10f%n", r.iterations(), r.finalError());
        if (common.json) {
            out.println(Json.object(g -> {
                g.writeNumberField("initialError", r.initialError());
                g.writeObjectFieldStart("weights");
                for (int i = 0; i < 8; i++) g.writeNumberField("w" + (i + 1), r.weights()[i]);
                g.writeEndObject();
                g.writeNumberField("finalError", r.finalError());
                g.writeNumberField("iterations", r.iterations());
            }));
        }
        return 0;
    }
}
