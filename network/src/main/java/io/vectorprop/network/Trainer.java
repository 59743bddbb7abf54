package io.vectorprop.network;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.Standardization;

/**
 * Mini-batch training: each epoch shuffles the sample order (seeded; or keeps it with
 * {@code shuffle = false}), sets the epoch's learning rate from the {@link Schedule}, then for each
 * batch runs forward (with inverted dropout on the hidden layers when asked), loss, backward (BP1–BP4)
 * and one optimizer step, and finally measures the held-out validation set and the test set.
 * Samples enter the network through its {@link Network#standardization() standardization}, if it has
 * one. Same seed and thread count give bit-identical results, and so does a run resumed from a
 * {@link State} saved at the end of an epoch: every random draw of an epoch (order, dropout masks)
 * comes from a generator seeded by the run's seed and the epoch number, never from earlier draws.
 *
 * <p>A non-finite loss stops training with {@link DivergedException} naming the epoch and batch;
 * the parameters are restored to those at the start of that epoch, the last ones known to be good.
 * With early stopping, training stops after {@code earlyStopping} epochs without a lower validation
 * loss, and the parameters of the best epoch are restored (also when the run ends normally).
 */
public final class Trainer {
    /** Seeds of the per-epoch generators are {@code seed·EPOCH_SEED_STRIDE + epoch}: a large odd prime keeps runs with nearby seeds apart. */
    static final long EPOCH_SEED_STRIDE = 1_000_003L;
    /** Added to the seed for the validation split, so that the split does not repeat epoch 0's order. */
    static final long VALIDATION_SEED_SALT = 0x5EED_5E1EL;
    /** Added to the per-epoch seed of the dropout masks, so that masks and order are independent draws. */
    static final long DROPOUT_SEED_SALT = 0xD40_9017L;

    /**
     * Settings of a run.
     *
     * @param batchSize          samples per step
     * @param epochs             passes over the training samples
     * @param seed               seeds shuffling, the validation split and the dropout masks
     * @param shuffle            false keeps the data's order in every epoch
     * @param schedule           the learning rate of each epoch, from the optimizer's configured rate
     * @param validationFraction the share of the training set held out (seeded split), 0 for none
     * @param earlyStopping      stop after this many epochs without a lower validation loss; 0 for never
     * @param dropout            probability of dropping a hidden unit during training, 0 for none
     */
    public record Config(int batchSize, int epochs, long seed, boolean shuffle, Schedule schedule,
                         double validationFraction, int earlyStopping, float dropout) {
        public Config {
            if (batchSize < 1) throw new IllegalArgumentException("batch size " + batchSize + " must be at least 1");
            if (epochs < 1) throw new IllegalArgumentException("epochs " + epochs + " must be at least 1");
            java.util.Objects.requireNonNull(schedule, "schedule");
            if (!(validationFraction >= 0 && validationFraction < 1)) {
                throw new IllegalArgumentException("validation fraction " + validationFraction + " must be in [0, 1)");
            }
            if (earlyStopping < 0) throw new IllegalArgumentException("early stopping " + earlyStopping + " must be 0 (off) or more");
            if (earlyStopping > 0 && validationFraction == 0) {
                throw new IllegalArgumentException("early stopping watches the validation loss: give a validation fraction too");
            }
            if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout " + dropout + " must be in [0, 1)");
        }

        /** Constant learning rate, no validation, no early stopping, no dropout. */
        public Config(int batchSize, int epochs, long seed, boolean shuffle) {
            this(batchSize, epochs, seed, shuffle, Schedule.constant(), 0, 0, 0f);
        }
    }

    /** What one epoch measured; validation figures are NaN without a validation set, test figures without a test set. */
    public record EpochResult(int epoch, double loss, double trainAccuracy, double validationLoss, double validationAccuracy,
                              double testAccuracy, double samplesPerSecond, float learningRate) {}

    /**
     * Where a run stands at the end of an epoch: enough, with the network's parameters and the
     * optimizer's state, to continue it exactly. {@code bestParameters} is the parameter block of the
     * best epoch so far (early stopping), or null.
     */
    public record State(int epochsDone, double bestValidationLoss, int bestEpoch, int epochsWithoutImprovement,
                        float[] bestParameters) {}

    /** Progress callbacks; all default to doing nothing. */
    public interface Listener {
        default void epochStarted(int epoch, int batches) {}
        default void batchDone(int epoch, int batch, double loss) {}
        default void epochDone(EpochResult result) {}
        /** Called after {@link #epochDone} with the state to save for a resume (the parameters are the network's now). */
        default void checkpoint(State state) {}
        /**
         * With early stopping, at the end of the run: the parameters of {@code bestEpoch} were restored;
         * {@code stoppedEarly} tells whether the run stopped before its last epoch ({@code lastEpoch}).
         */
        default void bestRestored(int lastEpoch, int bestEpoch, boolean stoppedEarly) {}
    }

