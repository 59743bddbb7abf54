package io.vectorprop.bench;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * SGEMM {@code C = op(A)·op(B)} (α = 1, β = 0), score in ops/s; GFLOP/s = 2·M·N·K·score / 1e9.
 * {@code shape} is {@code MxNxK}; {@code trans} is op(A) op(B). The MLP shapes of a 784-256-128-10
 * network at batch B: forward {@code Bx256x784} (NT), hidden error {@code Bx784x256} (NN), weight
 * gradient {@code 256x784xB} (TN).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 1)
public class GemmBench {
    @Param({"scalar", "simd", "openblas"})
    public String impl;

    @Param({"128x128x128", "256x256x256", "512x512x512", "1024x1024x1024",
            "1x256x784", "64x256x784", "256x256x784",
            "1x784x256", "64x784x256", "256x784x256",
            "256x784x1", "256x784x64", "256x784x256"})
    public String shape;

    @Param({"NN", "NT", "TN"})
    public String trans;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private Matrix a, b, c;
    private Transpose ta, tb;
    private Kernels kernels;

    @Setup(Level.Trial)
    public void setUp() {
        String[] mnk = shape.split("x");
        int m = Integer.parseInt(mnk[0]), n = Integer.parseInt(mnk[1]), k = Integer.parseInt(mnk[2]);
        ta = trans.charAt(0) == 'N' ? Transpose.N : Transpose.T;
        tb = trans.charAt(1) == 'N' ? Transpose.N : Transpose.T;
        if (impl.equals("openblas")) {
            if (!OpenBlas.AVAILABLE) throw new IllegalStateException("skipping impl=openblas: " + OpenBlas.WHY);
            OpenBlas.setThreads(threads);
        } else if (impl.equals("scalar") && (long) m * n * k > 300_000_000L) {
            throw new IllegalStateException("skipping impl=scalar at " + shape + ": it would take minutes per operation");
        }
        kernels = (impl.equals("scalar") ? Kernels.scalar() : Kernels.get()).withThreads(threads);
        BenchSupport.requireSimd(impl);
        arena = Arena.ofShared();
        Random rnd = new Random(1);
        a = fill(ta == Transpose.N ? Matrix.allocate(arena, m, k) : Matrix.allocate(arena, k, m), rnd);
        b = fill(tb == Transpose.N ? Matrix.allocate(arena, k, n) : Matrix.allocate(arena, n, k), rnd);
        c = Matrix.allocate(arena, m, n);
    }

    static Matrix fill(Matrix m, Random rnd) {
        float[] v = new float[(int) m.size()];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextFloat() * 2 - 1;
        return m.copyFrom(v);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Matrix gemm() {
        if (impl.equals("openblas")) {
            OpenBlas.sgemm(ta, tb, 1f, a, b, 0f, c);
        } else {
            kernels.gemm(ta, tb, 1f, a, b, 0f, c);
        }
        return c;
    }
}
