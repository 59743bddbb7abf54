package io.vectorprop.spark;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serial;
import java.io.Serializable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Iterator;

import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;

/**
 * One partition's training rows, converted once from the DataFrame into off-heap memory: features
 * {@code rows × features} row-major floats, in the layout a {@link io.vectorprop.kernel.Matrix} reads,
 * and the class index of every row. The training RDD caches these blocks, so a step reads them and
 * never rescans the DataFrame.
 *
 * <p>The memory belongs to an automatic arena: it is freed by the garbage collector once Spark drops
 * the cached block (unpersist, eviction), since a cached object has no close hook. When Spark has to
 * serialize a block (a storage level with serialization, a spill to disk), it writes the floats and
 * labels and reads them back into fresh off-heap memory.
 */
final class RowBlock implements Serializable {
    @Serial private static final long serialVersionUID = 1L;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final int partition, features;
    private int rows;
    private transient MemorySegment x;
    private int[] labels;     // the first rows are in use; serialized trimmed or not, it is small next to x

    private RowBlock(int partition, int capacity, int features) {
        this.partition = partition;
        this.features = features;
        this.x = allocate(capacity, features);
        this.labels = new int[capacity];
    }

    private static MemorySegment allocate(int rows, int features) {
        return Arena.ofAuto().allocate((long) Math.max(rows, 1) * features * Float.BYTES, 64);
    }

    /** Room for one more row: capacity doubles (the rows are streamed in, their number is not known ahead). */
    private void ensureRoom() {
        if (rows < labels.length) return;
        int capacity = Math.max(16, labels.length * 2);
        MemorySegment bigger = allocate(capacity, features);
        MemorySegment.copy(x, 0, bigger, 0, (long) rows * features * Float.BYTES);
        x = bigger;                       // the old one is freed by the collector (automatic arena)
        labels = java.util.Arrays.copyOf(labels, capacity);
    }

    /**
     * Reads a partition's rows (features at {@code featuresIndex}, a numeric label at {@code labelIndex})
     * into a block, checking every row: the vector size must be {@code features}, every value finite, the
     * label an integer in {@code [0, classes)}. The error names the partition, the row and the value.
     * Rows are copied in as they stream by; none is kept as a Java object.
     */
    static RowBlock read(int partition, Iterator<Row> it, int featuresIndex, int labelIndex, int features, int classes,
                         String featuresCol, String labelCol) {
        RowBlock b = new RowBlock(partition, 1024, features);
        while (it.hasNext()) {
            Row row = it.next();
            int r = b.rows;
            if (row.isNullAt(featuresIndex)) throw bad(partition, r, "column '" + featuresCol + "' is null");
            Vector v = (Vector) row.get(featuresIndex);
            if (v.size() != features) {
                throw bad(partition, r, "column '" + featuresCol + "' holds a vector of size " + v.size()
                        + ", but layers[0] = " + features + " inputs");
            }
            if (row.isNullAt(labelIndex)) throw bad(partition, r, "column '" + labelCol + "' is null");
            double label = ((Number) row.get(labelIndex)).doubleValue();
            if (label != Math.rint(label) || label < 0 || label >= classes) {
                throw bad(partition, r, "label " + label + " in column '" + labelCol + "' is not a class index 0.."
                        + (classes - 1) + " (the last layer has " + classes + " outputs)");
            }
            b.ensureRoom();
            long base = (long) r * features;
            // Dense: read the backing array; sparse: zero the row, then the stored entries (no per-row copies).
            int[] indices = v instanceof SparseVector sv ? sv.indices() : null;
            double[] values = v instanceof SparseVector sv ? sv.values() : ((DenseVector) v).values();
            if (indices != null) b.x.asSlice(base * Float.BYTES, (long) features * Float.BYTES).fill((byte) 0);
            for (int j = 0; j < values.length; j++) {
                int i = indices == null ? j : indices[j];
                if (!Double.isFinite(values[j])) {
                    throw bad(partition, r, "column '" + featuresCol + "' element " + i + " is " + values[j]);
                }
                b.x.setAtIndex(FLOAT, base + i, (float) values[j]);
            }
            b.labels[r] = (int) label;
            b.rows++;
        }
        return b;
    }

    private static IllegalArgumentException bad(int partition, int row, String what) {
        return new IllegalArgumentException("VectorpropClassifier: partition " + partition + ", row " + row + ": " + what);
    }

    int partition() { return partition; }

    int rows() { return rows; }

    int features() { return features; }

    /** The features, {@code rows × features} row-major floats from offset 0. */
    MemorySegment featureMemory() { return x; }

    int label(int row) { return labels[row]; }

    float feature(int row, int i) { return x.getAtIndex(FLOAT, (long) row * features + i); }

    @Serial
    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        out.writeObject(x.asSlice(0, (long) rows * features * Float.BYTES).toArray(FLOAT));
    }

    @Serial
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        float[] values = (float[]) in.readObject();
        x = allocate(rows, features);
        MemorySegment.copy(values, 0, x, FLOAT, 0, values.length);
    }
}
