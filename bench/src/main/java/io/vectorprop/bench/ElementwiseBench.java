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
    private Matrix gamma, beta, stats, dGamma, dBeta;
    private float[] statsA, dGammaA = new float[256], dBetaA = new float[256];

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
        gamma = GemmBench.fill(Matrix.allocate(arena, 1, 256), rnd);
        beta = GemmBench.fill(Matrix.allocate(arena, 1, 256), rnd);
        dGamma = Matrix.allocate(arena, 1, 256);
        dBeta = Matrix.allocate(arena, 1, 256);
        stats = Matrix.allocate(arena, size / 256, 2);
        Kernels.scalar().layerNorm(x.reshape(size / 256, 256), gamma, beta, 1e-5f, out.reshape(size / 256, 256), stats);
        statsA = stats.toArray();
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
                    case GELU -> z * normalCdf(z);
                    case GELU_TANH -> 0.5f * z * (1 + (float) Math.tanh(GELU_K * (z + 0.044715f * z * z * z)));
                    case SILU -> (float) (z / (1 + Math.exp(-z)));
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
                    case GELU -> geluPrime(z);
                    case GELU_TANH -> {
                        float t = (float) Math.tanh(GELU_K * (z + 0.044715f * z * z * z));
                        yield 0.5f * (1 + t) + 0.5f * z * (1 - t * t) * GELU_K * (1 + 3 * 0.044715f * z * z);
                    }
                    case SILU -> {
                        float s = (float) (1 / (1 + Math.exp(-z)));
                        yield s * (1 + z * (1 - s));
                    }
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

    @Benchmark public Object gelu() { return forward(Activation.GELU); }

    @Benchmark public Object geluBackward() { return backward(Activation.GELU); }

    @Benchmark public Object geluTanh() { return forward(Activation.GELU_TANH); }

    @Benchmark public Object geluTanhBackward() { return backward(Activation.GELU_TANH); }

    @Benchmark public Object silu() { return forward(Activation.SILU); }

    @Benchmark public Object siluBackward() { return backward(Activation.SILU); }

    private static final float GELU_K = 0.7978846f;

    /** Φ(z) and GELU'(z) as the kernels compute them (½ + z·P(z²)/Q(z²), clamped to ±6), for the plain-array baseline. */
    private static final float[] CDF_P = {0.3989423f, 0.03282706f, 0.0047914316f, 1.6996795e-4f, 8.2302825e-6f, 4.9645836e-8f,
            -6.796950e-11f}, CDF_Q = {1f, 0.24895193f, 0.028502249f, 0.0019289229f, 8.105768e-5f, 1.9140334e-6f},
            PRIME_P = {0.7978846f, -0.031469885f, 0.014128016f, 1.8636194e-5f, 3.3886397e-5f, 1.4297764e-7f, 1.5747566e-10f},
            PRIME_Q = {1f, 0.2938931f, 0.040666022f, 0.0034489604f, 1.8854786e-4f, 7.857229e-6f};

    private static float normalCdf(float z) { return halfPlusOddRational(z, CDF_P, CDF_Q); }

    private static float geluPrime(float z) { return halfPlusOddRational(z, PRIME_P, PRIME_Q); }

    private static float halfPlusOddRational(float z, float[] p, float[] q) {
        float c = Math.max(-6f, Math.min(6f, z)), t = c * c, num = 0, den = 0;
        for (int i = p.length - 1; i >= 0; i--) num = num * t + p[i];
        for (int i = q.length - 1; i >= 0; i--) den = den * t + q[i];
        return 0.5f + c * num / den;
    }

    /** Layer normalization over rows of 256 (a hidden layer's width), γ and β of 256. */
    @Benchmark
    public Object layerNorm() {
        int n = 256;
        if (impl.equals("array")) {
            for (int r = 0; r < size; r += n) {
                float sum = 0, sq = 0;
                for (int i = r; i < r + n; i++) sum += xa[i];
                float mean = sum / n;
                for (int i = r; i < r + n; i++) sq += (xa[i] - mean) * (xa[i] - mean);
                float rstd = (float) (1 / Math.sqrt(sq / n + 1e-5f));
                for (int i = r; i < r + n; i++) outa[i] = (xa[i] - mean) * rstd * ya[i - r] + ya[n + i - r];
            }
            return outa;
        }
        k.layerNorm(x.reshape(size / n, n), gamma, beta, 1e-5f, out.reshape(size / n, n), stats);
        return out;
    }

    /** layerNorm's backward pass over rows of 256: dx, and the sums into dγ and dβ. */
    @Benchmark
    public Object layerNormBackward() {
        int n = 256;
        if (impl.equals("array")) {
            java.util.Arrays.fill(dGammaA, 0f);
            java.util.Arrays.fill(dBetaA, 0f);
            for (int r = 0, row = 0; r < size; r += n, row++) {
                float mean = statsA[2 * row], rstd = statsA[2 * row + 1], sg = 0, sgx = 0;
                for (int i = r; i < r + n; i++) {
                    float xhat = (xa[i] - mean) * rstd, gh = ya[i] * ya[i - r];
                    sg += gh;
                    sgx += gh * xhat;
                    dGammaA[i - r] += ya[i] * xhat;
                    dBetaA[i - r] += ya[i];
                }
                sg /= n;
                sgx /= n;
                for (int i = r; i < r + n; i++) {
                    float xhat = (xa[i] - mean) * rstd;
                    outa[i] = rstd * (ya[i] * ya[i - r] - sg - xhat * sgx);
                }
            }
            return outa;
        }
        k.layerNormBackward(x.reshape(size / n, n), stats, gamma, y.reshape(size / n, n), out.reshape(size / n, n), 1f, dGamma, dBeta);
        return out;
    }

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
