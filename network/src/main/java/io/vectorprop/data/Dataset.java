package io.vectorprop.data;

import java.lang.foreign.Arena;

import io.vectorprop.kernel.Matrix;

/**
 * Labelled samples held off-heap: {@code features} is N × d (one row per sample), {@code labels[i]}
 * is the class of row i, in {@code [0, classes)}.
 *
 * <p>Thread-safety: read-only after it is made, so any number of threads may read it until it is closed; close it once nobody reads it.
 */
public final class Dataset implements AutoCloseable {
    private final Arena arena;
    private final Matrix features;
    private final int[] labels;
    private final int classes;
    private final String source;

    Dataset(Arena arena, Matrix features, int[] labels, int classes, String source) {
        if (features.rows() != labels.length) {
            throw new IllegalArgumentException(source + ": " + features.rows() + " samples but " + labels.length + " labels");
        }
        this.arena = arena;
        this.features = features;
        this.labels = labels;
        this.classes = classes;
        this.source = source;
    }

    /** A dataset holding copies of the given rows (row-major, {@code labels.length × features}) and labels. */
    public static Dataset of(float[] rows, int features, int[] labels, int classes, String source) {
        Arena arena = Arena.ofShared();
        Matrix m = Matrix.allocate(arena, labels.length, features);
        m.copyFrom(rows);
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classes) {
                arena.close();
                throw new IllegalArgumentException(source + ": label " + labels[i] + " of sample " + i
                        + " is outside [0, " + classes + ")");
            }
        }
        return new Dataset(arena, m, labels.clone(), classes, source);
    }

    public Matrix features() { return features; }

    public int label(int i) { return labels[i]; }

    public int size() { return labels.length; }

    public int featureCount() { return features.cols(); }

    public int classes() { return classes; }

    /** Where the data came from (a file or directory), for messages. */
    public String source() { return source; }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();           // closing again does nothing
    }
}
