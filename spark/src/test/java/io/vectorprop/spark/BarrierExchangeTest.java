package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.vectorprop.network.Optimizer;

/**
 * The barrier exchange (one barrier stage per epoch, gradients reduce-scattered and all-gathered
 * between its tasks) against the job-per-step exchange, where the driver adds the partitions'
 * gradients: the same data, seed and partitioning must give the same model bytes and loss history,
 * for every optimizer; where a barrier stage cannot run (more partitions than task slots) asking for it
 * is refused and "auto" falls back to the driver.
 */
class BarrierExchangeTest {
    static SparkSession spark;
    static Dataset<Row> twoPartitions, threePartitions;

    @BeforeAll
    static void start() {
        spark = TestData.spark();                                  // local[2,4]: two task slots
        twoPartitions = TestData.frame(spark, TestData.blobs(1001, 8, 4, 3, 0.5, 11), 2).cache();
        threePartitions = TestData.frame(spark, TestData.blobs(900, 8, 4, 3, 0.5, 12), 3).cache();
    }

    static VectorpropClassifier classifier(Optimizer.Kind kind) {
        return new VectorpropClassifier().setLayers(new int[] {8, 16, 4}).setMaxIter(3).setBatchSize(64)
                .setStepSize(0.01).setStandardize(true).setSeed(3).setOptimizer(kind.name().toLowerCase())
                .setExchangeTimeout(30);
    }

    @Test
    void barrierAndDriverExchangesGiveTheSameModelBytesForEveryOptimizer() {
        for (Optimizer.Kind kind : Optimizer.Kind.values()) {
            VectorpropClassificationModel driver = classifier(kind).setExchange("driver").fit(twoPartitions);
            VectorpropClassificationModel barrier = classifier(kind).setExchange("barrier").fit(twoPartitions);
            assertArrayEquals(driver.modelFile(), barrier.modelFile(), kind + ": barrier and driver exchanges disagree");
            assertArrayEquals(driver.lossHistory(), barrier.lossHistory(), kind + ": loss histories disagree");
        }
    }

    @Test
    void autoTakesTheBarrierWhereItCanAndTheDriverWhereItCannot() {
        byte[] driver = classifier(Optimizer.Kind.ADAM).setExchange("driver").fit(twoPartitions).modelFile();
        assertArrayEquals(driver, classifier(Optimizer.Kind.ADAM).fit(twoPartitions).modelFile(), "auto, 2 partitions");
        // three partitions on two task slots: a barrier stage cannot start them all at once
        var e = assertThrows(IllegalArgumentException.class,
                () -> classifier(Optimizer.Kind.ADAM).setExchange("barrier").fit(threePartitions));
        assertTrue(e.getMessage().contains("3 partitions but the cluster 2 task slots"), e.getMessage());
        assertArrayEquals(classifier(Optimizer.Kind.ADAM).setExchange("driver").fit(threePartitions).modelFile(),
                classifier(Optimizer.Kind.ADAM).setExchange("auto").fit(threePartitions).modelFile(), "auto falls back to the driver");
    }

    @Test
    void exchangeSettingsAreChecked() {
        var e = assertThrows(IllegalArgumentException.class, () -> new VectorpropClassifier().setExchange("gossip"));
        assertTrue(e.getMessage().contains("'gossip' is not one of auto, barrier, driver"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new VectorpropClassifier().setExchangeTimeout(0));
        assertTrue(e.getMessage().contains("exchangeTimeout 0 must be at least 1"), e.getMessage());
        assertEquals("auto", new VectorpropClassifier().getExchange());
        assertEquals(120, new VectorpropClassifier().getExchangeTimeout());
    }

    @Test
    void aTaskFailingInTheMiddleOfAnEpochMakesSparkRerunItToTheSameBits() throws Exception {
        byte[] clean = classifier(Optimizer.Kind.ADAM).setExchange("barrier").fit(twoPartitions).modelFile();
        FailedTasks failed = FailedTasks.listen(spark.sparkContext());
        spark.sparkContext().setLocalProperty(BarrierTraining.FAIL_PROPERTY, "1 fail");
        try {
            byte[] rerun = classifier(Optimizer.Kind.ADAM).setExchange("barrier").fit(twoPartitions).modelFile();
            assertTrue(failed.count() >= 1, "the injected failure happened");
            assertArrayEquals(clean, rerun, "the rerun epoch must give the same bits");
        } finally {
            spark.sparkContext().setLocalProperty(BarrierTraining.FAIL_PROPERTY, null);
            spark.sparkContext().removeSparkListener(failed);
        }
    }

    /**
     * syncInterval K &gt; 1 is another algorithm (periodic averaging): it must still be deterministic, still
     * learn the separable blobs, differ from the exact exchange, and be refused where no barrier stage runs.
     */
    @Test
    void periodicAveragingIsDeterministicLearnsAndNeedsTheBarrier() {
        VectorpropClassificationModel averaged = classifier(Optimizer.Kind.ADAM).setSyncInterval(4).fit(twoPartitions);
        assertArrayEquals(averaged.modelFile(), classifier(Optimizer.Kind.ADAM).setSyncInterval(4).fit(twoPartitions).modelFile(),
                "same seed, same bytes");
        assertFalse(Arrays.equals(averaged.modelFile(), classifier(Optimizer.Kind.ADAM).fit(twoPartitions).modelFile()),
                "averaging every 4 steps is not the exact exchange");
        double[] losses = averaged.lossHistory();
        assertTrue(losses[losses.length - 1] < 0.5 * losses[0], Arrays.toString(losses));
        assertTrue(VectorpropClassifierTest.accuracy(averaged.transform(twoPartitions)) > 0.95);
        var e = assertThrows(IllegalArgumentException.class,
                () -> classifier(Optimizer.Kind.ADAM).setSyncInterval(4).setExchange("driver").fit(twoPartitions));
        assertTrue(e.getMessage().contains("syncInterval 4 (periodic averaging) needs the barrier exchange"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> classifier(Optimizer.Kind.ADAM).setSyncInterval(4).fit(threePartitions));
        assertTrue(e.getMessage().contains("3 partitions but the cluster 2 task slots"), e.getMessage());
    }
}
