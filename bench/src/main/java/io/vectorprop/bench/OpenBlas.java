package io.vectorprop.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * {@code cblas_sgemm} from {@code libopenblas.so.0} (Debian's libopenblas0-pthread) through FFM, on
 * the same MemorySegments our kernels use: the reference to beat. Benchmarks only; the library
 * itself never calls native code. {@link #AVAILABLE} is false, with {@link #WHY} saying why, when
 * the library cannot be loaded.
 */
final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    static final boolean AVAILABLE;
    static final String WHY;
    private static final MethodHandle SGEMM, SET_THREADS, CORENAME;

    static {
        MethodHandle sgemm = null, threads = null, corename = null;
        String why = null;
        try {
            SymbolLookup lib = SymbolLookup.libraryLookup("libopenblas.so.0", Arena.global());
            Linker linker = Linker.nativeLinker();
            var I = ValueLayout.JAVA_INT;
            var F = ValueLayout.JAVA_FLOAT;
            var P = ValueLayout.ADDRESS;
            sgemm = linker.downcallHandle(lib.find("cblas_sgemm").orElseThrow(),
                    FunctionDescriptor.ofVoid(I, I, I, I, I, I, F, P, I, P, I, F, P, I), Linker.Option.critical(false));
            threads = linker.downcallHandle(lib.find("openblas_set_num_threads").orElseThrow(), FunctionDescriptor.ofVoid(I));
            corename = lib.find("openblas_get_corename").map(s -> linker.downcallHandle(s, FunctionDescriptor.of(P))).orElse(null);
        } catch (Throwable t) {
            why = "OpenBLAS is not available (" + t.getMessage() + "); install Debian's libopenblas0-pthread";
        }
        SGEMM = sgemm;
        SET_THREADS = threads;
        CORENAME = corename;
        AVAILABLE = sgemm != null;
        WHY = why;
    }

    private OpenBlas() {}

    /** The kernel OpenBLAS picked for this CPU ({@code openblas_get_corename()}), e.g. SkylakeX or Haswell. */
    static String coreName() {
        if (CORENAME == null) return AVAILABLE ? "unknown (no openblas_get_corename)" : "not available";
        try {
            MemorySegment name = (MemorySegment) CORENAME.invokeExact();
            return name.reinterpret(64).getString(0);
        } catch (Throwable t) {
            return "unknown (" + t + ")";
        }
    }

    static void setThreads(int n) {
        try {
            SET_THREADS.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Checks once that OpenBLAS computes what the scalar reference computes (a reference that is
     * fast because it is wrong would make every ratio meaningless): every transpose pair at 67×45×131,
     * α = 0.5, β = 0.25. Returns the largest |difference| relative to the tolerance's scale, as text
     * for the report; throws if it is over 1e-5 · k · max|a| · max|b|.
     */
    static String checkAgainstScalar() {
        if (!AVAILABLE) return "not checked (" + WHY + ")";
        int m = 67, n = 45, k = 131;
        double worst = 0;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.util.Random rnd = new java.util.Random(7);
            for (Transpose ta : Transpose.values()) for (Transpose tb : Transpose.values()) {
                Matrix a = GemmBench.fill(ta == Transpose.N ? Matrix.allocate(arena, m, k) : Matrix.allocate(arena, k, m), rnd);
                Matrix b = GemmBench.fill(tb == Transpose.N ? Matrix.allocate(arena, k, n) : Matrix.allocate(arena, n, k), rnd);
                Matrix c0 = GemmBench.fill(Matrix.allocate(arena, m, n), rnd);
                Matrix expected = Matrix.allocate(arena, m, n).copyFrom(c0.toArray());
                Matrix actual = Matrix.allocate(arena, m, n).copyFrom(c0.toArray());
                io.vectorprop.kernel.Kernels.scalar().gemm(ta, tb, 0.5f, a, b, 0.25f, expected);
                sgemm(ta, tb, 0.5f, a, b, 0.25f, actual);
                float[] e = expected.toArray(), g = actual.toArray();
                for (int i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(e[i] - g[i]));
            }
        }
        double tolerance = 1e-5 * k;                      // operands in [-1, 1)
        if (!(worst <= tolerance)) {
            throw new IllegalStateException("OpenBLAS sgemm differs from the scalar reference by " + worst
                    + " (tolerance " + tolerance + "): its figures would not be a valid reference");
        }
        return String.format(java.util.Locale.ROOT, "matches the scalar reference (NN/NT/TN/TT, 67x45x131: max |diff| %.1e)", worst);
    }

    /** C = α·op(A)·op(B) + β·C with row-major operands. */
    static void sgemm(Transpose ta, Transpose tb, float alpha, Matrix a, Matrix b, float beta, Matrix c) {
        int m = c.rows(), n = c.cols(), k = ta == Transpose.N ? a.cols() : a.rows();
        MemorySegment as = a.segment().asSlice(a.offset() * 4), bs = b.segment().asSlice(b.offset() * 4),
                cs = c.segment().asSlice(c.offset() * 4);
        try {
            SGEMM.invokeExact(ROW_MAJOR, ta == Transpose.N ? NO_TRANS : TRANS, tb == Transpose.N ? NO_TRANS : TRANS,
                    m, n, k, alpha, as, a.stride(), bs, b.stride(), beta, cs, c.stride());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
