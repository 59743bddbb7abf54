/**
 * Off-heap fp32 matrices ({@link io.vectorprop.kernel.Matrix}) and the kernels of backpropagation
 * ({@link io.vectorprop.kernel.Kernels}): GEMM, element-wise activations and their derivatives (including GELU and SiLU), layer normalization, losses
 * and optimizer updates, each with a plain scalar twin ({@link io.vectorprop.kernel.Kernels#scalar()}).
 *
 * <p>Thread-safety: a {@code Kernels} instance holds no mutable state and may be shared by any number of
 * threads; several threads may call it on different output matrices at once. A multi-threaded instance
 * ({@link io.vectorprop.kernel.Kernels#withThreads}) shares one worker pool per process, and a product
 * that finds it busy runs on the calling thread alone (same bits). A
 * {@code Matrix} is a view: reading it from several threads is safe, writing it while others read is not,
 * and its memory lives as long as the {@link java.lang.foreign.Arena} it was allocated in.
 */
package io.vectorprop.kernel;
