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
    // For the network module only, not a public contract: scratch pools (internal) and the predictor's
    // dense layer with weights packed once (packed). The GEMM, io.vectorprop.kernel.gemm, is not exported.
    exports io.vectorprop.kernel.internal to io.vectorprop.network;
    exports io.vectorprop.kernel.packed to io.vectorprop.network;
}
