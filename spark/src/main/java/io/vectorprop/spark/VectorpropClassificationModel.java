package io.vectorprop.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Arrays;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

import io.vectorprop.model.Architecture;
import io.vectorprop.network.Network;

/**
 * The model a {@link VectorpropClassifier} fits: a Spark ML transformer that adds
 * {@code rawPrediction} (log-probabilities), {@code probability} and {@code prediction} columns, as
 * MLlib's classifiers do (set a column name to "" to leave it out). The parameters are broadcast once
 * per model and each executor JVM scores with one shared {@code Predictor}, a partition at a time in
 * 256-row batches.
 *
 * <p>{@code model.write().save(dir)} writes Spark ML's metadata and {@code dir/data/model.safetensors},
 * the vectorprop model file (architecture, parameters and the standardization, if any): a JVM service
 * loads that same file with {@code Predictor.load(Path.of(dir, "data", "model.safetensors"))}.
 *
 * <p>Thread-safety: the model's parameters are immutable once fitted or loaded; {@code transform} may be called from several threads, as Spark ML's models.
 */
public class VectorpropClassificationModel extends Model<VectorpropClassificationModel> implements MLWritable {
    private final String uid;
    private final byte[] modelFile;
    private final double[] lossHistory;
    private final Architecture architecture;
    private final boolean standardized;
    private final Param<String> featuresCol, predictionCol, probabilityCol, rawPredictionCol;
    /** Broadcast on the first transform and reused by later ones, so executors load the predictor once. */
    private transient Broadcast<byte[]> broadcast;
    private transient String broadcastKey;

    VectorpropClassificationModel(String uid, byte[] modelFile, double[] lossHistory) {
        this.uid = uid;
        this.modelFile = modelFile;
        this.lossHistory = lossHistory.clone();
        try (Network net = ModelBytes.toNetwork(modelFile, "of model " + uid)) {
            this.architecture = net.architecture();
            this.standardized = net.standardization() != null;
        }
        featuresCol = new Param<>(this, "featuresCol", "features column name (a vector of layers[0] values)");
        predictionCol = new Param<>(this, "predictionCol", "prediction column name (empty: not added)");
        probabilityCol = new Param<>(this, "probabilityCol", "column of class probabilities (empty: not added)");
        rawPredictionCol = new Param<>(this, "rawPredictionCol", "column of log-probabilities (empty: not added)");
        setDefault(featuresCol, "features");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
        setDefault(rawPredictionCol, "rawPrediction");
    }

    @Override public String uid() { return uid; }

    public Param<String> featuresCol() { return featuresCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public Param<String> rawPredictionCol() { return rawPredictionCol; }

    public VectorpropClassificationModel setFeaturesCol(String v) { set(featuresCol, v); return this; }
    public VectorpropClassificationModel setPredictionCol(String v) { set(predictionCol, v); return this; }
    public VectorpropClassificationModel setProbabilityCol(String v) { set(probabilityCol, v); return this; }
    public VectorpropClassificationModel setRawPredictionCol(String v) { set(rawPredictionCol, v); return this; }

    /** Layer sizes, inputs first. */
    public int[] layers() { return architecture.sizes(); }

    public int numFeatures() { return architecture.inputs(); }

    public int numClasses() { return architecture.outputs(); }

    /** Whether the model standardizes its inputs (the statistics are in the model file). */
    public boolean isStandardized() { return standardized; }

    /** The mean training loss of every epoch the fit ran (MLlib's objectiveHistory); empty for a loaded model. */
    public double[] lossHistory() { return lossHistory.clone(); }

    /** The vectorprop model file (safetensors) this model scores with, as written to {@code data/model.safetensors}. */
    public byte[] modelFile() { return modelFile.clone(); }

    /** Writes the vectorprop model file to {@code file}, for {@code Predictor.load} in a service. */
    public void saveModelFile(java.nio.file.Path file) throws IOException {
        Files.write(file, modelFile);
    }

    @Override
    public StructType transformSchema(StructType schema) {
        Columns.requireVector(schema, getOrDefault(featuresCol), "VectorpropClassificationModel");
        return Columns.withOutputs(schema, getOrDefault(rawPredictionCol), getOrDefault(probabilityCol),
                getOrDefault(predictionCol), numClasses(), "VectorpropClassificationModel");
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        String features = getOrDefault(featuresCol);
        Broadcast<byte[]> bc = broadcast(dataset.sparkSession());
        ScorePartition score = new ScorePartition(bc, broadcastKey, dataset.schema().fieldIndex(features),
                features, numFeatures(), numClasses(), !getOrDefault(rawPredictionCol).isEmpty(),
                !getOrDefault(probabilityCol).isEmpty(), !getOrDefault(predictionCol).isEmpty());
        return dataset.toDF().mapPartitions(score, Encoders.row(out));
    }

    private synchronized Broadcast<byte[]> broadcast(SparkSession spark) {
        if (broadcast == null) {
            broadcast = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(modelFile);
            broadcastKey = uid + "/" + java.util.UUID.randomUUID();
        }
        return broadcast;
    }

    @Override
    public VectorpropClassificationModel copy(ParamMap extra) {
        VectorpropClassificationModel copy = new VectorpropClassificationModel(uid, modelFile, lossHistory);
        copyValues(copy, extra);
        return copy.setParent(parent());
    }

    @Override
    public MLWriter write() {
        return ModelDirectory.writer(this, modelFile);
    }

    public static MLReader<VectorpropClassificationModel> read() {
        return new MLReader<>() {
            @Override
            public VectorpropClassificationModel load(String path) {
                try {
                    ModelDirectory.Metadata m = ModelDirectory.readMetadata(path, sparkSession(),
                            VectorpropClassificationModel.class);
                    byte[] file = ModelDirectory.read(sparkSession(), path, ModelDirectory.MODEL_FILE);
                    VectorpropClassificationModel model = new VectorpropClassificationModel(m.uid(), file, new double[0]);
                    m.applyTo(model);
                    return model;
                } catch (IOException e) {
                    throw new UncheckedIOException("VectorpropClassificationModel: loading " + path, e);
                }
            }
        };
    }

    public static VectorpropClassificationModel load(String path) {
        return read().load(path);
    }

    @Override
    public String toString() {
        return "VectorpropClassificationModel: uid=" + uid + ", layers=" + Arrays.toString(layers())
                + (standardized ? ", standardized inputs" : "");
    }
}
