package io.vectorprop.kernel;

import java.lang.foreign.Arena;

/** Run in a child JVM by {@link ErrorsAndNaNTest}: prints which implementation was picked and a small product. */
public final class ProviderProbe {
    public static void main(String[] args) {
        Kernels k = Kernels.get();
        try (Arena arena = Arena.ofConfined()) {
            Matrix a = Matrix.of(arena, 1, 2, 1, 2), b = Matrix.of(arena, 2, 1, 2, 5), c = Matrix.allocate(arena, 1, 1);
            k.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c);
            KernelStatus s = k.status();
            System.out.println("impl=" + k.name() + " result=" + c.get(0, 0) + " bits=" + s.vectorBits() + " full="
                    + s.isFullSpeed() + " optimizing=" + s.optimizingJit() + " jit=" + s.jit());
        }
    }
}
