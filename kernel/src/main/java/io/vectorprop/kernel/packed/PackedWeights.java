package io.vectorprop.kernel.packed;

/**
 * The weights {@code W} (out × in) of one dense layer, prepared once for many forward passes
 * {@code f(x·Wᵀ + 1·bᵀ)} ({@link PackedDense#forward}). A predictor's weights never change, so the
 * rearranging that the packed GEMM otherwise repeats on every call (W is stored out × in, and the
 * micro-kernel reads {@code Wᵀ} in slivers of NR columns, step by step) is done here, once — as ONNX
 * Runtime does with the constant weights of a session.
 *
 * <p>Made by {@link PackedDense#pack}, for the kernels it was given only: the Vector API kernels store
 * sliver {@code s} (outputs {@code s·NR … s·NR+NR−1}) as {@code in} steps of NR floats, outputs past
 * {@code out} zero; the scalar reference keeps W row-major. The copy is a heap array, written once and
 * then only read (safe to share between threads): the micro-kernel reads heap arrays because C2 hoists
 * their bounds checks out of its loop, which it does not do for segments. It is independent of the
 * matrix it was made from. Layers packed together ({@link PackedDense#pack(io.vectorprop.kernel.Kernels, java.util.List)}) share one
 * array, each from its own start.
 */
public final class PackedWeights {
    private final float[] data;
    private final int start, out, in, sliverWidth;
    private final String packedBy;

    PackedWeights(float[] data, int start, int out, int in, int sliverWidth, String packedBy) {
        this.data = data;
        this.start = start;
        this.out = out;
        this.in = in;
        this.sliverWidth = sliverWidth;
        this.packedBy = packedBy;
    }

    /** Rows of W: the layer's outputs. */
    public int out() { return out; }

    /** Columns of W: the layer's inputs. */
    public int in() { return in; }

    /** Bytes of this layer's packed copy (the padding of its last sliver included). */
    public long byteSize() {
        long floats = sliverWidth == 0 ? (long) out * in : (long) (out + sliverWidth - 1) / sliverWidth * sliverWidth * in;
        return floats * Float.BYTES;
    }

    /**
     * Bytes of the array that holds this copy: more than {@link #byteSize} where layers were packed
     * together (they share it) or where the array was lengthened to place the copy on cache lines.
     */
    public long bufferBytes() { return (long) data.length * Float.BYTES; }

    float[] data() { return data; }

    /** Index of this layer's first float in {@link #data}. */
    int start() { return start; }

    /** Outputs per sliver (the micro-tile's NR), or 0 for W row-major. */
    int sliverWidth() { return sliverWidth; }

    /** The name of the kernels that packed it ({@code Kernels.name()}). */
    String packedBy() { return packedBy; }

    @Override
    public String toString() {
        return "PackedWeights " + out + "x" + in + " (" + packedBy + (sliverWidth > 0 ? ", slivers of " + sliverWidth : ", row-major") + ")";
    }
}
