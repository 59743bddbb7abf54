/**
 * Off-heap fp32 matrices and the kernels of backpropagation: {@link io.vectorprop.kernel.Kernels}
 * (the checked contract), a scalar reference and a Vector API implementation.
 *
 * <p>{@code jdk.incubator.vector} is read only when the JVM resolves it ({@code --add-modules
 * jdk.incubator.vector}); without it the library runs on the scalar kernels and says so through
 * {@link System.Logger} and {@link io.vectorprop.kernel.Kernels#status()}. The management modules give
 * that status (HotSpot's JIT and FMA flags).
 */
module io.vectorprop.kernel {
    requires static jdk.incubator.vector;
    requires java.management;
    requires jdk.management;

    exports io.vectorprop.kernel;
    // Scratch pools and the predictor's packed dense layer: for the network module, not a public contract.
    // (The GEMM, io.vectorprop.kernel.gemm, is not exported at all.)
    exports io.vectorprop.kernel.internal to io.vectorprop.network;
}