    /** Thrown when the loss becomes NaN or infinite. */
    public static final class DivergedException extends RuntimeException {
        public DivergedException(String message) { super(message); }
    }

    private final Config config;
    /** What a null listener stands for. */
    private static final Listener SILENT = new Listener() {};

    public Trainer(Config config) {
        this.config = config;
    }

    public Config config() { return config; }

    /**
     * Trains {@code net} on {@code train}, evaluating on {@code test} (may be null) after every epoch;
     * {@code listener} (may be null: no events) hears of each epoch and batch.
     */
    public List<EpochResult> train(Network net, Optimizer optimizer, Dataset train, Dataset test, Listener listener) {
        return train(net, optimizer, train, test, listener, null);
    }

    /**
     * Trains from {@code resume} (null: from the start): epochs {@code resume.epochsDone() + 1 …
     * epochs}, with the network and optimizer already holding the state saved with it. {@code listener}
     * may be null.
     */
    public List<EpochResult> train(Network net, Optimizer optimizer, Dataset train, Dataset test, Listener listener,
                                   State resume) {
        Listener events = listener != null ? listener : SILENT;
        checkData(net, train);
        if (test != null) checkData(net, test);
        int[][] split = split(train.size());
        int[] order = split[0], validation = split[1];
        int n = order.length, b = Math.min(config.batchSize(), n);
        int batches = (n + b - 1) / b;
        float baseRate = optimizer.config().learningRate();
        List<EpochResult> results = new ArrayList<>();
        int firstEpoch = resume == null ? 1 : resume.epochsDone() + 1;
        double bestLoss = resume == null ? Double.POSITIVE_INFINITY : resume.bestValidationLoss();
        int bestEpoch = resume == null ? 0 : resume.bestEpoch();
        int sinceBest = resume == null ? 0 : resume.epochsWithoutImprovement();
        boolean early = config.earlyStopping() > 0;
        float[] maskValues = config.dropout() > 0 ? new float[maxHidden(net.architecture()) * b] : null;
        try (Workspace ws = net.newWorkspace(b);
             var snapshotArena = java.lang.foreign.Arena.ofConfined()) {
            Matrix snapshot = Matrix.allocate(snapshotArena, 1, net.parameters().cols());
            Matrix best = early ? Matrix.allocate(snapshotArena, 1, net.parameters().cols()) : null;
            if (early && resume != null && resume.bestParameters() != null) best.copyFrom(resume.bestParameters());
            for (int epoch = firstEpoch; epoch <= config.epochs(); epoch++) {
                // Every draw of this epoch from generators seeded by (seed, epoch): a resumed run repeats them.
                if (config.shuffle()) {
                    java.util.Arrays.sort(order);                  // from the same start every epoch
                    shuffle(order, new Random(config.seed() * EPOCH_SEED_STRIDE + epoch));
                }
                java.util.SplittableRandom masks = new java.util.SplittableRandom(
                        config.seed() * EPOCH_SEED_STRIDE + epoch + DROPOUT_SEED_SALT);
                snapshot.copyFrom(net.parameters());
                float rate = config.schedule().rate(baseRate, epoch, config.epochs());
                optimizer.setLearningRate(rate);
                events.epochStarted(epoch, batches);
                double lossSum = 0;
                long correct = 0;
                long start = System.nanoTime();
                for (int batch = 0; batch < batches; batch++) {
                    int from = batch * b, rows = Math.min(b, n - from);
                    ws.setRows(rows);
                    load(net, train, order, from, rows, ws);
                    if (maskValues != null) {
                        ws.setDropout(true);
                        fillMasks(ws, net.architecture(), config.dropout(), masks, maskValues);
                    }
                    net.forward(ws);
                    double loss = net.loss(ws);
                    if (!Double.isFinite(loss)) {
                        net.parameters().copyFrom(snapshot);
                        ws.setDropout(false);
                        throw new DivergedException("training diverged: the loss is " + loss + " at epoch " + epoch
                                + ", batch " + (batch + 1) + " of " + batches + "; parameters restored to the start of epoch "
                                + epoch + " (try a smaller --lr)");
                    }
                    correct += countCorrect(net, ws, train, order, from);
                    net.backwardAndStep(ws, optimizer);
                    ws.setDropout(false);
                    lossSum += loss * rows;
                    events.batchDone(epoch, batch + 1, loss);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                double[] val = validation.length == 0 ? new double[] {Double.NaN, Double.NaN} : lossAndAccuracy(net, train, validation, ws);
                double testAccuracy = test == null ? Double.NaN : accuracy(net, test, ws);
                EpochResult r = new EpochResult(epoch, lossSum / n, (double) correct / n, val[0], val[1], testAccuracy,
                        n / seconds, rate);
                results.add(r);
                events.epochDone(r);
                boolean stop = false;
                if (early) {
                    if (val[0] < bestLoss) {
                        bestLoss = val[0];
                        bestEpoch = epoch;
                        sinceBest = 0;
                        best.copyFrom(net.parameters());
                    } else {
                        sinceBest++;
                        stop = sinceBest >= config.earlyStopping();
                    }
                }
                events.checkpoint(new State(epoch, bestLoss, bestEpoch, sinceBest, early ? best.toArray() : null));
                if (stop) {
                    net.parameters().copyFrom(best);
                    events.bestRestored(epoch, bestEpoch, true);
                    return results;
                }
            }
            if (early && bestEpoch > 0) {
                net.parameters().copyFrom(best);
                events.bestRestored(config.epochs(), bestEpoch, false);
            }
        }
        return results;
    }

    /** The input standardization fitted on the samples this run trains on (the validation split held out). */
    public Standardization fitStandardization(Dataset train) {
        return Standardization.fit(train, split(train.size())[0]);
    }

    /** [training indices, validation indices]: a seeded split of 0 … n−1, each part in ascending order. */
    int[][] split(int n) {
        int held = config.validationFraction() == 0 ? 0 : (int) Math.round(config.validationFraction() * n);
        if (config.validationFraction() > 0 && (held < 1 || held > n - 1)) {
            throw new IllegalArgumentException("validation fraction " + config.validationFraction() + " of " + n
                    + " samples leaves " + held + " for validation and " + (n - held) + " for training; each needs at least 1");
        }
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        if (held > 0) shuffle(all, new Random(config.seed() + VALIDATION_SEED_SALT));
        int[] validation = java.util.Arrays.copyOfRange(all, 0, held), training = java.util.Arrays.copyOfRange(all, held, n);
        java.util.Arrays.sort(validation);
        java.util.Arrays.sort(training);
        return new int[][] {training, validation};
    }

    private static int maxHidden(Architecture a) {
        int max = 1;
        for (int l = 1; l < a.layers(); l++) max = Math.max(max, a.size(l));
        return max;
    }

    /** Inverted dropout: each hidden unit kept with probability 1 − p and then scaled by 1/(1 − p), so inference needs no change. */
    static void fillMasks(Workspace ws, Architecture a, float p, java.util.SplittableRandom rnd, float[] values) {
        float keep = 1f / (1f - p);
        for (int l = 1; l < a.layers(); l++) {
            Matrix m = ws.dropoutMask(l);
            int count = m.rows() * m.cols();
            for (int i = 0; i < count; i++) values[i] = rnd.nextFloat() < p ? 0f : keep;
            // The mask's rows are contiguous (a workspace matrix): one copy of the used part, no copy of the array.
            MemorySegment.copy(values, 0, m.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, m.offset() * Float.BYTES, count);
        }
    }

    /** Mean loss and accuracy of {@code net} on the samples {@code indices} of {@code data}. */
    static double[] lossAndAccuracy(Network net, Dataset data, int[] indices, Workspace ws) {
        int b = ws.capacity();
        double lossSum = 0;
        long correct = 0;
        for (int from = 0; from < indices.length; from += b) {
            int rows = Math.min(b, indices.length - from);
            ws.setRows(rows);
            load(net, data, indices, from, rows, ws);
            net.forward(ws);
            lossSum += net.loss(ws) * rows;
            correct += countCorrect(net, ws, data, indices, from);
        }
        return new double[] {lossSum / indices.length, (double) correct / indices.length};
    }

    static void checkData(Network net, Dataset data) {
        Architecture arch = net.architecture();
        if (data.featureCount() != arch.inputs()) {
            throw new IllegalArgumentException(data.source() + ": samples have " + data.featureCount()
                    + " features but the network's input layer has " + arch.inputs() + " (--layers " + arch.sizesText() + ")");
        }
        int needed = arch.outputs() == 1 ? 2 : arch.outputs();
        for (int i = 0; i < data.size(); i++) {
            if (data.label(i) >= needed) {
                throw new IllegalArgumentException(data.source() + ": sample " + i + " has label " + data.label(i)
                        + " but the network has " + arch.outputs() + " outputs (--layers " + arch.sizesText() + ")");
            }
        }
    }

    private static void shuffle(int[] order, Random rnd) {
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }

    /**
     * Copies samples order[from … from+rows) into ws.x (standardized by the network's standardization,
     * if it has one) and their one-hot targets into ws.y.
     */
    static void load(Network net, Dataset data, int[] order, int from, int rows, Workspace ws) {
        copyRows(data, order, from, rows, ws);
        net.standardize(ws.x());
    }

    private static void copyRows(Dataset data, int[] order, int from, int rows, Workspace ws) {
        Matrix features = data.features(), x = ws.x(), y = ws.y();
        long rowBytes = (long) features.cols() * Float.BYTES;
        y.fill(0f);
        boolean binary = y.cols() == 1;
        for (int r = 0; r < rows; r++) {
            int i = order == null ? from + r : order[from + r];
            MemorySegment.copy(features.segment(), (features.offset() + (long) i * features.stride()) * Float.BYTES,
                    x.segment(), (x.offset() + (long) r * x.stride()) * Float.BYTES, rowBytes);
            if (binary) {
                y.set(r, 0, data.label(i));
            } else {
                y.set(r, data.label(i), 1f);
            }
        }
    }

    private static long countCorrect(Network net, Workspace ws, Dataset data, int[] order, int from) {
        int rows = ws.rows();
        predictedClasses(net, ws);
        long correct = 0;
        for (int r = 0; r < rows; r++) {
            if (ws.predicted[r] == data.label(order == null ? from + r : order[from + r])) correct++;
        }
        return correct;
    }

    /** Fills ws.predicted for the rows in use from the last forward pass. */
    static void predictedClasses(Network net, Workspace ws) {
        classes(net.kernels(), ws.output(), ws.predicted);
    }

    /**
     * The class of each row of {@code out} into {@code predicted[0 … rows)}: the argmax of the outputs
     * (the first on ties), or with a single output class 1 from 0.5 up.
     */
    static void classes(io.vectorprop.kernel.Kernels kernels, Matrix out, int[] predicted) {
        if (out.cols() == 1) {
            for (int r = 0; r < out.rows(); r++) predicted[r] = out.get(r, 0) >= 0.5f ? 1 : 0;
        } else if (predicted.length == out.rows()) {
            kernels.argmax(out, predicted);
        } else {
            int[] p = new int[out.rows()];                   // a partial last batch: argmax wants an array of its rows
            kernels.argmax(out, p);
            System.arraycopy(p, 0, predicted, 0, p.length);
        }
    }

    /** Fraction of {@code data} classified correctly, computed in batches of the workspace's capacity. */
    public static double accuracy(Network net, Dataset data, Workspace ws) {
        return evaluate(net, data, ws, null);
    }

    /** Accuracy, and when {@code confusion} is not null, counts {@code confusion[label][predicted]}. */
    public static double evaluate(Network net, Dataset data, Workspace ws, long[][] confusion) {
        checkData(net, data);
        long correct = 0;
        int b = ws.capacity();
        for (int from = 0; from < data.size(); from += b) {
            int rows = Math.min(b, data.size() - from);
            ws.setRows(rows);
            load(net, data, null, from, rows, ws);
            net.forward(ws);
            predictedClasses(net, ws);
            for (int r = 0; r < rows; r++) {
                int label = data.label(from + r), predicted = ws.predicted[r];
                if (predicted == label) correct++;
                if (confusion != null) confusion[label][predicted]++;
            }
        }
        return (double) correct / data.size();
    }

    /**
     * Fraction of {@code data} a predictor classifies correctly (argmax of the outputs; a single output
     * is class 1 from 0.5 up), counting into {@code confusion} [true][predicted] when it is not null.
     * This is the serving path, so it also measures what a predictor option such as bf16 weights costs.
     */
    public static double evaluate(Predictor predictor, Dataset data, long[][] confusion) {
        Architecture a = predictor.architecture();
        if (data.featureCount() != a.inputs()) {
            throw new IllegalArgumentException("evaluate: the data has " + data.featureCount() + " features, the network "
                    + a.sizesText() + " takes " + a.inputs());
        }
        long correct = 0;
        int chunk = 256;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Matrix out = Matrix.allocate(arena, chunk, a.outputs());
            int[] predicted = new int[chunk];
            for (int from = 0; from < data.size(); from += chunk) {
                int rows = Math.min(chunk, data.size() - from);
                Matrix o = out.rows(0, rows);
                predictor.predict(data.features().rows(from, from + rows), o);
                classes(io.vectorprop.kernel.Kernels.get(), o, predicted);
                for (int r = 0; r < rows; r++) {
                    int label = data.label(from + r);
                    if (predicted[r] == label) correct++;
                    if (confusion != null) confusion[label][predicted[r]]++;
                }
            }
        }
        return (double) correct / data.size();
    }
}
