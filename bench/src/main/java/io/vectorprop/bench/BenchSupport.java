package io.vectorprop.bench;

import io.vectorprop.kernel.Kernels;

/** Checks shared by the benchmarks. */
final class BenchSupport {
    private BenchSupport() {}

    /**
     * A benchmark of the SIMD kernels that silently ran the scalar fallback would report nonsense: fail
     * instead. (JMH's {@code -jvmArgs}/{@code -jvmArgsAppend} on the command line replace the
     * {@code --add-modules} of the annotations; use {@code -jvmArgsPrepend} to add flags.)
     */
    static void requireSimd(String impl) {
        if (!impl.equals("scalar") && !impl.equals("openblas") && !impl.equals("array") && !Kernels.get().name().equals("simd")) {
            throw new IllegalStateException("the SIMD kernels are not available in this JVM: run it with"
                    + " --add-modules jdk.incubator.vector (with JMH, add flags with -jvmArgsPrepend)");
        }
    }
}
