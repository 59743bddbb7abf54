package io.vectorprop.spark;

import java.io.IOException;
import java.util.Arrays;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntArrayParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;

import io.vectorprop.kernel.Activation;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;

/**
 * A Spark ML estimator for a dense softmax classifier trained by synchronous data-parallel mini-batch
 * SGD, momentum or Adam with vectorprop's kernels. Use it like MLlib's
 * {@code MultilayerPerceptronClassifier}:
 * <pre>{@code
 * VectorpropClassifier clf = new VectorpropClassifier()
 *         .setLayers(new int[] {784, 128, 10})     // inputs first, classes last
 *         .setMaxIter(10).setBatchSize(2048).setStepSize(0.003).setSeed(1);
 * VectorpropClassificationModel model = clf.fit(train);   // columns "features" (vector) and "label" (0 … k−1)
 * model.transform(test).select("prediction", "probability");
 * }</pre>
 * Each step, every partition computes the gradient sum of its share of the global batch against the
 * broadcast parameters, the driver adds them in partition order and applies the optimizer (see
 * {@code DataParallelTraining}): the same seed and the same partitioning give the same model, and a
 * retried task does not change a step. The training data is read once into cached row blocks.
 *
 * <p>Params: {@code featuresCol} ("features"), {@code labelCol} ("label"), {@code predictionCol},
 * {@code probabilityCol}, {@code rawPredictionCol} (passed on to the model), {@code layers} (required),
 * {@code activation} ("relu"; any element-wise activation of {@link Activation}), {@code optimizer}
 * ("adam"; sgd, momentum, nesterov, adam), {@code stepSize} (0.003), {@code batchSize} (2048, the global
 * mini-batch), {@code maxIter} (10 epochs), {@code seed} (0), {@code tol} (1e-6: stop when an epoch's
 * mean training loss falls by less than tol of itself), {@code standardize} (false: when true, inputs
 * are standardized with the training set's mean and σ, which become part of the model file),
 * {@code exchange} ("auto": the fit as one barrier stage whose tasks exchange gradients directly, where
 * the cluster allows it — no more partitions than task slots, no dynamic allocation — else "driver":
 * one Spark job per step, whose fixed cost of ~10–20 ms in local mode favours large batches; "barrier"
 * or "driver" to choose; both give the same bits; with {@code spark.authenticate} the barrier
 * exchange's connections authenticate with the application's secret),
 * {@code exchangeTimeout} (120 s: how long a barrier task waits for another before the stage fails),
 * {@code syncInterval} (1: exact synchronous SGD; K &gt; 1, barrier exchange only: a different algorithm,
 * periodic parameter averaging — each task steps on its own share of each batch and the tasks average
 * parameters and optimizer state every K steps and at the end of each epoch; see docs/spark.md).
 *
 * <p>Thread-safety: like Spark ML's estimators, configure it from one thread; {@code fit} may then run while others read its settings.
 */
public class VectorpropClassifier extends Estimator<VectorpropClassificationModel> implements MLWritable {
    private final String uid;
    private final Param<String> featuresCol, labelCol, predictionCol, probabilityCol, rawPredictionCol, activation, exchange,
            optimizer;
    private final IntArrayParam layers;
    private final DoubleParam stepSize, tol;
    private final IntParam batchSize, maxIter, exchangeTimeout, syncInterval;
    private final LongParam seed;
    private final BooleanParam standardize;

    public VectorpropClassifier() {
        this(Identifiable$.MODULE$.randomUID("vectorpropClassifier"));
    }

    /** With a given uid (Spark's copy and load call this). */
    public VectorpropClassifier(String uid) {
        this.uid = uid;
        featuresCol = new Param<>(this, "featuresCol", "features column name (a vector of layers[0] values)");
        labelCol = new Param<>(this, "labelCol", "label column name (a number, the class index 0 … k−1)");
        predictionCol = new Param<>(this, "predictionCol", "prediction column name (empty: not added)");
        probabilityCol = new Param<>(this, "probabilityCol", "column of class probabilities (empty: not added)");
        rawPredictionCol = new Param<>(this, "rawPredictionCol", "column of log-probabilities (empty: not added)");
        layers = new IntArrayParam(this, "layers", "sizes of the layers, inputs first and classes last");
        activation = new Param<>(this, "activation", "hidden activation: " + VectorpropClassifier.activations());
        optimizer = new Param<>(this, "optimizer", "optimizer: sgd, momentum, nesterov or adam");
        stepSize = new DoubleParam(this, "stepSize", "learning rate (> 0)");
        batchSize = new IntParam(this, "batchSize", "rows per global mini-batch, over all partitions (≥ 1)");
        maxIter = new IntParam(this, "maxIter", "epochs: passes over the training data (≥ 1)");
        seed = new LongParam(this, "seed", "seed of the initial weights and of the shuffles");
        tol = new DoubleParam(this, "tol", "stop when an epoch's training loss falls by less than tol of itself (≥ 0)");
        standardize = new BooleanParam(this, "standardize", "standardize inputs with the training set's mean and σ");
        exchange = new Param<>(this, "exchange", "how gradients are added: auto, barrier (the fit as one barrier stage, "
                + "tasks exchange directly) or driver (one job per step)");
        exchangeTimeout = new IntParam(this, "exchangeTimeout", "seconds a barrier task waits for another before failing (≥ 1)");
        syncInterval = new IntParam(this, "syncInterval", "1: exact synchronous SGD; K > 1: each task steps on its own "
                + "share and the tasks average parameters and optimizer state every K steps and at each epoch's end");
        setDefault(featuresCol, "features");
        setDefault(labelCol, "label");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
        setDefault(rawPredictionCol, "rawPrediction");
        setDefault(activation, "relu");
        setDefault(optimizer, "adam");
        setDefault(stepSize, 0.003);
        setDefault(batchSize, 2048);
        setDefault(maxIter, 10);
        setDefault(seed, 0L);
        setDefault(tol, 1e-6);
        setDefault(standardize, false);
        setDefault(exchange, "auto");
        setDefault(exchangeTimeout, 120);
        setDefault(syncInterval, 1);
    }

