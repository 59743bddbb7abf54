package io.vectorprop.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Trainer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Trains a network by mini-batch backpropagation. With no options: 784-256-128-10, ReLU, softmax"
                + " cross-entropy, Adam (lr 0.001, x0.8 per epoch), batch 64, 10 epochs, on Fashion-MNIST from /usr/share/datasets/fashion-mnist.")
final class TrainCommand implements Callable<Integer> {
    @Mixin Common common;
    @Spec CommandSpec spec;

    @Option(names = "--data", paramLabel = "DIR", description = "Directory with the (Fashion-)MNIST IDX files (default: /usr/share/datasets/fashion-mnist).")
    Path data;
    @Option(names = "--train-csv", paramLabel = "F", description = "Training data as CSV: label, then the features.")
    Path trainCsv;
    @Option(names = "--test-csv", paramLabel = "F", description = "Test data as CSV.")
    Path testCsv;
    @Option(names = "--layers", defaultValue = "784,256,128,10", description = "Layer sizes, inputs first (default: ${DEFAULT-VALUE}).")
    String layers;
    @Option(names = "--activation", defaultValue = "relu", description = "Hidden activation: sigmoid, tanh, relu, leaky-relu, identity (default: ${DEFAULT-VALUE}).")
    String activation;
    @Option(names = "--loss", defaultValue = "softmax-cross-entropy", description = "quadratic, binary-cross-entropy or softmax-cross-entropy (default: ${DEFAULT-VALUE}).")
    String loss;
    @Option(names = "--optimizer", defaultValue = "adam", description = "sgd, momentum, nesterov or adam (default: ${DEFAULT-VALUE}).")
    String optimizer;
    @Option(names = "--lr", defaultValue = "0.001", description = "Learning rate (default: ${DEFAULT-VALUE}).")
    float lr;
    @Option(names = "--lr-decay", defaultValue = "0.8", description = "Multiply the learning rate by this after every epoch (default: ${DEFAULT-VALUE}).")
    float lrDecay;
    @Option(names = "--momentum", defaultValue = "0.9", description = "Momentum for momentum and nesterov (default: ${DEFAULT-VALUE}).")
    float momentum;
    @Option(names = "--weight-decay", defaultValue = "0", description = "L2 weight decay, not applied to biases (default: ${DEFAULT-VALUE}).")
    float weightDecay;
    @Option(names = "--batch", defaultValue = "64", description = "Mini-batch size (default: ${DEFAULT-VALUE}).")
    int batch;
    @Option(names = "--epochs", defaultValue = "10", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;
    @Option(names = "--seed", defaultValue = "42", description = "Seed for initialisation and shuffling (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--initializer", description = "Weight initialiser: xavier, he or normal (N(0,1), Nielsen's). Default: he for ReLU, else xavier.")
    String initializer;
    @Option(names = "--init", paramLabel = "FILE", description = "Start from the parameters in this model file (same architecture).")
    Path init;
    @Option(names = "--save", paramLabel = "FILE", description = "Save the trained model (safetensors).")
    Path save;
    @Option(names = "--plot", paramLabel = "FILE.png", description = "Draw loss and accuracy per epoch into a PNG.")
    Path plot;
    @Option(names = "--no-shuffle", description = "Keep the data's order in every epoch.")
    boolean noShuffle;
    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        var out = spec.commandLine().getOut();
        Architecture arch = Architecture.of(Architecture.parseSizes(layers), Activation.parse(activation), Loss.parse(loss));
        if (batch < 1) throw new IllegalArgumentException("--batch " + batch + " must be at least 1");
        if (epochs < 1) throw new IllegalArgumentException("--epochs " + epochs + " must be at least 1");
        Optimizer.Config opt = Optimizer.Config.of(Optimizer.Kind.parse(optimizer), Common.positive("--lr", lr),
                momentum, weightDecay);
        try {
            opt.validate();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--" + e.getMessage().replace("learning rate", "lr").replace("weight decay", "weight-decay"));
        }
        if (!(lrDecay > 0 && lrDecay <= 1)) throw new IllegalArgumentException("--lr-decay " + lrDecay + " must be in (0, 1]");
        if ((trainCsv == null) != (testCsv == null)) {
            throw new IllegalArgumentException("--train-csv and --test-csv go together");
        }
        if (data != null && trainCsv != null) throw new IllegalArgumentException("give --data or the CSV files, not both");
        var kernels = common.kernels();
        try (Dataset train = Common.load(data, trainCsv, "train"); Dataset test = Common.load(data, testCsv, "t10k");
             Network net = init != null ? SafeTensors.load(init, arch, kernels) : Network.create(arch, kernels)) {
            if (init == null) net.initialize(initializer == null ? Init.defaultFor(arch) : Init.parse(initializer), seed);
            out.printf("network %s, %d parameters, %s lr %s, batch %d, %d epochs, kernels %s x%d threads%n", arch,
                    net.parameterCount(), opt.kind().name().toLowerCase(), lr, batch, epochs, kernels.name(), kernels.threads());
            out.printf("data: %d training samples (%s), %d test samples%n", train.size(), train.source(), test.size());
            out.flush();
            Trainer trainer = new Trainer(new Trainer.Config(batch, epochs, seed, !noShuffle, lrDecay));
            List<Trainer.EpochResult> results;
            try (Optimizer optimizer = new Optimizer(opt, net)) {
                results = trainer.train(net, optimizer, train, test, new Progress(out, !noProgress));
            }
            if (save != null) {
                SafeTensors.save(net, save);
                out.println("saved " + save);
            }
            if (plot != null) {
                Plot.write(results, plot);
                out.println("plotted " + plot);
            }
            Trainer.EpochResult last = results.get(results.size() - 1);
            out.printf("test accuracy %.4f%n", last.testAccuracy());
            if (common.json) {
                out.println(Json.object(g -> {
                    Json.number(g, "testAccuracy", last.testAccuracy());
                    g.writeArrayFieldStart("epochs");
                    for (Trainer.EpochResult r : results) {
                        g.writeStartObject();
                        g.writeNumberField("epoch", r.epoch());
                        Json.number(g, "loss", r.loss());
                        Json.number(g, "trainAccuracy", r.trainAccuracy());
                        Json.number(g, "testAccuracy", r.testAccuracy());
                        Json.number(g, "samplesPerSecond", r.samplesPerSecond());
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }));
            }
        }
        return 0;
    }

    /** A progress bar per epoch on standard error, and a summary line per epoch on standard output. */
    private static final class Progress implements Trainer.Listener {
        private final java.io.PrintWriter out;
        private final boolean bar;
        private ProgressBar current;

        Progress(java.io.PrintWriter out, boolean bar) {
            this.out = out;
            this.bar = bar;
        }

        @Override
        public void epochStarted(int epoch, int batches) {
            if (!bar) return;
            current = new ProgressBarBuilder().setTaskName("epoch " + epoch).setInitialMax(batches)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err)).continuousUpdate().build();
        }

        @Override
        public void batchDone(int epoch, int batch, double loss) {
            if (current != null) current.stepTo(batch);
        }

        @Override
        public void epochDone(Trainer.EpochResult r) {
            if (current != null) {
                current.close();
                current = null;
            }
            out.printf("epoch %2d  loss %.4f  train accuracy %.4f  test accuracy %.4f  %,.0f samples/s%n", r.epoch(), r.loss(),
                    r.trainAccuracy(), r.testAccuracy(), r.samplesPerSecond());
            out.flush();
        }
    }
}
