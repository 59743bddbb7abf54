package io.vectorprop.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A row-major fp32 matrix view over a {@link MemorySegment}: element {@code (r, c)} lives at float
 * index {@code offset + r·stride + c} of the segment. Views made by {@link #rows(int, int)} and
 * {@link #view(int, int, int, int)} share memory with their parent. A matrix owns nothing: the
 * {@link Arena} it was allocated from decides its lifetime, and every kernel refuses a matrix whose
 * arena is closed.
 *
 * <p>Thread-safety: a view holds no mutable state of its own; reading the memory from several threads is safe, writing it while another thread reads or writes the same elements is not (no synchronisation is done), and the memory lives as long as its {@link java.lang.foreign.Arena} (a confined arena's memory only on its owner thread).
 */
public final class Matrix {
    /** Alignment of every allocation, in bytes: one cache line, one 512-bit vector. */
    public static final long ALIGNMENT = 64;

    /** The layout of one element: a float, little-endian on every platform Java runs on, any alignment. */
    public static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private final MemorySegment segment;
    private final long offset;
    private final int rows;
    private final int cols;
    private final int stride;

    private Matrix(MemorySegment segment, long offset, int rows, int cols, int stride) {
        this.segment = segment;
        this.offset = offset;
        this.rows = rows;
        this.cols = cols;
        this.stride = stride;
    }

    /** Allocates a zeroed {@code rows × cols} matrix with row stride {@code cols}, 64-byte aligned. */
    public static Matrix allocate(Arena arena, int rows, int cols) {
        return allocate(arena, rows, cols, cols);
    }

    /** Allocates a zeroed {@code rows × cols} matrix with the given row stride (≥ cols), 64-byte aligned. */
    public static Matrix allocate(Arena arena, int rows, int cols, int stride) {
        checkDims("Matrix.allocate", rows, cols, stride);
        long bytes = Math.multiplyExact((long) rows, (long) stride) * Float.BYTES;
        MemorySegment segment = arena.allocate(bytes, ALIGNMENT);
        return new Matrix(segment, 0, rows, cols, stride);
    }

    /** Allocates a {@code rows × cols} matrix holding a copy of {@code values} (row-major, length rows·cols). */
    public static Matrix of(Arena arena, int rows, int cols, float... values) {
        Matrix m = allocate(arena, rows, cols);
        m.copyFrom(values);
        return m;
    }

    /**
     * Wraps existing memory. Element {@code (r, c)} is float index {@code offset + r·stride + c} of
     * {@code segment}; the whole footprint must lie inside the segment.
     */
    public static Matrix wrap(MemorySegment segment, long offset, int rows, int cols, int stride) {
        checkDims("Matrix.wrap", rows, cols, stride);
        if (offset < 0) {
            throw new IllegalArgumentException("Matrix.wrap: offset " + offset + " is negative");
        }
        long endFloat = offset + (long) (rows - 1) * stride + cols;
        if (endFloat * Float.BYTES > segment.byteSize()) {
            throw new IllegalArgumentException("Matrix.wrap: a " + rows + "x" + cols + " view with stride " + stride
                    + " at float offset " + offset + " needs " + endFloat * Float.BYTES
                    + " bytes but the segment has " + segment.byteSize());
        }
        return new Matrix(segment, offset, rows, cols, stride);
    }

    private static void checkDims(String op, int rows, int cols, int stride) {
        if (rows < 1 || cols < 1) {
            throw new IllegalArgumentException(op + ": shape " + rows + "x" + cols + " must be at least 1x1");
        }
        if (stride < cols) {
            throw new IllegalArgumentException(op + ": row stride " + stride + " is smaller than cols " + cols);
        }
    }

    public MemorySegment segment() { return segment; }

    /** Float index of element (0, 0) in {@link #segment()}. */
    public long offset() { return offset; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    /** Distance in floats between the starts of two consecutive rows. */
    public int stride() { return stride; }

    /** Number of elements, rows·cols. */
    public long size() { return (long) rows * cols; }

    /** True when the rows follow each other with no gap, so the matrix is one run of rows·cols floats. */
    public boolean isContiguous() { return stride == cols || rows == 1; }

    /** "rows x cols", with the stride when it differs from cols: used in every error message. */
    public String shape() {
        return stride == cols ? rows + "x" + cols : rows + "x" + cols + " (stride " + stride + ")";
    }

    /** Rows {@code [from, to)} as a view sharing memory. */
    public Matrix rows(int from, int to) {
        if (from < 0 || to > rows || from >= to) {
            throw new IllegalArgumentException("Matrix.rows: range [" + from + ", " + to + ") is not inside the "
                    + rows + " rows of a " + shape() + " matrix");
        }
        return new Matrix(segment, offset + (long) from * stride, to - from, cols, stride);
    }

    /** The {@code rows × cols} block whose top-left element is {@code (row, col)}, as a view sharing memory. */
    public Matrix view(int row, int col, int rows, int cols) {
        if (row < 0 || col < 0 || rows < 1 || cols < 1 || row + rows > this.rows || col + cols > this.cols) {
            throw new IllegalArgumentException("Matrix.view: block " + rows + "x" + cols + " at (" + row + ", " + col
                    + ") is not inside a " + shape() + " matrix");
        }
        return new Matrix(segment, offset + (long) row * stride + col, rows, cols, stride);
    }

    /** A {@code rows × cols} view of the same contiguous memory (like numpy's reshape); needs a contiguous matrix. */
    public Matrix reshape(int rows, int cols) {
        if (!isContiguous() || (long) rows * cols != size()) {
            throw new IllegalArgumentException("Matrix.reshape: cannot view a " + shape() + " matrix as " + rows + "x"
                    + cols + (isContiguous() ? " (element counts differ)" : " (it is not contiguous)"));
        }
        return new Matrix(segment, offset, rows, cols, cols);
    }

    /** Bounds-checked read of element (r, c). */
    public float get(int r, int c) {
        checkIndex(r, c);
        return segment.getAtIndex(FLOAT, offset + (long) r * stride + c);
    }

    /** Bounds-checked write of element (r, c). */
    public void set(int r, int c, float value) {
        checkIndex(r, c);
        segment.setAtIndex(FLOAT, offset + (long) r * stride + c, value);
    }

    private void checkIndex(int r, int c) {
        if (r < 0 || r >= rows || c < 0 || c >= cols) {
            throw new IndexOutOfBoundsException("element (" + r + ", " + c + ") is outside a " + shape() + " matrix");
        }
    }

    /** Copies {@code values} (row-major, exactly rows·cols floats) into this matrix. */
    public Matrix copyFrom(float[] values) {
        if (values.length != size()) {
            throw new IllegalArgumentException("Matrix.copyFrom: " + values.length + " values for a " + shape()
                    + " matrix (" + size() + " elements)");
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(values, r * cols, segment, FLOAT, (offset + (long) r * stride) * Float.BYTES, cols);
        }
        return this;
    }

    /** Copies rows·cols floats of {@code values}, from index {@code from} on (row-major), into this matrix. */
    public Matrix copyFrom(float[] values, int from) {
        if (from < 0 || from > values.length - size()) {
            throw new IllegalArgumentException("Matrix.copyFrom: " + size() + " values from index " + from + " of an array of "
                    + values.length + " for a " + shape() + " matrix");
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(values, from + r * cols, segment, FLOAT, (offset + (long) r * stride) * Float.BYTES, cols);
        }
        return this;
    }

    /** Copies this matrix's elements (row-major) into {@code out} from index {@code at} on. */
    public void copyTo(float[] out, int at) {
        if (at < 0 || at > out.length - size()) {
            throw new IllegalArgumentException("Matrix.copyTo: " + size() + " elements of a " + shape() + " matrix to index "
                    + at + " of an array of " + out.length);
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(segment, FLOAT, (offset + (long) r * stride) * Float.BYTES, out, at + r * cols, cols);
        }
    }

    /** Copies this matrix's elements (row-major) into {@code out}, which must hold exactly rows·cols floats. */
    public void copyTo(float[] out) {
        if (out.length != size()) {
            throw new IllegalArgumentException("Matrix.copyTo: array of " + out.length + " floats for a " + shape()
                    + " matrix (" + size() + " elements)");
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(segment, FLOAT, (offset + (long) r * stride) * Float.BYTES, out, r * cols, cols);
        }
    }

    /** A new row-major array with this matrix's elements. */
    public float[] toArray() {
        float[] out = new float[Math.toIntExact(size())];
        copyTo(out);
        return out;
    }

    /** Copies {@code src} (same shape) into this matrix. */
    public void copyFrom(Matrix src) {
        if (src.rows != rows || src.cols != cols) {
            throw new IllegalArgumentException("Matrix.copyFrom: source " + src.shape() + " vs destination " + shape());
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(src.segment, (src.offset + (long) r * src.stride) * Float.BYTES,
                    segment, (offset + (long) r * stride) * Float.BYTES, (long) cols * Float.BYTES);
        }
    }

    /** Sets every element to {@code value}. */
    public void fill(float value) {
        for (int r = 0; r < rows; r++) {
            long base = offset + (long) r * stride;
            if (value == 0f) {
                segment.asSlice(base * Float.BYTES, (long) cols * Float.BYTES).fill((byte) 0);
            } else {
                for (int c = 0; c < cols; c++) {
                    segment.setAtIndex(FLOAT, base + c, value);
                }
            }
        }
    }

    /** True while the memory behind this matrix may still be used (its arena is open). */
    public boolean isAlive() { return segment.scope().isAlive(); }

    /**
     * Whether this view and {@code other} share memory: the spans from their first to their last
     * element intersect, in the same native memory or the same heap array. Kernels refuse outputs that
     * overlap an input (other than being the very same view) with this.
     */
    public boolean overlaps(Matrix other) {
        MemorySegment s = segment, t = other.segment;
        if (s.isNative() != t.isNative() || (!s.isNative() && s.heapBase().orElse(null) != t.heapBase().orElse(null))) {
            return false;
        }
        long xs = s.address() + offset * Float.BYTES;
        long xe = xs + ((long) (rows - 1) * stride + cols) * Float.BYTES;
        long ys = t.address() + other.offset * Float.BYTES;
        long ye = ys + ((long) (other.rows - 1) * other.stride + other.cols) * Float.BYTES;
        return xs < ye && ys < xe;
    }

    @Override
    public String toString() {
        return "Matrix[" + shape() + "]";
    }
}
