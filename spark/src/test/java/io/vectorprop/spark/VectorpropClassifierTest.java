package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class VectorpropClassifierTest {
    static SparkSession spark;

    @BeforeAll
    static void start() { spark = TestData.spark(); }

    static double accuracy(Dataset<Row> scored) {
        List<Row> rows = scored.select("label", "prediction").collectAsList();
        long right = rows.stream().filter(r -> r.getDouble(0) == r.getDouble(1)).count();
        return (double) right / rows.size();
    }

    @Test
    void learnsSeparableBlobsToNearlyAllCorrect() {
        Dataset<Row> train = TestData.frame(spark, TestData.blobs(2000, 8, 4, 3, 0.5, 1), 3);
        Dataset<Row> test = TestData.frame(spark, TestData.blobs(1000, 8, 4, 3, 0.5, 2), 2);
        long t0 = System.nanoTime();
        VectorpropClassificationModel model = new VectorpropClassifier().setLayers(new int[] {8, 16, 4})
                .setMaxIter(8).setBatchSize(100).setStepSize(0.01).setStandardize(true).setSeed(7).fit(train);
        System.out.printf("fit: %.2f s, loss history %s%n", (System.nanoTime() - t0) / 1e9,
                java.util.Arrays.toString(model.lossHistory()));
        double acc = accuracy(model.transform(test));
        System.out.println("test accuracy " + acc);
        assertTrue(acc >= 0.99, "test accuracy " + acc);
    }
}
