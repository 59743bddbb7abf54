package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.linalg.SQLDataTypes;
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
import org.junit.jupiter.api.Test;

/**
 * The blocks the fit trains on hold the DataFrame's rows exactly: each row's features as floats, in
 * partition and row order, for dense and sparse vectors, with a double or an integer label, from a
 * cached DataFrame and a plain one — read from Spark SQL's internal rows, checked against Spark's own
 * conversion to {@code Row}s — and from {@code Row} objects (the path of a Dataset that is not Spark's
 * classic, in-process one).
 */
class RowBlockTest {
    static final int FEATURES = 7, CLASSES = 3;

    @Test
    void blocksHoldTheRowsOfEveryKindOfVectorAndLabel() {
        SparkSession spark = TestData.spark();
        Random rnd = new Random(5);
        List<Row> rows = new ArrayList<>();
        for (int r = 0; r < 200; r++) {
            double[] v = new double[FEATURES];
            for (int i = 0; i < FEATURES; i++) v[i] = rnd.nextInt(3) == 0 ? 0 : rnd.nextGaussian() * 100;
            Vector features = r % 3 == 0 ? Vectors.dense(v).toSparse() : Vectors.dense(v);
            rows.add(RowFactory.create(features, r % CLASSES));
        }
        StructType intLabels = new StructType(new StructField[] {
                new StructField("features", SQLDataTypes.VectorType(), false, Metadata.empty()),
                new StructField("label", DataTypes.IntegerType, false, Metadata.empty())});
        Dataset<Row> ints = spark.createDataFrame(rows, intLabels).coalesce(2);
        Dataset<Row> doubles = ints.withColumn("label", ints.col("label").cast(DataTypes.DoubleType));
        for (Dataset<Row> df : List.of(ints, doubles, doubles.cache())) {
            List<RowBlock> internal = DataParallelTraining.blocks(df, "features", "label", FEATURES, CLASSES).collect();
            List<RowBlock> fromRows = new JavaRDD<>(BlockJobs.read(df.rdd(), false, FEATURES, CLASSES, "features", "label"),
                    BlockJobs.ROW_BLOCK).collect();
            checkBlocks(df, internal, "from internal rows");
            checkBlocks(df, fromRows, "from Row objects");
        }
    }

    private static void checkBlocks(Dataset<Row> df, List<RowBlock> blocks, String path) {
        List<List<Row>> expected = df.javaRDD().glom().collect();
        assertEquals(expected.size(), blocks.size(), path + ": partitions");
        for (int p = 0; p < blocks.size(); p++) {
            RowBlock b = blocks.get(p);
            List<Row> want = expected.get(p);
            assertEquals(want.size(), b.rows(), path + ": rows of partition " + p);
            for (int r = 0; r < b.rows(); r++) {
                double[] v = ((Vector) want.get(r).get(0)).toArray();
                for (int i = 0; i < FEATURES; i++) {
                    assertEquals((float) v[i], b.feature(r, i), 0f, path + ": partition " + p + ", row " + r + ", feature " + i);
                }
                assertEquals(((Number) want.get(r).get(1)).intValue(), b.label(r), path + ": label of partition " + p + ", row " + r);
            }
        }
    }

    /**
     * Rows split over chunks (one row per chunk, rows that end inside a chunk, one chunk for all) read
     * back the same, by element and by row copy, before and after Java serialization (how Spark spills
     * a cached block to disk).
     */
    @Test
    void aBlockInChunksHoldsItsRowsBeforeAndAfterSerialization() throws IOException, ClassNotFoundException {
        Random rnd = new Random(11);
        List<Row> rows = new ArrayList<>();
        for (int r = 0; r < 23; r++) {
            double[] v = new double[FEATURES];
            for (int i = 0; i < FEATURES; i++) v[i] = rnd.nextInt(3) == 0 ? 0 : rnd.nextGaussian();
            rows.add(RowFactory.create(r % 2 == 0 ? Vectors.dense(v).toSparse() : Vectors.dense(v), (double) (r % CLASSES)));
        }
        for (int chunkFloats : new int[] {1, FEATURES, 3 * FEATURES + 2, 23 * FEATURES, RowBlock.CHUNK_FLOATS}) {
            RowBlock read = RowBlock.read(4, rows.iterator(), 0, 1, FEATURES, CLASSES, "features", "label", chunkFloats);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                out.writeObject(read);
            }
            RowBlock back;
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
                back = (RowBlock) in.readObject();
            }
            for (RowBlock b : List.of(read, back)) {
                String which = (b == read ? "read" : "deserialized") + " with chunks of " + chunkFloats + " floats";
                assertEquals(rows.size(), b.rows(), which);
                assertEquals(4, b.partition(), which);
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment copy = arena.allocate((long) (FEATURES + 2) * Float.BYTES);
                    for (int r = 0; r < rows.size(); r++) {
                        double[] v = ((Vector) rows.get(r).get(0)).toArray();
                        b.copyRow(r, copy, Float.BYTES);
                        for (int i = 0; i < FEATURES; i++) {
                            assertEquals((float) v[i], b.feature(r, i), 0f, which + ", row " + r + ", feature " + i);
                            assertEquals((float) v[i], copy.getAtIndex(ValueLayout.JAVA_FLOAT, i + 1), 0f,
                                    which + ", row " + r + ", feature " + i + " copied");
                        }
                        assertEquals(0f, copy.getAtIndex(ValueLayout.JAVA_FLOAT, FEATURES + 1), which + ": a row copy wrote past its row");
                        assertEquals(r % CLASSES, b.label(r), which + ", label of row " + r);
                    }
                }
            }
        }
    }
}
