package io.vectorprop.spark;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel;
import org.apache.spark.ml.classification.MultilayerPerceptronClassifier;
import org.apache.spark.ml.evaluation.MulticlassClassificationEvaluator;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;

import io.vectorprop.data.CsvReader;
import io.vectorprop.data.IdxReader;

/**
 * Fashion-MNIST (an IDX directory) or a CSV pair ({@code …-train.csv}, whose {@code …-test.csv} is
 * beside it, e.g. the digits files {@code bench/peers/digits_csv.py} writes) in {@code local[2]}:
 * VectorpropClassifier, once per exchange named ({@code barrier}, {@code driver}), against MLlib's
 * MultilayerPerceptronClassifier with the same layers ({@code maxIter}: epochs for ours, L-BFGS
 * iterations for MLlib's, each at least one full pass; MLlib's may be given its own count), each
 * fitted {@code runs} times; prints wall time of fit and test accuracy as a Markdown table. An exchange
 * written {@code barrier:K} runs with {@code syncInterval} K (periodic averaging). {@code MLLIB_ITER} 0
 * leaves MLlib out, and {@code EXCHANGES} {@code none} leaves ours out: a first fit in a JVM pays for
 * compiling the code it runs (ours and Spark's), so the fair cold comparison runs each engine alone,
 * {@code RUNS} 1, in its own JVM.
 * Run: {@code ./mvnw -q -pl spark test-compile exec:exec@compare -Dcompare.args="DATA EPOCHS RUNS LAYERS
 * BATCH STEPSIZE EXCHANGES MLLIB_ITER"}. All read the same cached, 2-partition DataFrame, materialized
 * before any clock starts.
 */
public final class CompareWithMllib {
    public static void main(String[] args) throws Exception {
        Path data = Path.of(args.length > 0 ? args[0] : IdxReader.DEFAULT_DIR.toString());
        int epochs = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int[] layers = args.length > 3 ? io.vectorprop.model.Architecture.parseSizes(args[3]) : new int[] {784, 128, 10};
        int batch = args.length > 4 ? Integer.parseInt(args[4]) : 2048;
        double stepSize = args.length > 5 ? Double.parseDouble(args[5]) : 0.003;
        String[] exchanges = args.length > 6 && args[6].equals("none") ? new String[0]
                : (args.length > 6 ? args[6] : "barrier,driver").split(",");
        int mllibIter = args.length > 7 ? Integer.parseInt(args[7]) : epochs;
        SparkSession spark = SparkSession.builder().master("local[2]").appName("vectorprop-vs-mllib")
                .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        boolean csv = data.toString().endsWith("-train.csv");
        Dataset<Row> train = frame(spark, csv ? CsvReader.read(data) : IdxReader.load(data, "train")).cache();
        Dataset<Row> test = frame(spark, csv ? CsvReader.read(Path.of(data.toString().replace("-train.csv", "-test.csv")))
                : IdxReader.load(data, "t10k")).cache();
        System.out.printf(Locale.ROOT, "train %d rows, test %d rows, %d partitions; layers %s, %d passes, our batch %d, stepSize %s%n", train.count(),
                test.count(), train.rdd().getNumPartitions(), java.util.Arrays.toString(layers), epochs, batch, stepSize);
        // MLlib's BLAS: native (JNIBLAS, the system's libblas.so.3, e.g. OpenBLAS), VectorBLAS or F2jBLAS.
        System.out.println("MLlib BLAS: " + dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getName()
                + ", vectorprop: " + io.vectorprop.kernel.Kernels.get().description());
        MulticlassClassificationEvaluator acc = new MulticlassClassificationEvaluator().setMetricName("accuracy");
        List<String> table = new ArrayList<>();
        table.add("| run | engine | fit s | test acc | fit time / MLlib's |");
        table.add("|---|---|---|---|---|");
        for (int run = 1; run <= runs; run++) {
            List<String> lines = new ArrayList<>();
            List<Double> seconds = new ArrayList<>();
            for (String exchange : exchanges) {
                long t0 = System.nanoTime();
                String[] setting = exchange.split(":");          // barrier:K = periodic averaging every K steps
                VectorpropClassificationModel ours = new VectorpropClassifier().setLayers(layers).setMaxIter(epochs)
                        .setBatchSize(batch).setStepSize(stepSize).setSeed(run).setExchange(setting[0])
                        .setSyncInterval(setting.length > 1 ? Integer.parseInt(setting[1]) : 1).fit(train);
                seconds.add((System.nanoTime() - t0) / 1e9);
                lines.add(String.format(Locale.ROOT, "| %d | vectorprop, %s exchange | %.2f | %.4f |", run, exchange,
                        seconds.getLast(), acc.evaluate(ours.transform(test))));
            }
            if (mllibIter > 0) {
                long t0 = System.nanoTime();
                MultilayerPerceptronClassificationModel theirs = new MultilayerPerceptronClassifier().setLayers(layers)
                        .setMaxIter(mllibIter).setSeed(run).fit(train);
                double theirSeconds = (System.nanoTime() - t0) / 1e9;
                for (int e = 0; e < lines.size(); e++) {
                    lines.set(e, lines.get(e) + String.format(Locale.ROOT, " %.3f |", seconds.get(e) / theirSeconds));
                }
                lines.add(String.format(Locale.ROOT, "| %d | MLlib, %d iterations | %.2f | %.4f | 1 |", run, mllibIter, theirSeconds,
                        acc.evaluate(theirs.transform(test))));
            }
            lines.forEach(System.out::println);
            table.addAll(lines);
        }
        System.out.println(String.join("\n", table));
        spark.stop();
    }

    static Dataset<Row> frame(SparkSession spark, io.vectorprop.data.Dataset d) {
        List<Row> rows = new ArrayList<>(d.size());
        float[] row = new float[d.featureCount()];
        for (int r = 0; r < d.size(); r++) {
            d.features().rows(r, r + 1).copyTo(row);
            double[] x = new double[row.length];
            for (int i = 0; i < row.length; i++) x[i] = row[i];
            rows.add(RowFactory.create(Vectors.dense(x), (double) d.label(r)));
        }
        return spark.createDataFrame(rows, TestData.SCHEMA).repartition(2);
    }
}
