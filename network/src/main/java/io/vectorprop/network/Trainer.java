package io.vectorprop.network;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import io.vectorprop.data.Dataset;
import io.vectorprop.kernel.Matrix;

/**
 * Mini-batch training: each epoch shuffles the sample order (seeded; or keeps it with
 * {@code shuffle = false}), then for each batch runs forward, loss, backward (BP1–BP4) and one
 * optimizer step, and finally evaluates on the test set. Same seed and thread count give
 * bit-identical results. A non-finite loss stops training with {@link DivergedException} naming the
 * epoch and batch; the parameters are restored to those at the start of that epoch, the last ones
 * known to be good.
 */
public final class Trainer {
    /** Settings of a run. */
    /**
     * Settings of a run. {@code lrDecay} multiplies the learning rate after every epoch (1 keeps it
     * constant): epoch e uses {@code η·lrDecay^(e−1)}.
     */
    public record Config(int batchSize, int epochs, long seed, boolean shuffle, float lrDecay) {
        public Config {
            if (batchSize < 1) throw new IllegalArgumentException("batch size " + batchSize + " must be at least 1");
            if (epochs < 1) throw new IllegalArgumentException("epochs " + epochs + " must be at least 1");
            if (!(lrDecay > 0 && lrDecay <= 1)) throw new IllegalArgumentException("learning-rate decay " + lrDecay + " must be in (0, 1]");
        }

        public Config(int batchSize, int epochs, long seed, boolean shuffle) {
            this(batchSize, epochs, seed, shuffle, 1f);
        }
    }

    /** What one epoch measured. */
    public record EpochResult(int epoch, double loss, double trainAccuracy, double testAccuracy, double samplesPerSecond) {}

    /** Progress callbacks; all default to doing nothing. */
    public interface Listener {
        default void epochStarted(int epoch, int batches) {}
        default void batchDone(int epoch, int batch, double loss) {}
        default void epochDone(EpochResult result) {}
    }

    /** Thrown when the loss becomes NaN or infinite. */
    public static final class DivergedException extends RuntimeException {
        public DivergedException(String message) { super(message); }
    }

    private final Config config;

    public Trainer(Config config) {
        this.config = config;
    }

    /** Trains {@code net} on {@code train}, evaluating on {@code test} (may be null) after every epoch. */
    public List<EpochResult> train(Network net, Optimizer optimizer, Dataset train, Dataset test, Listener listener) {
        checkData(net, train);
        if (test != null) checkData(net, test);
        int n = train.size(), b = Math.min(config.batchSize(), n);
        int batches = (n + b - 1) / b;
        int[] order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        List<EpochResult> results = new ArrayList<>();
        try (Workspace ws = net.newWorkspace(b);
             var snapshotArena = java.lang.foreign.Arena.ofConfined()) {
            Matrix snapshot = Matrix.allocate(snapshotArena, 1, net.parameters().cols());
            for (int epoch = 1; epoch <= config.epochs(); epoch++) {
                if (config.shuffle()) shuffle(order, new Random(config.seed() * 1_000_003L + epoch));
                snapshot.copyFrom(net.parameters());
                if (epoch > 1) optimizer.setLearningRate(optimizer.learningRate() * config.lrDecay());
                listener.epochStarted(epoch, batches);
                double lossSum = 0;
                long correct = 0;
                long start = System.nanoTime();
                for (int batch = 0; batch < batches; batch++) {
                    int from = batch * b, rows = Math.min(b, n - from);
                    ws.setRows(rows);
                    load(train, order, from, rows, ws);
                    net.forward(ws);
                    double loss = net.loss(ws);
                    if (!Double.isFinite(loss)) {
                        net.parameters().copyFrom(snapshot);
                        throw new DivergedException("training diverged: the loss is " + loss + " at epoch " + epoch
                                + ", batch " + (batch + 1) + " of " + batches + "; parameters restored to the start of epoch "
                                + epoch + " (try a smaller --lr)");
                    }
                    correct += countCorrect(net, ws, train, order, from);
                    net.backwardAndStep(ws, optimizer);
                    lossSum += loss * rows;
                    listener.batchDone(epoch, batch + 1, loss);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                double testAccuracy = test == null ? Double.NaN : accuracy(net, test, ws);
                EpochResult r = new EpochResult(epoch, lossSum / n, (double) correct / n, testAccuracy, n / seconds);
                results.add(r);
                listener.epochDone(r);
            }
        }
        return results;
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

    /** Copies samples order[from … from+rows) into ws.x and their one-hot targets into ws.y. */
    static void load(Dataset data, int[] order, int from, int rows, Workspace ws) {
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
        Matrix out = ws.output();
        if (out.cols() == 1) {
            for (int r = 0; r < ws.rows(); r++) ws.predicted[r] = out.get(r, 0) >= 0.5f ? 1 : 0;
        } else if (ws.rows() == ws.capacity()) {
            net.kernels().argmax(out, ws.predicted);
        } else {
            int[] p = new int[ws.rows()];
            net.kernels().argmax(out, p);
            System.arraycopy(p, 0, ws.predicted, 0, p.length);
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
            load(data, null, from, rows, ws);
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
                if (a.outputs() == 1) {
                    for (int r = 0; r < rows; r++) predicted[r] = o.get(r, 0) >= 0.5f ? 1 : 0;
                } else {
                    int[] p = rows == chunk ? predicted : new int[rows];
                    io.vectorprop.kernel.Kernels.get().argmax(o, p);
                    if (p != predicted) System.arraycopy(p, 0, predicted, 0, rows);
                }
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
