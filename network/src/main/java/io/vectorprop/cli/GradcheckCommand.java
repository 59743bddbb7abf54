package io.vectorprop.cli;

import java.util.concurrent.Callable;

import io.vectorprop.verify.GradientCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "gradcheck", mixinStandardHelpOptions = true,
        description = "Compares backpropagation's gradients with central finite differences (double precision) for every"
                + " activation x loss on small random networks.")
final class GradcheckCommand implements Callable<Integer> {
    @Mixin Common common;
    @Spec CommandSpec spec;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the random networks (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--dropout", defaultValue = "0", paramLabel = "P",
            description = "Check with inverted dropout of probability P on the hidden layers, masks fixed (default: ${DEFAULT-VALUE}).")
    float dropout;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("--dropout " + dropout + " must be in [0, 1)");
        GradientCheck.Result r = GradientCheck.run(common.kernels(), seed, dropout);
        if (dropout > 0) out.printf("inverted dropout p = %s on the hidden layers, masks fixed%n", dropout);
        out.printf("central differences, h = %.0e, error = |a - n| / max(|a|, |n|, %.0e)%n", r.step(), GradientCheck.FLOOR);
        for (GradientCheck.Case c : r.cases()) {
            out.printf("  %-11s -> %-8s %-22s %3d parameters  max error %.3e%n", c.activation(), c.output(), c.loss(),
                    c.parameters(), c.maxRelativeError());
        }
        out.printf("max relative error %.3e%n", r.maxRelativeError());
        if (common.json) {
            out.println(Json.object(g -> {
                Json.number(g, "maxRelativeError", r.maxRelativeError());
                g.writeNumberField("step", r.step());
                g.writeArrayFieldStart("cases");
                for (GradientCheck.Case c : r.cases()) {
                    g.writeStartObject();
                    g.writeStringField("activation", c.activation());
                    g.writeStringField("output", c.output());
                    g.writeStringField("loss", c.loss());
                    g.writeNumberField("parameters", c.parameters());
                    Json.number(g, "maxRelativeError", c.maxRelativeError());
                    g.writeEndObject();
                }
                g.writeEndArray();
            }));
        }
        return r.maxRelativeError() <= 1e-3 ? 0 : 1;
    }
}
