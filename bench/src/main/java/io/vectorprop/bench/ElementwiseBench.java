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

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;

/**
 * Element-wise kernels over {@code size} floats; score in ops/s. {@code impl}: {@code scalar} (the
 * reference over MemorySegments), {@code simd} (Vector API over MemorySegments), {@code array} (a
 * plain loop over {@code float[]}, which C2 auto-vectorizes: the bar to clear).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 1)
public class ElementwiseBench {
    @Param({"scalar", "simd", "array"})
    public String impl;

    @Param({"16384", "1048576"})
    public int size;

    private Arena arena;
    private Matrix x, y, out;
    private float[] xa, ya, outa;
    private Kernels k;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        Random rnd = new Random(1);
        x = GemmBench.fill(Matrix.allocate(arena, 1, size), rnd);
        y = GemmBench.fill(Matrix.allocate(arena, 1, size), rnd);
        out = Matrix.allocate(arena, 1, size);
        xa = x.toArray();
        ya = y.toArray();
        outa = new float[size];
        k = impl.equals("scalar") ? Kernels.scalar() : Kernels.get();
        BenchSupport.requireSimd(impl);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Object hadamard() {
        if (impl.equals("array")) {
            for (int i = 0; i < size; i++) outa[i] = xa[i] * ya[i];
            return outa;
        }
        k.hadamard(x, y, out);
        return out;
    }

    @Benchmark
    public Object axpy() {
        if (impl.equals("array")) {
            for (int i = 0; i < size; i++) ya[i] += 0.5f * xa[i];
            return ya;
        }
        k.axpy(0.5f, x, y);
        return y;
    }

    private Object forward(Activation f) {
        if (impl.equals("array")) {
            for (int i = 0; i < size; i++) {
                float z = xa[i];
                outa[i] = switch (f) {
                    case SIGMOID -> (float) (1 / (1 + Math.exp(-z)));
                    case TANH -> (float) Math.tanh(z);
                    case RELU -> Math.max(z, 0f);
                    default -> z;
                };
            }
            return outa;
        }
        k.activate(f, x, out);
        return out;
    }

    private Object backward(Activation f) {
        if (impl.equals("array")) {
            for (int i = 0; i < size; i++) {
                float z = xa[i];
                float d = switch (f) {
                    case SIGMOID -> {
                        float s = (float) (1 / (1 + Math.exp(-z)));
                        yield s * (1 - s);
                    }
                    case TANH -> {
                        float t = (float) Math.tanh(z);
                        yield 1 - t * t;
                    }
                    case RELU -> z > 0 ? 1f : 0f;
                    default -> 1f;
                };
                outa[i] = ya[i] * d;
            }
            return outa;
        }
        k.activationBackward(f, x, y, out);
        return out;
    }

    @Benchmark public Object sigmoid() { return forward(Activation.SIGMOID); }

    @Benchmark public Object sigmoidBackward() { return backward(Activation.SIGMOID); }

    @Benchmark public Object tanh() { return forward(Activation.TANH); }

    @Benchmark public Object tanhBackward() { return backward(Activation.TANH); }

    @Benchmark public Object relu() { return forward(Activation.RELU); }

    @Benchmark public Object reluBackward() { return backward(Activation.RELU); }

    /** Row-wise softmax over rows of 1024. */
    @Benchmark
    public Object softmax() {
        if (impl.equals("array")) {
            for (int r = 0; r < size; r += 1024) {
                float max = Float.NEGATIVE_INFINITY, sum = 0;
                for (int i = r; i < r + 1024; i++) max = Math.max(max, xa[i]);
                for (int i = r; i < r + 1024; i++) sum += outa[i] = (float) Math.exp(xa[i] - max);
                for (int i = r; i < r + 1024; i++) outa[i] /= sum;
            }
            return outa;
        }
        k.softmax(x.reshape(size / 1024, 1024), out.reshape(size / 1024, 1024));
        return out;
    }
}
