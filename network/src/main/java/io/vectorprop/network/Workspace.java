package io.vectorprop.network;

import java.lang.foreign.Arena;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.LayerNorm;

/**
 * The memory of one training or evaluation pass for up to {@link #capacity()} samples: inputs
 * {@code x}, targets {@code y}, and per layer the weighted inputs {@code zs}, activations
 * {@code activations} and errors {@code deltas} (Nielsen's names). Allocated once, reused every
 * step, so a step allocates nothing on the heap. A workspace belongs to one thread at a time.
 */
public final class Workspace implements AutoCloseable {
    private final Arena arena = Arena.ofShared();   // shared: a multi-threaded GEMM reads it from pool threads
    private final int capacity;
    final Matrix x, y;
    final Matrix[] zs, activations, deltas;         // index l = layer l's output; activations[0] is x
    final int[] predicted;
    /** Per hidden layer with a layer norm: the tensor between the norm and the activation, and the norm's row stats; else null. */
    final Matrix[] between, stats;
    /** Inverted-dropout masks of the hidden layers (0 or 1/(1−p) per unit), allocated on first use; null until then. */
    private Matrix[] masks, vms;
    private boolean dropout;

    /** The views for a partial batch of {@code rows} rows, cached for the last size asked for. */
    private int viewRows;
    private Matrix vx, vy;
    private Matrix[] vzs, vas, vds, vus, vss;

    public Workspace(Architecture arch, int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("workspace: batch capacity " + capacity + " must be at least 1");
        }
        this.capacity = capacity;
        int layers = arch.layers();
        x = Matrix.allocate(arena, capacity, arch.inputs());
        y = Matrix.allocate(arena, capacity, arch.outputs());
        zs = new Matrix[layers + 1];
        activations = new Matrix[layers + 1];
        deltas = new Matrix[layers + 1];
        activations[0] = x;
        for (int l = 1; l <= layers; l++) {
            zs[l] = Matrix.allocate(arena, capacity, arch.size(l));
            activations[l] = Matrix.allocate(arena, capacity, arch.size(l));
            deltas[l] = Matrix.allocate(arena, capacity, arch.size(l));
        }
        between = new Matrix[layers + 1];
        stats = new Matrix[layers + 1];
        for (int l = 1; l <= layers; l++) {
            if (arch.layerNorm(l - 1) == LayerNorm.NONE) continue;
            between[l] = Matrix.allocate(arena, capacity, arch.size(l));
            stats[l] = Matrix.allocate(arena, capacity, 2);
        }
        predicted = new int[capacity];
        setRows(capacity);
    }

    public int capacity() { return capacity; }

    /** Sets the number of rows in use, 1 … capacity; views are rebuilt only when the number changes. */
    public void setRows(int rows) {
        if (rows == viewRows) return;
        if (rows < 1 || rows > capacity) {
            throw new IllegalArgumentException("workspace: batch of " + rows + " rows, capacity is " + capacity);
        }
        viewRows = rows;
        vx = x.rows(0, rows);
        vy = y.rows(0, rows);
        vzs = new Matrix[zs.length];
        vas = new Matrix[zs.length];
        vds = new Matrix[zs.length];
        vus = new Matrix[zs.length];
        vss = new Matrix[zs.length];
        vas[0] = vx;
        for (int l = 1; l < zs.length; l++) {
            vzs[l] = zs[l].rows(0, rows);
            vas[l] = activations[l].rows(0, rows);
            vds[l] = deltas[l].rows(0, rows);
            if (between[l] != null) {
                vus[l] = between[l].rows(0, rows);
                vss[l] = stats[l].rows(0, rows);
            }
        }
        if (masks != null) viewMasks();
    }

    private void viewMasks() {
        vms = new Matrix[masks.length];
        for (int l = 1; l < masks.length - 1; l++) vms[l] = masks[l].rows(0, viewRows);
    }

    /**
     * Turns inverted dropout on or off for the next forward and backward passes: on, the hidden
     * activations are multiplied by {@link #dropoutMask(int)} after the activation function, and BP2
     * multiplies the errors of those layers by the same masks. Evaluation runs with it off.
     */
    public void setDropout(boolean on) {
        if (on && masks == null) {
            masks = new Matrix[zs.length];
            for (int l = 1; l < zs.length - 1; l++) masks[l] = Matrix.allocate(arena, capacity, zs[l].cols());
            viewMasks();
        }
        dropout = on;
    }

    public boolean dropout() { return dropout; }

    /** The dropout mask of hidden layer {@code l} (1 … L−1) for the rows in use; fill it before the forward pass. */
    public Matrix dropoutMask(int l) {
        if (masks == null) throw new IllegalStateException("dropoutMask: dropout was never turned on for this workspace");
        if (l < 1 || l >= masks.length - 1) {
            throw new IllegalArgumentException("dropoutMask: layer " + l + " is not a hidden layer (1.." + (masks.length - 2) + ")");
        }
        return vms[l];
    }

    /** Rows in use (the current batch size). */
    public int rows() { return viewRows; }

    /** Inputs of the current batch, rows × n₀: fill before {@link Network#forward}. */
    public Matrix x() { return vx; }

    /** Targets of the current batch, rows × n_L: fill before {@link Network#loss} and {@link Network#backward}. */
    public Matrix y() { return vy; }

    Matrix z(int l) { return vzs[l]; }

    Matrix a(int l) { return vas[l]; }

    Matrix delta(int l) { return vds[l]; }

    /** Layer l's tensor between its layer norm and its activation (LN(Z) or f(Z)); only for layers with a norm. */
    Matrix u(int l) { return vus[l]; }

    /** Layer l's layer norm row stats (mean, 1/std), rows × 2. */
    Matrix normStats(int l) { return vss[l]; }

    /** The network's output for the rows in use. */
    public Matrix output() { return vas[vas.length - 1]; }

    /** Frees the off-heap memory; closing again does nothing. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }
}
