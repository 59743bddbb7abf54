package io.vectorprop.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Network;
import io.vectorprop.network.Predictor;
import io.vectorprop.network.Trainer;
import io.vectorprop.network.Workspace;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Accuracy and confusion matrix of a saved model on test data.")
final class EvaluateCommand implements Callable<Integer> {
    @Mixin Common common;
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "Model file: safetensors, or ONNX (.onnx) of a dense network.")
    Path model;
    @Option(names = "--data", paramLabel = "DIR", description = "Directory with the IDX files (default: /usr/share/datasets/fashion-mnist when installed,"
            + " else the 1,000 test images of the Fashion-MNIST subset inside the jar).")
    Path data;
    @Option(names = "--test-csv", paramLabel = "F", description = "Test data as CSV.")
    Path testCsv;
    @Mixin CsvOptions csvOptions;
    @Option(names = "--layers", description = "Architecture for a file without metadata (a PyTorch export), e.g. 784,256,128,10.")
    String layers;
    @Option(names = "--activation", defaultValue = "relu", description = "Hidden activation(s) for a file without metadata:"
            + " one, or one per hidden layer (default: ${DEFAULT-VALUE}).")
    String activation;
    @Option(names = "--layer-norm", defaultValue = "none", description = "Hidden layer norms for a file without metadata: none,"
            + " before or after, or one per hidden layer (default: ${DEFAULT-VALUE}).")
    String layerNorm;
    @Option(names = "--loss", defaultValue = "softmax-cross-entropy", description = "Loss for a file without metadata (default: ${DEFAULT-VALUE}).")
    String loss;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "P",
            description = "fp32: evaluate the network as trained; bf16: through a Predictor with bfloat16 weights (default: ${DEFAULT-VALUE}).")
    String precision;

    @Override
    public Integer call() throws IOException {
        Predictor.Precision p = switch (precision.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "fp32" -> null;
            case "bf16" -> Predictor.Precision.BF16;
            default -> throw new IllegalArgumentException("--precision " + precision + ": expected fp32 or bf16");
        };
        var out = spec.commandLine().getOut();
        Architecture given = layers == null ? null
                : Architecture.parse(layers, activation, layerNorm, Architecture.DEFAULT_LAYER_NORM_EPSILON, Loss.parse(loss));
        try (Network net = Network.load(model, given, common.kernels());
             Dataset test = Common.load(data, testCsv, "t10k", csvOptions.options());
             Workspace ws = net.newWorkspace(256)) {
            int classes = Math.max(net.architecture().outputs(), 2);
            long[][] confusion = new long[classes][classes];
            double accuracy;
            if (p == null) {
                accuracy = Trainer.evaluate(net, test, ws, confusion);
            } else {
                try (Predictor predictor = Predictor.of(net, p)) {
                    accuracy = Trainer.evaluate(predictor, test, confusion);
                }
            }
            out.printf("model %s: %s%s%n", model, net.architecture(), p == null ? "" : ", " + p + " weights");
            out.printf("accuracy %.4f on %d samples (%s)%n", accuracy, test.size(), test.source());
            out.println("confusion matrix (rows: true class, columns: predicted):");
            for (long[] row : confusion) {
                StringBuilder s = new StringBuilder();
                for (long v : row) s.append(String.format("%6d", v));
                out.println(s);
            }
            if (common.json) {
                out.println(Json.object(g -> {
                    g.writeNumberField("accuracy", accuracy);
                    g.writeNumberField("samples", test.size());
                    g.writeArrayFieldStart("confusion");
                    for (long[] row : confusion) {
                        g.writeStartArray();
                        for (long v : row) g.writeNumber(v);
                        g.writeEndArray();
                    }
                    g.writeEndArray();
                }));
            }
        }
        return 0;
    }
}
