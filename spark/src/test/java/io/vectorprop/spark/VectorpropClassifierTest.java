package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Predictor;

class VectorpropClassifierTest {
    static SparkSession spark;
    static Dataset<Row> train, test;

    @BeforeAll
    static void start() {
        spark = TestData.spark();
        train = TestData.frame(spark, TestData.blobs(2000, 8, 4, 3, 0.5, 1), 3).cache();
        test = TestData.frame(spark, TestData.blobs(1000, 8, 4, 3, 0.5, 2), 2).cache();
    }

    static VectorpropClassifier small() {
        return new VectorpropClassifier().setLayers(new int[] {8, 16, 4}).setMaxIter(3).setBatchSize(200)
                .setStepSize(0.01).setStandardize(true).setSeed(7);
    }

    static double accuracy(Dataset<Row> scored) {
        List<Row> rows = scored.select("label", "prediction").collectAsList();
        long right = rows.stream().filter(r -> r.getDouble(0) == r.getDouble(1)).count();
        return (double) right / rows.size();
    }

    @Test
    void learnsSeparableBlobsToNearlyAllCorrect() {
        VectorpropClassificationModel model = small().setMaxIter(8).setBatchSize(100).fit(train);
        double[] history = model.lossHistory();
        assertEquals(8, history.length);
        assertTrue(history[7] < history[0] / 10, "loss history " + Arrays.toString(history));
        double acc = accuracy(model.transform(test));
        System.out.println("blobs: test accuracy " + acc + ", loss history " + Arrays.toString(history));
        assertTrue(acc >= 0.99, "test accuracy " + acc + " (the Bayes accuracy of these blobs rounds to 1)");
    }

    @Test
    void everyOptimizerTrainsAndUnknownOnesAreRefused() {
        for (Optimizer.Kind kind : Optimizer.Kind.values()) {
            double lr = kind == Optimizer.Kind.ADAM ? 0.01 : 0.1;
            VectorpropClassificationModel m = small().setOptimizer(kind.name().toLowerCase()).setStepSize(lr).fit(train);
            double[] h = m.lossHistory();
            assertTrue(h[h.length - 1] < h[0], kind + ": loss history " + Arrays.toString(h));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> small().setOptimizer("lbfgs"));
        assertTrue(e.getMessage().contains("lbfgs"), e.getMessage());
    }

