package io.vectorprop.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.vectorprop.data.CsvReader;
import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Checkpoint;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Schedule;
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
                + " cross-entropy, Adam (lr 0.001, constant), batch 64, 10 epochs, on Fashion-MNIST from /usr/share/datasets/fashion-mnist, or on the subset inside the jar when that is not installed.")
final class TrainCommand implements Callable<Integer> {
    @Mixin Common common;
    @Spec CommandSpec spec;

    @Option(names = "--data", paramLabel = "DIR", description = "Directory with the (Fashion-)MNIST IDX files (default: /usr/share/datasets/fashion-mnist when installed,"
            + " else a 3,000/1,000-image Fashion-MNIST subset inside the jar).")
    Path data;
    @Option(names = "--train-csv", paramLabel = "F", description = "Training data as CSV: a label column and the features.")
    Path trainCsv;
    @Option(names = "--test-csv", paramLabel = "F", description = "Test data as CSV, same columns.")
    Path testCsv;
    @Mixin CsvOptions csvOptions;
    @Option(names = "--layers", defaultValue = "784,256,128,10", description = "Layer sizes, inputs first (default: ${DEFAULT-VALUE}).")
    String layers;
    @Option(names = "--activation", defaultValue = "relu", paramLabel = "F[,F…]",
            description = "Hidden activation: sigmoid, tanh, relu, leaky-relu, gelu, gelu-tanh, silu, identity; one for every hidden"
                    + " layer or a comma-separated list, one per hidden layer (default: ${DEFAULT-VALUE}).")
    String activation;
    @Option(names = "--layer-norm", defaultValue = "none", paramLabel = "P[,P…]",
            description = "Layer normalization of the hidden layers: none, before or after (their activation); one for every"
                    + " hidden layer or a comma-separated list, one per hidden layer (default: ${DEFAULT-VALUE}).")
    String layerNorm;
    @Option(names = "--layer-norm-epsilon", defaultValue = "1e-5", paramLabel = "EPS",
            description = "The epsilon of the layer norms, added to the variance (default: ${DEFAULT-VALUE}, PyTorch's).")
    float layerNormEpsilon;
    @Option(names = "--loss", defaultValue = "softmax-cross-entropy", description = "quadratic, binary-cross-entropy or softmax-cross-entropy (default: ${DEFAULT-VALUE}).")
    String loss;
    @Option(names = "--optimizer", defaultValue = "adam", description = "sgd, momentum, nesterov or adam (default: ${DEFAULT-VALUE}).")
    String optimizer;
    @Option(names = "--lr", defaultValue = "0.001", description = "Learning rate (default: ${DEFAULT-VALUE}).")
    float lr;
    @Option(names = "--schedule", defaultValue = "constant", description = "Learning-rate schedule: constant, step, exponential or cosine (to 1%% of --lr at the last epoch) (default: ${DEFAULT-VALUE}).")
    String schedule;
    @Option(names = "--lr-decay", description = "Factor of the step and exponential schedules, in (0, 1] (default: 0.5 for step, 0.8 for exponential).")
    Float lrDecay;
    @Option(names = "--step-epochs", description = "Epochs between two cuts of the step schedule (default: 10).")
    Integer stepEpochs;
    @Option(names = "--momentum", defaultValue = "0.9", description = "Momentum for momentum and nesterov (default: ${DEFAULT-VALUE}).")
    float momentum;
    @Option(names = "--weight-decay", defaultValue = "0", description = "L2 weight decay, not applied to biases (default: ${DEFAULT-VALUE}).")
    float weightDecay;
    @Option(names = "--dropout", defaultValue = "0", paramLabel = "P", description = "Inverted dropout on the hidden layers while training, 0 <= P < 1 (default: ${DEFAULT-VALUE}).")
    float dropout;
    @Option(names = "--batch", defaultValue = "64", description = "Mini-batch size (default: ${DEFAULT-VALUE}).")
    int batch;
    @Option(names = "--epochs", defaultValue = "10", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;
    @Option(names = "--validation-fraction", defaultValue = "0", paramLabel = "F", description = "Hold out this share of the training set (seeded) for validation (default: ${DEFAULT-VALUE}).")
    double validationFraction;
    @Option(names = "--early-stopping", defaultValue = "0", paramLabel = "N", description = "Stop after N epochs without a lower validation loss and restore the best epoch's parameters (default: off).")
    int earlyStopping;
    @Option(names = "--standardize", description = "Standardize every input feature with the training set's mean and standard deviation; stored in the model file.")
    boolean standardize;
    @Option(names = "--seed", defaultValue = "42", description = "Seed for initialisation, shuffling, the validation split and dropout (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--initializer", description = "Weight initialiser: xavier, he or normal (N(0,1), Nielsen's). Default: he for ReLU, else xavier.")
    String initializer;
    @Option(names = "--init", paramLabel = "FILE", description = "Start from the parameters in this model file (same architecture).")
    Path init;
    @Option(names = "--save", paramLabel = "FILE", description = "Save the trained model (safetensors).")
    Path save;
    @Option(names = "--checkpoint", paramLabel = "FILE", description = "Save a checkpoint (model, optimizer state, epoch) after every epoch, atomically.")
    Path checkpoint;
    @Option(names = "--checkpoint-every", defaultValue = "1", paramLabel = "N", description = "Save the checkpoint every N epochs, and after the last (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;
    @Option(names = "--resume", paramLabel = "FILE", description = "Continue the run saved in this checkpoint; give the same options and a larger --epochs.")
    Path resume;
    @Option(names = "--plot", paramLabel = "FILE.png", description = "Draw loss and accuracy per epoch into a PNG.")
    Path plot;
    @Option(names = "--no-shuffle", description = "Keep the data's order in every epoch.")
    boolean noShuffle;
    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        var out = spec.commandLine().getOut();
        Architecture arch = Architecture.parse(layers, activation, layerNorm, layerNormEpsilon, Loss.parse(loss));
        Optimizer.Config opt = Optimizer.Config.of(Optimizer.Kind.parse(optimizer), Common.positive("--lr", lr),
                momentum, weightDecay);
        Trainer.Config config = trainerConfig();
        opt.validate();                                   // its messages name the hyper-parameter
        if ((trainCsv == null) != (testCsv == null)) {
            throw new IllegalArgumentException("--train-csv and --test-csv go together");
        }
        if (data != null && trainCsv != null) throw new IllegalArgumentException("give --data or the CSV files, not both");
        if (trainCsv == null && csvOptions.given()) {
            throw new IllegalArgumentException("--header and --label-column apply to --train-csv/--test-csv");
        }
        if (checkpointEvery < 1) throw new IllegalArgumentException("--checkpoint-every " + checkpointEvery + " must be at least 1");
        if (resume != null && init != null) throw new IllegalArgumentException("give --resume or --init, not both");
        var kernels = common.kernels();
        String options = runOptions();
        CsvReader.Options csv = csvOptions.options();
        Checkpoint resumed = resume == null ? null : Checkpoint.load(resume, kernels);
        try (Dataset train = Common.load(data, trainCsv, "train", csv); Dataset test = Common.load(data, testCsv, "t10k", csv);
             Network net = resumed != null ? resumed.network()
                     : init != null ? Network.load(init, arch, kernels) : Network.create(arch, kernels)) {
            Trainer trainer = new Trainer(config);
            Trainer.State from = null;
            if (resumed != null) {
                from = checkResume(resumed, options, arch);
            } else {
                if (init == null) net.initialize(initializer == null ? Init.defaultFor(arch) : Init.parse(initializer), seed);
                if (standardize) net.setStandardization(trainer.fitStandardization(train));
            }
            out.printf("network %s, %d parameters, %s lr %s (%s), batch %d, %d epochs, kernels %s x%d threads%n", arch,
                    net.parameterCount(), opt.kind().name().toLowerCase(), lr, config.schedule(), batch, epochs, kernels.name(),
                    kernels.threads());
            out.printf("data: %d training samples (%s)%s, %d test samples%s%s%n", train.size(), train.source(),
                    validationFraction > 0 ? ", " + Math.round(validationFraction * train.size()) + " of them held out for validation" : "",
                    test.size(), standardize ? ", inputs standardized" : "", dropout > 0 ? ", dropout " + dropout : "");
            if (from != null) out.printf("resuming from %s after epoch %d%n", resume, from.epochsDone());
            out.flush();
            List<Trainer.EpochResult> results;
            Progress progress = new Progress(out, !noProgress);
            try (Optimizer optimizer = new Optimizer(opt, net)) {
                if (resumed != null) optimizer.restore(resumed.optimizerState(), resumed.optimizerSteps());
                if (checkpoint != null) {
                    progress.onCheckpoint = state -> {
                        int e = state.epochsDone();
                        if (e % checkpointEvery != 0 && e != epochs) return;
                        try {
                            Checkpoint.save(checkpoint, net, optimizer, state, options);
                        } catch (IOException ex) {
                            throw new java.io.UncheckedIOException("checkpoint " + checkpoint + ": " + ex.getMessage(), ex);
                        }
                    };
                }
                results = trainer.train(net, optimizer, train, test, progress, from);
            }
            if (save != null) {
                net.save(save);
                out.println("saved " + save);
            }
            if (plot != null) {
                Plot.write(results, plot);
                out.println("plotted " + plot);
            }
            double testAccuracy;
            try (var ws = net.newWorkspace(Math.min(256, test.size()))) {
                testAccuracy = Trainer.accuracy(net, test, ws);
            }
            out.printf("test accuracy %.4f%s%n", testAccuracy, progress.bestEpoch > 0 ? " (parameters of epoch " + progress.bestEpoch + ")" : "");
            if (common.json) {
                out.println(Json.object(g -> {
                    Json.number(g, "testAccuracy", testAccuracy);
                    if (progress.stoppedAt > 0) {
                        g.writeNumberField("stoppedEarlyAfterEpoch", progress.stoppedAt);
                        g.writeNumberField("bestEpoch", progress.bestEpoch);
                    }
                    g.writeArrayFieldStart("epochs");
                    for (Trainer.EpochResult r : results) {
                        g.writeStartObject();
                        g.writeNumberField("epoch", r.epoch());
                        Json.number(g, "learningRate", r.learningRate());
                        Json.number(g, "loss", r.loss());
                        Json.number(g, "trainAccuracy", r.trainAccuracy());
                        Json.number(g, "validationLoss", r.validationLoss());
                        Json.number(g, "validationAccuracy", r.validationAccuracy());
                        Json.number(g, "testAccuracy", r.testAccuracy());
                        Json.number(g, "samplesPerSecond", r.samplesPerSecond());
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }));
            }
        } finally {
            if (resumed != null) resumed.close();
        }
        return 0;
    }

    private Trainer.Config trainerConfig() {
        Schedule.Kind kind = Schedule.Kind.parse(schedule);
        boolean decays = kind == Schedule.Kind.STEP || kind == Schedule.Kind.EXPONENTIAL;
        if (lrDecay != null && !decays) {
            throw new IllegalArgumentException("--lr-decay applies to --schedule step and exponential, not " + kind.id());
        }
        if (stepEpochs != null && kind != Schedule.Kind.STEP) {
            throw new IllegalArgumentException("--step-epochs applies to --schedule step, not " + kind.id());
        }
        float decay = lrDecay != null ? lrDecay : kind == Schedule.Kind.STEP ? 0.5f : kind == Schedule.Kind.EXPONENTIAL ? 0.8f : 1f;
        int every = stepEpochs != null ? stepEpochs : 10;
        // Trainer.Config checks the ranges of the rest (validation fraction, early stopping, dropout) and names them.
        return new Trainer.Config(batch, epochs, seed, !noShuffle, new Schedule(kind, decay, every), validationFraction,
                earlyStopping, dropout);
    }

    /** The settings that shape a run (all but --epochs and the outputs), as a checkpoint records them. */
    private String runOptions() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("layers", layers);
        o.put("activation", activation);
        if (!layerNorm.equals("none")) {                   // absent when unused: checkpoints written before still match
            o.put("layer-norm", layerNorm);
            o.put("layer-norm-epsilon", layerNormEpsilon);
        }
        o.put("loss", loss);
        o.put("optimizer", optimizer);
        o.put("lr", lr);
        o.put("schedule", schedule);
        o.put("lr-decay", lrDecay);
        o.put("step-epochs", stepEpochs);
        o.put("momentum", momentum);
        o.put("weight-decay", weightDecay);
        o.put("dropout", dropout);
        o.put("batch", batch);
        o.put("validation-fraction", validationFraction);
        o.put("early-stopping", earlyStopping);
        o.put("standardize", standardize);
        o.put("seed", seed);
        o.put("shuffle", !noShuffle);
        o.put("data", trainCsv != null ? trainCsv.toAbsolutePath().normalize() : data != null ? data.toAbsolutePath().normalize() : "default");
        o.put("threads", common.threads);
        List<String> parts = new ArrayList<>();
        for (var e : o.entrySet()) parts.add(e.getKey() + "=" + e.getValue());
        return String.join(" ", parts);
    }

    private Trainer.State checkResume(Checkpoint c, String options, Architecture arch) {
        if (!c.options().equals(options)) {
            List<String> diff = new ArrayList<>();
            List<String> was = List.of(c.options().split(" ")), now = List.of(options.split(" "));
            for (String s : now) if (!was.contains(s)) diff.add(s);
            throw new IllegalArgumentException("--resume " + resume + ": the checkpoint's run was made with other options;"
                    + " differing now: " + String.join(", ", diff) + " (the checkpoint has: " + c.options() + ")");
        }
        if (!c.network().architecture().equals(arch)) {
            throw new IllegalArgumentException("--resume " + resume + ": holds " + c.network().architecture() + ", not " + arch);
        }
        if (c.state().epochsDone() >= epochs) {
            throw new IllegalArgumentException("--resume " + resume + ": the run already has " + c.state().epochsDone()
                    + " epochs; give a larger --epochs");
        }
        return c.state();
    }

    /** A progress bar per epoch on standard error, a summary line per epoch on standard output, and the checkpoints. */
    private static final class Progress implements Trainer.Listener {
        private final java.io.PrintWriter out;
        private final boolean bar;
        private ProgressBar current;
        int stoppedAt, bestEpoch;
        /** What to do with the state after an epoch (--checkpoint); nothing by default. */
        java.util.function.Consumer<Trainer.State> onCheckpoint = state -> { };

        @Override
        public void checkpoint(Trainer.State state) {
            onCheckpoint.accept(state);
        }

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
            String validation = Double.isNaN(r.validationLoss()) ? ""
                    : String.format("  val loss %.4f  val accuracy %.4f", r.validationLoss(), r.validationAccuracy());
            out.printf("epoch %2d  lr %.3g  loss %.4f  train accuracy %.4f%s  test accuracy %.4f  %,.0f samples/s%n", r.epoch(),
                    r.learningRate(), r.loss(), r.trainAccuracy(), validation, r.testAccuracy(), r.samplesPerSecond());
            out.flush();
        }

        @Override
        public void bestRestored(int last, int best, boolean early) {
            if (early) stoppedAt = last;
            bestEpoch = best;
            out.printf("%s; parameters of epoch %d (lowest validation loss) restored%n",
                    early ? "early stopping after epoch " + last : "last epoch " + last, best);
            out.flush();
        }
    }
}
