package io.vectorprop.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** One local Spark for all test classes of the JVM, and the synthetic data they learn. */
final class TestData {
    private TestData() {}

    /** {@code local[2,4]}: two task threads, and a failed task is tried up to 4 times (as on a cluster). */
    static SparkSession spark() {
        return SparkSession.builder().master("local[2,4]").appName("vectorprop-spark-tests")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }

    static final StructType SCHEMA = new StructType(new StructField[] {
            new StructField("features", SQLDataTypes.VectorType(), false, Metadata.empty()),
            new StructField("label", DataTypes.DoubleType, false, Metadata.empty())});

    /**
     * {@code rows} samples of {@code classes} ≤ {@code features} Gaussian blobs: the centre of class k is
     * +spread on coordinate k and −spread on the others (plus an offset of 10, so that standardizing
     * matters), noise σ = {@code noise} per coordinate. Two centres are 2·spread·√2 apart; with spread 3
     * and noise 0.5 that is 17σ, so the nearest centre is the true class for all but a negligible fraction
     * of samples (the Bayes accuracy rounds to 100 %), and a classifier that learned the problem scores
     * ≈ 100 %.
     */
    static List<Row> blobs(int rows, int features, int classes, double spread, double noise, long seed) {
        Random rnd = new Random(seed);
        List<Row> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            int k = r % classes;
            double[] x = new double[features];
            for (int i = 0; i < features; i++) x[i] = (i == k ? spread : -spread) + noise * rnd.nextGaussian() + 10;
            out.add(RowFactory.create(Vectors.dense(x), (double) k));
        }
        return out;
    }

    static Dataset<Row> frame(SparkSession spark, List<Row> rows, int partitions) {
        return spark.createDataFrame(rows, SCHEMA).repartition(partitions);
    }

    /** The whole chain of messages of {@code t}: Spark wraps an executor's exception in a SparkException. */
    static String messages(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) sb.append(c.getMessage()).append(" | ");
        return sb.toString();
    }
}