    static String activations() {
        return String.join(", ", Arrays.stream(Activation.values()).filter(Activation::isElementwise).map(Activation::id)
                .toList());
    }

    @Override public String uid() { return uid; }

    public Param<String> featuresCol() { return featuresCol; }
    public Param<String> labelCol() { return labelCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public Param<String> rawPredictionCol() { return rawPredictionCol; }
    public IntArrayParam layers() { return layers; }
    public Param<String> activation() { return activation; }
    public Param<String> optimizer() { return optimizer; }
    public DoubleParam stepSize() { return stepSize; }
    public IntParam batchSize() { return batchSize; }
    public IntParam maxIter() { return maxIter; }
    public LongParam seed() { return seed; }
    public DoubleParam tol() { return tol; }
    public BooleanParam standardize() { return standardize; }
    public Param<String> exchange() { return exchange; }
    public IntParam exchangeTimeout() { return exchangeTimeout; }
    public IntParam syncInterval() { return syncInterval; }

    public VectorpropClassifier setFeaturesCol(String v) { set(featuresCol, v); return this; }
    public VectorpropClassifier setLabelCol(String v) { set(labelCol, v); return this; }
    public VectorpropClassifier setPredictionCol(String v) { set(predictionCol, v); return this; }
    public VectorpropClassifier setProbabilityCol(String v) { set(probabilityCol, v); return this; }
    public VectorpropClassifier setRawPredictionCol(String v) { set(rawPredictionCol, v); return this; }

    public VectorpropClassifier setLayers(int[] v) { checkLayers(v); set(layers, v.clone()); return this; }
    public VectorpropClassifier setActivation(String v) { checkActivation(v); set(activation, v); return this; }
    public VectorpropClassifier setOptimizer(String v) { Optimizer.Kind.parse(v); set(optimizer, v); return this; }
    public VectorpropClassifier setStepSize(double v) { checkStepSize(v); set(stepSize, v); return this; }
    public VectorpropClassifier setBatchSize(int v) { checkAtLeastOne("batchSize", v); set(batchSize, v); return this; }
    public VectorpropClassifier setMaxIter(int v) { checkAtLeastOne("maxIter", v); set(maxIter, v); return this; }
    public VectorpropClassifier setSeed(long v) { set(seed, v); return this; }
    public VectorpropClassifier setTol(double v) { checkTol(v); set(tol, v); return this; }
    public VectorpropClassifier setStandardize(boolean v) { set(standardize, v); return this; }
    public VectorpropClassifier setExchange(String v) { DataParallelTraining.Exchange.parse(v); set(exchange, v); return this; }
    public VectorpropClassifier setExchangeTimeout(int v) { checkAtLeastOne("exchangeTimeout", v); set(exchangeTimeout, v); return this; }
    public VectorpropClassifier setSyncInterval(int v) { checkAtLeastOne("syncInterval", v); set(syncInterval, v); return this; }

    public String getFeaturesCol() { return getOrDefault(featuresCol); }
    public String getLabelCol() { return getOrDefault(labelCol); }
    public int[] getLayers() { return isDefined(layers) ? getOrDefault(layers).clone() : null; }
    public String getActivation() { return getOrDefault(activation); }
    public String getOptimizer() { return getOrDefault(optimizer); }
    public double getStepSize() { return (Double) getOrDefault(stepSize); }
    public int getBatchSize() { return (Integer) getOrDefault(batchSize); }
    public int getMaxIter() { return (Integer) getOrDefault(maxIter); }
    public long getSeed() { return (Long) getOrDefault(seed); }
    public double getTol() { return (Double) getOrDefault(tol); }
    public boolean getStandardize() { return (Boolean) getOrDefault(standardize); }
    public String getExchange() { return getOrDefault(exchange); }
    public int getExchangeTimeout() { return (Integer) getOrDefault(exchangeTimeout); }
    public int getSyncInterval() { return (Integer) getOrDefault(syncInterval); }

    private static void checkLayers(int[] v) {
        if (v == null || v.length < 2) {
            throw new IllegalArgumentException("VectorpropClassifier: layers " + Arrays.toString(v)
                    + " needs at least an input size and a class count");
        }
        for (int s : v) {
            if (s < 1) throw new IllegalArgumentException("VectorpropClassifier: layers " + Arrays.toString(v)
                    + ": every size must be at least 1");
        }
        if (v[v.length - 1] < 2) {
            throw new IllegalArgumentException("VectorpropClassifier: layers " + Arrays.toString(v)
                    + ": the last size is the number of classes, at least 2");
        }
    }

    private static Activation checkActivation(String v) {
        Activation a = Activation.parse(v);
        if (!a.isElementwise()) {
            throw new IllegalArgumentException("VectorpropClassifier: activation '" + v + "' is not element-wise; use one of "
                    + activations());
        }
        return a;
    }

    private static void checkStepSize(double v) {
        if (!(v > 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException("VectorpropClassifier: stepSize " + v + " must be positive and finite");
        }
    }

    private static void checkTol(double v) {
        if (!(v >= 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException("VectorpropClassifier: tol " + v + " must be zero or positive and finite");
        }
    }

    private static void checkAtLeastOne(String name, int v) {
        if (v < 1) throw new IllegalArgumentException("VectorpropClassifier: " + name + " " + v + " must be at least 1");
    }

    /** The validated options (params set through a ParamMap reach here unchecked, so every one is checked again). */
    DataParallelTraining.Options options() {
        if (!isDefined(layers)) {
            throw new IllegalArgumentException("VectorpropClassifier: set layers, e.g. setLayers(new int[] {784, 128, 10})");
        }
        int[] l = getOrDefault(layers);
        checkLayers(l);
        checkStepSize(getStepSize());
        checkTol(getTol());
        checkAtLeastOne("batchSize", getBatchSize());
        checkAtLeastOne("maxIter", getMaxIter());
        checkAtLeastOne("exchangeTimeout", getExchangeTimeout());
        checkAtLeastOne("syncInterval", getSyncInterval());
        return new DataParallelTraining.Options(l.clone(), checkActivation(getActivation()),
                Optimizer.Kind.parse(getOptimizer()), (float) getStepSize(), getBatchSize(), getMaxIter(), getSeed(),
                getTol(), getStandardize(), DataParallelTraining.Exchange.parse(getExchange()), getExchangeTimeout(),
                getSyncInterval());
    }

    @Override
    public StructType transformSchema(StructType schema) {
        int[] l = options().layers();
        Columns.requireVector(schema, getFeaturesCol(), "VectorpropClassifier");
        Columns.requireNumeric(schema, getLabelCol(), "VectorpropClassifier");
        return Columns.withOutputs(schema, getOrDefault(rawPredictionCol), getOrDefault(probabilityCol),
                getOrDefault(predictionCol), l[l.length - 1], "VectorpropClassifier");
    }

    @Override
    public VectorpropClassificationModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        DataParallelTraining.Options o = options();
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(dataset.sparkSession().sparkContext());
        int[] l = o.layers();
        JavaRDD<RowBlock> blocks = DataParallelTraining.blocks(dataset, getFeaturesCol(), getLabelCol(), l[0],
                l[l.length - 1]);
        try {
            int[] partitionRows = DataParallelTraining.partitionRows(blocks);
            DataParallelTraining.Outcome outcome = DataParallelTraining.train(jsc, blocks, partitionRows, o);
            byte[] file;
            try (Network net = outcome.network()) {
                file = ModelBytes.of(net);
            }
            VectorpropClassificationModel model = new VectorpropClassificationModel(uid, file, outcome.lossHistory());
            copyValues(model, ParamMap.empty());
            model.setParent(this);
            return model;
        } finally {
            blocks.unpersist(false);
        }
    }

    @Override
    public VectorpropClassifier copy(ParamMap extra) {
        return defaultCopy(extra);
    }

    @Override
    public MLWriter write() {
        return ModelDirectory.writer(this, null);
    }

    /** Reads an estimator written by {@link #write()} (Spark's {@code Pipeline.load} finds it here). */
    public static MLReader<VectorpropClassifier> read() {
        return new MLReader<>() {
            @Override
            public VectorpropClassifier load(String path) {
                try {
                    ModelDirectory.Metadata m = ModelDirectory.readMetadata(path, sparkSession(), VectorpropClassifier.class);
                    VectorpropClassifier c = new VectorpropClassifier(m.uid());
                    m.applyTo(c);
                    return c;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException("VectorpropClassifier: loading " + path, e);
                }
            }
        };
    }

    public static VectorpropClassifier load(String path) {
        return read().load(path);
    }
}
