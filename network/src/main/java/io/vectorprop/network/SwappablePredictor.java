package io.vectorprop.network;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.model.Architecture;

/**
 * The model of a running service, replaceable while requests are served. Callers predict through
 * it; {@link #swap} installs a new {@link Predictor} atomically: a call runs entirely on the old model
 * or entirely on the new one, never on a half-loaded one (the new predictor is complete before it is
 * installed), and the old predictor is closed by whichever call finishes last on it, so no call fails
 * because of a swap. Lock-free: a call costs two atomic updates of the current model's counter.
 *
 * <pre>{@code
 * SwappablePredictor model = new SwappablePredictor(Predictor.load(path));
 * model.current().warmUp();
 * // request threads:           model.predict(features, scores);
 * // when a new file arrives:   Predictor next = Predictor.load(newPath); next.warmUp(); model.swap(next);
 * }</pre>
 * To run several calls on one model (say, a batch split in parts), take a {@link Lease}.
 */
public final class SwappablePredictor implements AutoCloseable {
    /**
     * One installed predictor and its count of users: the installation itself counts as one, each
     * running call as one more. The count reaching zero closes the predictor; it never rises again.
     */
    private static final class Slot {
        final Predictor predictor;
        final AtomicInteger users = new AtomicInteger(1);

        Slot(Predictor predictor) { this.predictor = predictor; }

        boolean tryAcquire() {
            for (int u = users.get(); u > 0; u = users.get()) {
                if (users.compareAndSet(u, u + 1)) return true;
            }
            return false;                                          // retired and closed: read the new slot
        }

        void release() {
            if (users.decrementAndGet() == 0) predictor.close();
        }
    }

    /** A hold on one model: it stays open until the lease is closed, even if it is swapped out meanwhile. */
    public final class Lease implements AutoCloseable {
        private final Slot slot;
        private boolean closed;

        private Lease(Slot slot) { this.slot = slot; }

        public Predictor predictor() {
            if (closed) throw new IllegalStateException("SwappablePredictor.Lease: used after close");
            return slot.predictor;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                slot.release();
            }
        }
    }

    private final AtomicReference<Slot> current;

    public SwappablePredictor(Predictor first) {
        current = new AtomicReference<>(new Slot(java.util.Objects.requireNonNull(first, "first predictor")));
    }

    private Slot acquire() {
        while (true) {
            Slot s = current.get();
            if (s == null) throw new IllegalStateException("SwappablePredictor: closed");
            if (s.tryAcquire()) return s;
        }
    }

    /** Holds the current model until the lease is closed. */
    public Lease lease() {
        return new Lease(acquire());
    }

    /** {@link Predictor#predict(float[], float[])} on the current model. */
    public void predict(float[] in, float[] out) {
        Slot s = acquire();
        try {
            s.predictor.predict(in, out);
        } finally {
            s.release();
        }
    }

    /** {@link Predictor#predict(MemorySegment, long, MemorySegment, long)} on the current model. */
    public void predict(MemorySegment in, long inOffset, MemorySegment out, long outOffset) {
        Slot s = acquire();
        try {
            s.predictor.predict(in, inOffset, out, outOffset);
        } finally {
            s.release();
        }
    }

    /** {@link Predictor#predict(Matrix, Matrix)} on the current model (the whole batch on one model). */
    public void predict(Matrix in, Matrix out) {
        Slot s = acquire();
        try {
            s.predictor.predict(in, out);
        } finally {
            s.release();
        }
    }

    /**
     * The predictor installed now, for inspection ({@link Predictor#architecture()},
     * {@link Predictor#warmUp()}); it may be swapped out and closed at any moment, so predict through
     * this object or a {@link #lease()}.
     */
    public Predictor current() {
        Slot s = current.get();
        if (s == null) throw new IllegalStateException("SwappablePredictor: closed");
        return s.predictor;
    }

    /**
     * Installs {@code next}; calls that start from now on use it. The previous predictor is closed
     * when its last running call returns (at once if none is running). {@code next} must have the
     * same number of inputs and outputs, so that callers' buffers still fit.
     */
    public void swap(Predictor next) {
        java.util.Objects.requireNonNull(next, "next predictor");
        Slot installed = current.get();
        if (installed == null) throw new IllegalStateException("SwappablePredictor: closed");
        Architecture a = installed.predictor.architecture(), b = next.architecture();
        if (a.inputs() != b.inputs() || a.outputs() != b.outputs()) {
            throw new IllegalArgumentException("swap: the new model maps " + b.inputs() + " inputs to " + b.outputs()
                    + " outputs, the current one " + a.inputs() + " to " + a.outputs());
        }
        Slot old = current.getAndSet(new Slot(next));
        if (old == null) {                                         // closed meanwhile: do not leak the new one
            current.set(null);
            next.close();
            throw new IllegalStateException("SwappablePredictor: closed");
        }
        old.release();
    }

    /** Closes the current predictor after its running calls; later calls fail. */
    @Override
    public void close() {
        Slot old = current.getAndSet(null);
        if (old != null) old.release();
    }
}