    @Test
    void everyElementwiseActivationIsAcceptedAndOthersAreRefused() {
        for (Activation a : Activation.values()) {
            if (a.isElementwise()) {
                assertEquals(a.id(), small().setActivation(a.id()).getActivation());
            } else {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> small().setActivation(a.id()));
                assertTrue(e.getMessage().contains("not element-wise"), e.getMessage());
            }
        }
    }

    @Test
    void sameSeedAndPartitioningGiveTheSameModelEvenWhenTasksFailAndAreRetried() {
        byte[] first = small().fit(train).modelFile();
        byte[] again = small().fit(train).modelFile();
        assertArrayEquals(first, again, "same seed, same partitioning");
        assertFalse(Arrays.equals(first, small().setSeed(8).fit(train).modelFile()), "another seed gives another model");
        PartitionGradient.failFirstAttemptAtStep = 5;     // every task of step 5 fails once; Spark retries it
        int injectedBefore = PartitionGradient.injectedFailures.get();
        try {
            byte[] retried = small().fit(train).modelFile();
            assertEquals(3, PartitionGradient.injectedFailures.get() - injectedBefore, "one failure per partition of step 5");
            assertArrayEquals(first, retried, "a retried step must not change the model");
        } finally {
            PartitionGradient.failFirstAttemptAtStep = -1;
        }
    }

    @Test
    void saveLoadRoundTripScoresTheSameAndTheModelFileLoadsInAPredictor(@TempDir Path dir) throws Exception {
        VectorpropClassificationModel model = small().fit(train);
        String path = dir.resolve("model").toString();
        model.write().overwrite().save(path);
        VectorpropClassificationModel loaded = VectorpropClassificationModel.load(path);
        assertEquals(model.uid(), loaded.uid());
        assertArrayEquals(model.layers(), loaded.layers());
        assertTrue(loaded.isStandardized());
        List<Row> before = model.transform(test).select("features", "probability", "prediction").collectAsList();
        List<Row> after = loaded.transform(test).select("probability", "prediction").collectAsList();
        Path file = dir.resolve("model").resolve("data").resolve("model.safetensors");
        assertArrayEquals(model.modelFile(), Files.readAllBytes(file));
        try (Predictor service = Predictor.load(file)) {
            float[] in = new float[8], out = new float[4];
            for (int r = 0; r < before.size(); r++) {
                assertEquals(before.get(r).get(1), after.get(r).get(0), "probability of row " + r);
                assertEquals(before.get(r).getDouble(2), after.get(r).getDouble(1), "prediction of row " + r);
                double[] x = ((Vector) before.get(r).get(0)).toArray();
                for (int i = 0; i < 8; i++) in[i] = (float) x[i];
                service.predict(in, out);
                double[] p = ((Vector) before.get(r).get(1)).toArray();
                for (int c = 0; c < 4; c++) assertEquals(out[c], p[c], 1e-6, "row " + r + " class " + c + ": Predictor vs Spark");
            }
        }
        // The estimator saves and loads too, and both do inside a Spark ML pipeline (Spark's own loader).
        VectorpropClassifier clf = small().setBatchSize(123);
        clf.write().overwrite().save(dir.resolve("estimator").toString());
        VectorpropClassifier clf2 = VectorpropClassifier.load(dir.resolve("estimator").toString());
        assertEquals(123, clf2.getBatchSize());
        assertArrayEquals(new int[] {8, 16, 4}, clf2.getLayers());
        PipelineModel pm = new Pipeline().setStages(new PipelineStage[] {small()}).fit(train);
        pm.write().overwrite().save(dir.resolve("pipeline").toString());
        PipelineModel pm2 = PipelineModel.load(dir.resolve("pipeline").toString());
        assertEquals(accuracy(pm.transform(test)), accuracy(pm2.transform(test)));
    }

    @Test
    void executorsKeepThePredictorsOfTheLastFewModelsOnlyAndEachScoresWithItsOwn() {
        List<Row> reference = null;
        for (int seed = 0; seed < ExecutorPredictors.KEEP + 2; seed++) {
            VectorpropClassificationModel m = small().setMaxIter(1).setSeed(100 + seed).fit(train);
            List<Row> p = m.transform(test).select("probability").collectAsList();
            if (reference != null) assertFalse(reference.equals(p), "model " + seed + " scored like another model");
            reference = p;
            assertTrue(ExecutorPredictors.held() <= ExecutorPredictors.KEEP, ExecutorPredictors.held() + " predictors held");
        }
    }

    @Test
    void badColumnsAndValuesFailWithClearMessages() {
        StructType stringFeatures = new StructType(new StructField[] {
                new StructField("features", DataTypes.StringType, false, Metadata.empty()),
                new StructField("label", DataTypes.DoubleType, false, Metadata.empty())});
        Dataset<Row> strings = spark.createDataFrame(List.of(RowFactory.create("1,2,3", 0.0)), stringFeatures);
        String m = assertThrows(IllegalArgumentException.class, () -> small().fit(strings)).getMessage();
        assertTrue(m.contains("column 'features' has type string") && m.contains("vector"), m);

        m = assertThrows(IllegalArgumentException.class, () -> small().setLabelCol("y").fit(train)).getMessage();
        assertTrue(m.contains("no column 'y'") && m.contains("features, label"), m);

        Dataset<Row> short3 = spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(1, 2, 3), 0.0)), TestData.SCHEMA);
        m = TestData.messages(assertThrows(Exception.class, () -> small().fit(short3)));
        assertTrue(m.contains("vector of size 3") && m.contains("layers[0] = 8"), m);

        Dataset<Row> badLabel = spark.createDataFrame(
                List.of(RowFactory.create(Vectors.dense(new double[8]), 4.0)), TestData.SCHEMA);
        m = TestData.messages(assertThrows(Exception.class, () -> small().fit(badLabel)));
        assertTrue(m.contains("label 4.0") && m.contains("0..3"), m);

        Dataset<Row> nan = spark.createDataFrame(
                List.of(RowFactory.create(Vectors.dense(1, 2, Double.NaN, 4, 5, 6, 7, 8), 1.0)), TestData.SCHEMA);
        m = TestData.messages(assertThrows(Exception.class, () -> small().fit(nan)));
        assertTrue(m.contains("element 2 is NaN"), m);

        VectorpropClassificationModel model = small().setMaxIter(1).fit(train);
        m = TestData.messages(assertThrows(Exception.class, () -> model.transform(short3).collectAsList()));
        assertTrue(m.contains("vector of size 3") && m.contains("8 inputs"), m);

        m = assertThrows(IllegalArgumentException.class, () -> new VectorpropClassifier().fit(train)).getMessage();
        assertTrue(m.contains("set layers"), m);
        m = assertThrows(IllegalArgumentException.class, () -> small().setLayers(new int[] {8, 0, 4})).getMessage();
        assertTrue(m.contains("[8, 0, 4]"), m);
        m = assertThrows(IllegalArgumentException.class, () -> small().setStepSize(-1)).getMessage();
        assertTrue(m.contains("stepSize -1.0"), m);
    }
}
