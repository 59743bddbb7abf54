package io.vectorprop.spark;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

import io.vectorprop.kernel.Matrix;

/**
 * Batch scoring of one partition: rows are read {@value #BATCH} at a time into an off-heap input
 * block, scored with one {@link io.vectorprop.network.Predictor#predict(Matrix, Matrix)} call against
 * the executor's shared predictor, and returned with the new columns appended: {@code rawPrediction}
 * (log-probabilities, the form MLlib's evaluators rank by), {@code probability} and {@code prediction}
 * (the most probable class; the first on a tie). Lazy: a partition of any size streams through in
 * {@value #BATCH}-row pieces.
 */
final class ScorePartition implements MapPartitionsFunction<Row, Row> {
    static final int BATCH = 256;

    private final Broadcast<byte[]> model;
    private final String modelKey;
    private final int featuresIndex, features, classes;
    private final String featuresCol;
    private final boolean raw, probability, prediction;

    ScorePartition(Broadcast<byte[]> model, String modelKey, int featuresIndex, String featuresCol, int features, int classes,
                   boolean raw, boolean probability, boolean prediction) {
        this.model = model;
        this.modelKey = modelKey;
        this.featuresIndex = featuresIndex;
        this.featuresCol = featuresCol;
        this.features = features;
        this.classes = classes;
        this.raw = raw;
        this.probability = probability;
        this.prediction = prediction;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        ExecutorPredictors.Lease lease = ExecutorPredictors.acquire(modelKey, model);
        TaskContext task = TaskContext.get();
        int partition = task == null ? -1 : task.partitionId();
        boolean[] released = {false};
        Runnable release = () -> {
            if (!released[0]) {
                released[0] = true;
                ExecutorPredictors.release(lease);
            }
        };
        if (task != null) task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> release.run());   // also when a consumer stops early
        Arena arena = Arena.ofAuto();
        Matrix in = Matrix.allocate(arena, BATCH, features), out = Matrix.allocate(arena, BATCH, classes);
        List<Row> pending = new ArrayList<>(BATCH);
        return new Iterator<>() {
            private int next, scoredRows;
            private long seen;

            @Override
            public boolean hasNext() {
                if (next < pending.size()) return true;
                fill();
                if (pending.isEmpty()) release.run();
                return !pending.isEmpty();
            }

            private void fill() {
                pending.clear();
                next = 0;
                while (pending.size() < BATCH && rows.hasNext()) {
                    Row row = rows.next();
                    readFeatures(row, pending.size());
                    pending.add(row);
                }
                scoredRows = pending.size();
                if (scoredRows > 0) {
                    lease.predictor.predict(in.rows(0, scoredRows), out.rows(0, scoredRows));
                }
            }

            private void readFeatures(Row row, int r) {
                long rowNumber = seen++;
                if (row.isNullAt(featuresIndex)) {
                    throw new IllegalArgumentException("VectorpropClassificationModel: partition " + partition + ", row "
                            + rowNumber + ": column '" + featuresCol + "' is null");
                }
                Vector v = (Vector) row.get(featuresIndex);
                if (v.size() != features) {
                    throw new IllegalArgumentException("VectorpropClassificationModel: partition " + partition + ", row "
                            + rowNumber + ": column '" + featuresCol + "' holds a vector of size " + v.size()
                            + ", but the model has " + features + " inputs");
                }
                if (v instanceof SparseVector sv) {
                    for (int i = 0; i < features; i++) in.set(r, i, 0f);
                    int[] idx = sv.indices();
                    double[] val = sv.values();
                    for (int j = 0; j < idx.length; j++) in.set(r, idx[j], (float) val[j]);
                } else {
                    double[] val = ((DenseVector) v).values();
                    for (int i = 0; i < features; i++) in.set(r, i, (float) val[i]);
                }
            }

            @Override
            public Row next() {
                if (!hasNext()) throw new NoSuchElementException();
                int r = next;
                Row row = pending.get(next++);
                int n = row.length();
                Object[] values = new Object[n + (raw ? 1 : 0) + (probability ? 1 : 0) + (prediction ? 1 : 0)];
                for (int i = 0; i < n; i++) values[i] = row.get(i);
                double[] p = new double[classes];
                int best = 0;
                for (int c = 0; c < classes; c++) {
                    p[c] = out.get(r, c);
                    if (p[c] > p[best]) best = c;
                }
                int at = n;
                if (raw) {
                    double[] logp = new double[classes];
                    for (int c = 0; c < classes; c++) logp[c] = Math.log(Math.max(p[c], Double.MIN_NORMAL));
                    values[at++] = Vectors.dense(logp);
                }
                if (probability) values[at++] = Vectors.dense(p);
                if (prediction) values[at] = (double) best;
                return RowFactory.create(values);
            }
        };
    }
}
