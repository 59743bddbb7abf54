package io.vectorprop.kernel;

import java.util.Optional;

import io.vectorprop.kernel.internal.Settings;

/**
 * Picks the kernel implementation once, at class initialisation (Lucene's VectorizationProvider
 * pattern). The Vector API implementation is used when the module {@code jdk.incubator.vector} is
 * readable; otherwise the scalar reference, with one warning line saying how to enable SIMD. The
 * system property {@code vectorprop.kernels=scalar|simd} forces either. {@link VectorKernels} is
 * loaded reflectively, so this class and everything else load without the incubator module.
 * The choice is reported once through {@link System.Logger} {@code io.vectorprop.kernel}: at INFO
 * (unless {@code vectorprop.quiet=true}), or at WARNING when the scalar kernels were taken because
 * the Vector API is missing. A service routes or silences it like any other JDK logger (by default
 * it goes to {@code java.util.logging}'s console handler); {@link Kernels#status()} gives the same
 * facts as data.
 */
final class KernelProvider {
    private static final System.Logger LOG = System.getLogger("io.vectorprop.kernel");
    static final Kernels INSTANCE = pick();

    private KernelProvider() {}

    private static Kernels pick() {
        String forced = Settings.KERNELS;
        boolean quiet = Settings.QUIET;
        if (!forced.isEmpty() && !forced.equals("scalar") && !forced.equals("simd")) {
            throw new IllegalArgumentException("system property vectorprop.kernels='" + forced
                    + "': expected scalar or simd");
        }
        Kernels chosen;
        if (forced.equals("scalar")) {
            chosen = ScalarKernels.INSTANCE;
        } else if (vectorModuleReadable()) {
            chosen = loadVectorKernels();
        } else {
            if (forced.equals("simd")) {
                throw new IllegalStateException("vectorprop.kernels=simd but jdk.incubator.vector is not available:"
                        + " run java with --add-modules jdk.incubator.vector");
            }
            LOG.log(System.Logger.Level.WARNING, "vectorprop: jdk.incubator.vector is not available, using the slow"
                    + " scalar kernels; run java with --add-modules jdk.incubator.vector");
            return ScalarKernels.INSTANCE;
        }
        if (!quiet) {
            LOG.log(System.Logger.Level.INFO, "vectorprop: " + chosen.description());
        }
        return chosen;
    }

    private static boolean vectorModuleReadable() {
        Optional<Module> vector = ModuleLayer.boot().findModule("jdk.incubator.vector");
        return vector.isPresent() && KernelProvider.class.getModule().canRead(vector.get());
    }

    private static Kernels loadVectorKernels() {
        try {
            Class<?> impl = Class.forName("io.vectorprop.kernel.VectorKernels");
            return (Kernels) impl.getDeclaredConstructor(int.class).newInstance(1);
        } catch (ExceptionInInitializerError e) {
            if (e.getCause() instanceof IllegalArgumentException bad) throw bad;        // a bad vectorprop.vectorBits
            throw new IllegalStateException("vectorprop: could not load the Vector API kernels: " + e, e);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalStateException("vectorprop: could not load the Vector API kernels: " + e, e);
        }
    }
}
