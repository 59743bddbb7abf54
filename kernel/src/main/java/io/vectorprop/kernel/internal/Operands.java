package io.vectorprop.kernel.internal;

import java.lang.foreign.MemorySegment;

import io.vectorprop.kernel.Matrix;

/** The operand checks that {@code Kernels} and {@link PackedDense} share: liveness and overlap of views. */
public final class Operands {
    private Operands() {}

    /** Throws IllegalStateException naming {@code op} when m's memory has been freed. */
    public static void alive(String op, Matrix m) {
        if (!m.isAlive()) {
            throw new IllegalStateException(op + ": a " + m.shape() + " operand's memory has been freed (its Arena is closed)");
        }
    }

    /** True when x and y are the same view: same memory, offset and stride. */
    public static boolean sameView(Matrix x, Matrix y) {
        return x.segment().address() == y.segment().address() && x.offset() == y.offset() && x.stride() == y.stride()
                && sameMemory(x, y);
    }

    private static boolean sameMemory(Matrix x, Matrix y) {
        MemorySegment s = x.segment(), t = y.segment();
        if (s.isNative() != t.isNative()) return false;
        return s.isNative() || s.heapBase().orElse(null) == t.heapBase().orElse(null);
    }

    /** True when the memory spans of x and y intersect. */
    public static boolean overlaps(Matrix x, Matrix y) {
        if (!sameMemory(x, y)) return false;
        long xs = x.segment().address() + x.offset() * Float.BYTES;
        long xe = xs + ((long) (x.rows() - 1) * x.stride() + x.cols()) * Float.BYTES;
        long ys = y.segment().address() + y.offset() * Float.BYTES;
        long ye = ys + ((long) (y.rows() - 1) * y.stride() + y.cols()) * Float.BYTES;
        return xs < ye && ys < xe;
    }
}
