package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The barrier exchange across JVMs: Spark's {@code local-cluster[2,1,1024]} runs a standalone master
 * and two workers in this JVM, each worker starting its executor as a JVM of its own, so the tasks of a
 * barrier stage meet and exchange gradients over real sockets between processes. Outside Spark's own
 * build it needs {@code spark.testing} and a Spark home ({@code spark.test.home}: two empty build
 * directories will do, the executors' class path being this JVM's). The model must be the same bytes as in
 * {@code local[2]}, also when a task fails in its first attempt and when an executor halts in the
 * middle of an epoch (the master starts another, Spark reruns the epoch's stage). The cluster runs with
 * {@code spark.authenticate}, so the exchange's connections authenticate as Spark's own do.
 */
class LocalClusterTest {
    @TempDir static Path sparkHome;

    static VectorpropClassifier classifier() {
        return BarrierExchangeTest.classifier(io.vectorprop.network.Optimizer.Kind.ADAM).setExchange("barrier");
    }

    /**
     * Fits on {@code rows} sliced into two partitions in order: a shuffle ({@code repartition}) would not
     * do, as the order of the rows it delivers to a partition depends on the order in which the
     * partition's blocks are fetched, which differs between one JVM and several.
     */
    static byte[] fit(SparkSession spark, List<Row> rows) {
        var jsc = org.apache.spark.api.java.JavaSparkContext.fromSparkContext(spark.sparkContext());
        return classifier().fit(spark.createDataFrame(jsc.parallelize(rows, 2), TestData.SCHEMA)).modelFile();
    }

    @Test
    void sameModelBytesAcrossJvmsAsInOneJvmWithATaskFailureAndAnExecutorHalted() throws Exception {
        // Once per suite: what crosses JVMs here does not depend on the vector width, and the cluster's start
        // and an executor's restart cost about a minute of the suite's ten on two cores.
        assumeTrue(System.getProperty("vectorprop.vectorBits") == null, "runs at the machine's own vector width only");
        List<Row> rows = TestData.blobs(1001, 8, 4, 3, 0.5, 11);
        SparkSession local = TestData.spark();
        byte[] expected = fit(local, rows);
        local.stop();
        // What the launcher looks for in a Spark home: a build directory, whose name gives the Scala
        // version, and the assembly's jar directory (left empty: the executors get this JVM's class path).
        Files.createDirectories(sparkHome.resolve("launcher/target/scala-2.13"));
        Files.createDirectories(sparkHome.resolve("assembly/target/scala-2.13/jars"));
        System.setProperty("spark.testing", "true");                // read by the in-process workers
        System.setProperty("spark.test.home", sparkHome.toString());
        SparkSession cluster = SparkSession.builder().master("local-cluster[2,1,1024]").appName("vectorprop-local-cluster")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.test.home", sparkHome.toString())
                .config("spark.executor.extraClassPath", System.getProperty("java.class.path"))
                .config("spark.executor.extraJavaOptions", System.getProperty("vectorprop.executor.flags", ""))
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.authenticate", "true")                 // the exchange authenticates too
                .config("spark.authenticate.secret", "vectorprop-local-cluster-test")
                .getOrCreate();
        try {
            assertArrayEquals(expected, fit(cluster, rows), "local-cluster and local[2]");
            FailedTasks failed = FailedTasks.listen(cluster.sparkContext());
            try {
                cluster.sparkContext().setLocalProperty(BarrierTraining.FAIL_PROPERTY, "1 fail");
                assertArrayEquals(expected, fit(cluster, rows), "a task failed in its first attempt");
                int afterFailure = failed.count();
                assertTrue(afterFailure >= 1, "the injected task failure happened");
                cluster.sparkContext().setLocalProperty(BarrierTraining.FAIL_PROPERTY, "2 halt");
                assertArrayEquals(expected, fit(cluster, rows), "an executor halted in the middle of an epoch");
                assertTrue(failed.count() > afterFailure, "the halted executor's task failed");
            } finally {
                cluster.sparkContext().setLocalProperty(BarrierTraining.FAIL_PROPERTY, null);
            }
        } finally {
            cluster.stop();
            System.clearProperty("spark.testing");
            System.clearProperty("spark.test.home");
        }
    }
}
