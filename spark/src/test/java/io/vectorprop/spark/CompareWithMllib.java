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

import io.vectorprop.data.IdxReader;

/**
 * Fashion-MNIST in {@code local[2]}: VectorpropClassifier against MLlib's
 * MultilayerPerceptronClassifier with the same layers and the same number of passes over the data
 * ({@code maxIter}: epochs for ours, L-BFGS iterations for MLlib's, each at least one full pass), each
 * fitted {@code runs} times; prints wall time of fit and test accuracy as a Markdown table.
 * Run: {@code ./mvnw -q -pl spark test-compile exec:exec@compare} (arguments: see the pom).
 * Both read the same cached, 2-partition DataFrame, materialized before any clock starts.
 */
public final class CompareWithMllib {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args.length > 0 ? args[0] : IdxReader.DEFAULT_DIR.toString());
        int epochs = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int runs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int[] layers = args.length > 3 ? io.vectorprop.model.Architecture.parseSizes(args[3]) : new int[] {784, 128, 10};
        int batch = args.length > 4 ? Integer.parseInt(args[4]) : 2048;
        double stepSize = args.length > 5 ? Double.parseDouble(args[5]) : 0.003;
        SparkSession spark = SparkSession.builder().master("local[2]").appName("vectorprop-vs-mllib")
                .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        Dataset<Row> train = frame(spark, IdxReader.load(dir, "train")).cache();
        Dataset<Row> test = frame(spark, IdxReader.load(dir, "t10k")).cache();
        System.out.printf(Locale.ROOT, "train %d rows, test %d rows, %d partitions; layers %s, %d passes, our batch %d, stepSize %s%n", train.count(),
                test.count(), train.rdd().getNumPartitions(), java.util.Arrays.toString(layers), epochs, batch, stepSize);
        // MLlib's BLAS: native (JNIBLAS, the system's libblas.so.3, e.g. OpenBLAS), VectorBLAS or F2jBLAS.
        System.out.println("MLlib BLAS: " + dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getName()
                + ", vectorprop: " + io.vectorprop.kernel.Kernels.get().description());
        MulticlassClassificationEvaluator acc = new MulticlassClassificationEvaluator().setMetricName("accuracy");
        List<String> table = new ArrayList<>();
        table.add("| run | vectorprop fit s | vectorprop test acc | MLlib fit s | MLlib test acc | time ratio |");
        table.add("|---|---|---|---|---|---|");
        for (int run = 1; run <= runs; run++) {
            long t0 = System.nanoTime();
            VectorpropClassificationModel ours = new VectorpropClassifier().setLayers(layers).setMaxIter(epochs)
                    .setBatchSize(batch).setStepSize(stepSize).setSeed(run).fit(train);
            double oursSeconds = (System.nanoTime() - t0) / 1e9;
            double oursAcc = acc.evaluate(ours.transform(test));
            t0 = System.nanoTime();
            MultilayerPerceptronClassificationModel theirs = new MultilayerPerceptronClassifier().setLayers(layers)
                    .setMaxIter(epochs).setSeed(run).fit(train);
            double theirSeconds = (System.nanoTime() - t0) / 1e9;
            double theirAcc = acc.evaluate(theirs.transform(test));
            String line = String.format(Locale.ROOT, "| %d | %.1f | %.4f | %.1f | %.4f | %.3f |", run, oursSeconds, oursAcc,
                    theirSeconds, theirAcc, oursSeconds / theirSeconds);
            System.out.println(line);
            table.add(line);
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
