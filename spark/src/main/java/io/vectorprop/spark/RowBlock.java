package io.vectorprop.spark;

import java.io.Serial;
import java.io.Serializable;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Objects;

import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * One partition's training rows, converted once from the DataFrame: each row's features as
 * {@code features} consecutive floats (copied into a batch's {@link io.vectorprop.kernel.Matrix} row by
 * row), and the class index of every row. The training RDD caches these blocks, so a step reads them
 * and never rescans the DataFrame.
 *
 * <p>The floats live on the Java heap, in chunks of at most {@link #CHUNK_FLOATS}: Spark's storage
 * accounting (which sizes a cached object by walking it) then sees the block's real size, so the
 * executor's storage memory, not an unaccounted native allocation, holds the training data; and the
 * rows stream in with their number unknown, so the block grows by whole chunks, each written once
 * (no doubling and copying), on heap memory the JVM has usually touched before rather than fresh native
 * memory, whose page faults made most of a fit's read (docs/spark.md). A chunk is at most 4 MiB, so no
 * array nears Java's length limit however many rows a partition holds.
 */
final class RowBlock implements Serializable {
    @Serial private static final long serialVersionUID = 2L;

    /** Most floats in one chunk: 4 MiB less an array header. */
    static final int CHUNK_FLOATS = (1 << 20) - 16;

    private final int partition, features;
    private final int chunkRows;            // rows per chunk: chunk c holds rows [c·chunkRows, (c+1)·chunkRows)
    private int rows;
    private float[][] chunks;
    private int[] labels;                   // the first rows are in use

    private RowBlock(int partition, int features, int chunkFloats) {
        if (features < 1) throw new IllegalArgumentException("a row block needs at least one feature, got " + features);
        this.partition = partition;
        this.features = features;
        this.chunkRows = Math.max(1, chunkFloats / features);
        this.chunks = new float[4][];
        this.labels = new int[Math.min(chunkRows, 1024)];
    }

    /** Room for one more row: a new chunk when the last is full. */
    private void ensureRoom() {
        if (rows % chunkRows == 0) {
            int c = rows / chunkRows;
            if (c == chunks.length) chunks = Arrays.copyOf(chunks, 2 * c);
            chunks[c] = new float[Math.multiplyExact(chunkRows, features)];
        }
        if (rows == labels.length) labels = Arrays.copyOf(labels, Math.max(16, 2 * rows));
    }

    /** Drops the room no row uses, so that the cached (and, when Spark spills it, serialized) block holds its rows only. */
    private void trim() {
        int used = (rows + chunkRows - 1) / chunkRows;
        chunks = Arrays.copyOf(chunks, used);
        if (used > 0) chunks[used - 1] = Arrays.copyOf(chunks[used - 1], (rows - (used - 1) * chunkRows) * features);
        labels = Arrays.copyOf(labels, rows);
    }

    private float[] chunkOf(int row) {
        return chunks[row / chunkRows];
    }

    private int offsetOf(int row) {
        return (row % chunkRows) * features;
    }

    /**
     * Reads a partition's rows (features at {@code featuresIndex}, a numeric label at {@code labelIndex})
     * into a block, checking every row: the vector size must be {@code features}, every value finite, the
     * label an integer in {@code [0, classes)}. The error names the partition, the row and the value.
     * Rows are copied in as they stream by; none is kept as a Java object.
     */
    static RowBlock read(int partition, Iterator<Row> it, int featuresIndex, int labelIndex, int features, int classes,
                         String featuresCol, String labelCol) {
        return read(partition, it, featuresIndex, labelIndex, features, classes, featuresCol, labelCol, CHUNK_FLOATS);
    }

    /** {@link #read(int, Iterator, int, int, int, int, String, String)} with chunks of at most {@code chunkFloats} floats (tests: many chunks from few rows). */
    static RowBlock read(int partition, Iterator<Row> it, int featuresIndex, int labelIndex, int features, int classes,
                         String featuresCol, String labelCol, int chunkFloats) {
        RowBlock b = new RowBlock(partition, features, chunkFloats);
        while (it.hasNext()) {
            Row row = it.next();
            if (row.isNullAt(featuresIndex)) throw bad(partition, b.rows, "column '" + featuresCol + "' is null");
            if (row.isNullAt(labelIndex)) throw bad(partition, b.rows, "column '" + labelCol + "' is null");
            b.append((Vector) row.get(featuresIndex), ((Number) row.get(labelIndex)).doubleValue(), classes, featuresCol, labelCol);
        }
        b.trim();
        return b;
    }

    private static final VectorUDT VECTOR = new VectorUDT();

    /**
     * {@link #read(int, Iterator, int, int, int, int, String, String)} from Spark SQL's internal rows: the
     * features, a vector column, at ordinal 0 and the label, cast to a double, at 1. It skips the conversion of
     * every row to a {@code Row} object that {@code Dataset.rdd()} makes (and the code Spark generates and
     * compiles for it).
     */
    static RowBlock readInternal(int partition, Iterator<InternalRow> it, int features, int classes, String featuresCol,
                                 String labelCol) {
        RowBlock b = new RowBlock(partition, features, CHUNK_FLOATS);
        while (it.hasNext()) {
            InternalRow row = it.next();
            if (row.isNullAt(0)) throw bad(partition, b.rows, "column '" + featuresCol + "' is null");
            if (row.isNullAt(1)) throw bad(partition, b.rows, "column '" + labelCol + "' is null");
            b.append(VECTOR.deserialize(row.getStruct(0, VECTOR.sqlType().size())), row.getDouble(1), classes, featuresCol,
                    labelCol);
        }
        b.trim();
        return b;
    }

    /** Checks one row (see {@link #read}) and appends it. */
    private void append(Vector v, double label, int classes, String featuresCol, String labelCol) {
        int r = rows;
        if (v.size() != features) {
            throw bad(partition, r, "column '" + featuresCol + "' holds a vector of size " + v.size()
                    + ", but layers[0] = " + features + " inputs");
        }
        if (label != Math.rint(label) || label < 0 || label >= classes) {
            throw bad(partition, r, "label " + label + " in column '" + labelCol + "' is not a class index 0.."
                    + (classes - 1) + " (the last layer has " + classes + " outputs)");
        }
        ensureRoom();
        float[] dst = chunkOf(r);
        int at = offsetOf(r);
        // Dense: read the backing array; sparse: zero the row, then the stored entries (no per-row copies).
        int[] indices = v instanceof SparseVector sv ? sv.indices() : null;
        double[] values = v instanceof SparseVector sv ? sv.values() : ((DenseVector) v).values();
        if (indices != null) Arrays.fill(dst, at, at + features, 0f);
        for (int j = 0; j < values.length; j++) {
            int i = indices == null ? j : indices[j];
            if (!Double.isFinite(values[j])) {
                throw bad(partition, r, "column '" + featuresCol + "' element " + i + " is " + values[j]);
            }
            dst[at + i] = (float) values[j];
        }
        labels[r] = (int) label;
        rows++;
    }

    private static IllegalArgumentException bad(int partition, int row, String what) {
        return new IllegalArgumentException("VectorpropClassifier: partition " + partition + ", row " + row + ": " + what);
    }

    int partition() { return partition; }

    int rows() { return rows; }

    int features() { return features; }

    /** Copies row {@code row}'s {@code features} floats to {@code dst} at byte offset {@code dstOffset}. */
    void copyRow(int row, MemorySegment dst, long dstOffset) {
        Objects.checkIndex(row, rows);
        MemorySegment.copy(chunkOf(row), offsetOf(row), dst, ValueLayout.JAVA_FLOAT_UNALIGNED, dstOffset, features);
    }

    int label(int row) { return labels[row]; }

    float feature(int row, int i) {
        Objects.checkIndex(row, rows);
        return chunkOf(row)[offsetOf(row) + Objects.checkIndex(i, features)];
    }
}
