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
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;

/**
 * Where a training step's time goes: each phase of one step of the 784-256-128-10 ReLU / softmax
 * cross-entropy network ({@link TrainStepBench#step}) on its own, with the same kernel calls on
 * matrices of the same shapes, one thread. Each benchmark runs one phase for every layer it applies to;
 * the step is their sum (SGD: forward, loss, BP1, BP2, the fused BP3/BP4 update; Adam: forward, loss,
 * BP1, BP2, BP3, BP4 into the gradient block, then the update). Score in µs per phase.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class StepPhaseBench {
    private static final int[] SIZES = {784, 256, 128, 10};
    private static final int LAYERS = SIZES.length - 1;

    @Param({"10", "64", "256"})
    public int batch;

    /** Threads of the kernels (TrainStepBench's {@code threads}): which phases scale. */
    @Param({"1"})
    public int threads;

    private Kernels k;
    private Arena arena;
    private Matrix[] w, b, wGrad, bGrad, z, a, delta;
    private Matrix y, params, grads, m, v, mask;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.requireSimd("simd");
        k = Kernels.get().withThreads(threads);
        arena = Arena.ofShared();
        Random rnd = new Random(1);
        w = new Matrix[LAYERS];
        b = new Matrix[LAYERS];
        wGrad = new Matrix[LAYERS];
        bGrad = new Matrix[LAYERS];
        z = new Matrix[LAYERS + 1];
        a = new Matrix[LAYERS + 1];
        delta = new Matrix[LAYERS + 1];
        int p = 0;
        for (int l = 0; l < LAYERS; l++) {
            w[l] = GemmBench.fill(Matrix.allocate(arena, SIZES[l + 1], SIZES[l]), rnd);
            k.scale((float) Math.sqrt(2.0 / SIZES[l]), w[l]);
            b[l] = Matrix.allocate(arena, 1, SIZES[l + 1]);
            wGrad[l] = Matrix.allocate(arena, SIZES[l + 1], SIZES[l]);
            bGrad[l] = Matrix.allocate(arena, 1, SIZES[l + 1]);
            p += SIZES[l + 1] * SIZES[l] + SIZES[l + 1];
        }
        for (int l = 0; l <= LAYERS; l++) {
            z[l] = Matrix.allocate(arena, batch, SIZES[l]);
            a[l] = GemmBench.fill(Matrix.allocate(arena, batch, SIZES[l]), rnd);
            delta[l] = GemmBench.fill(Matrix.allocate(arena, batch, SIZES[l]), rnd);
        }
        y = Matrix.allocate(arena, batch, SIZES[LAYERS]);
        float[] labels = new float[batch * SIZES[LAYERS]];
        for (int r = 0; r < batch; r++) labels[r * SIZES[LAYERS] + rnd.nextInt(SIZES[LAYERS])] = 1f;
        y.copyFrom(labels);
        params = GemmBench.fill(Matrix.allocate(arena, 1, p), rnd);
        grads = GemmBench.fill(Matrix.allocate(arena, 1, p), rnd);
        m = Matrix.allocate(arena, 1, p);
        v = Matrix.allocate(arena, 1, p);
        mask = Matrix.allocate(arena, 1, p);
        mask.fill(1f);
        forwardGemm();                                  // realistic Z, A and output for the phases that read them
        forwardBiasActivation();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    private static Activation f(int l) {
        return l == LAYERS - 1 ? Activation.SOFTMAX : Activation.RELU;
    }

    /** Forward, the products: {@code Z = A_prev·Wᵀ} (NT) for each layer. */
    @Benchmark
    public Matrix forwardGemm() {
        for (int l = 0; l < LAYERS; l++) k.gemm(Transpose.N, Transpose.T, 1f, a[l], w[l], 0f, z[l + 1]);
        return z[LAYERS];
    }

    /** Forward, the rest: {@code Z += 1·bᵀ}, {@code A = f(Z)} (softmax on the output). */
    @Benchmark
    public Matrix forwardBiasActivation() {
        for (int l = 0; l < LAYERS; l++) {
            k.addBias(z[l + 1], b[l]);
            k.activate(f(l), z[l + 1], a[l + 1]);
        }
        return a[LAYERS];
    }

    /** Forward as the step runs it: {@code Z = A_prev·Wᵀ + 1·bᵀ} in one call ({@code Kernels.linear}, the bias in the GEMM's accumulators). */
    @Benchmark
    public Matrix forwardLinear() {
        for (int l = 0; l < LAYERS; l++) k.linear(a[l], w[l], b[l], z[l + 1]);
        return z[LAYERS];
    }

    /** Forward, the activations alone: {@code A = f(Z)} (softmax on the output), what follows {@link #forwardLinear}. */
    @Benchmark
    public Matrix forwardActivation() {
        for (int l = 0; l < LAYERS; l++) k.activate(f(l), z[l + 1], a[l + 1]);
        return a[LAYERS];
    }

    /** The loss (the step reports it). */
    @Benchmark
    public double loss() {
        return k.loss(Loss.SOFTMAX_CROSS_ENTROPY, a[LAYERS], y);
    }

    /** BP1: {@code Δᴸ = A − Y}. */
    @Benchmark
    public Matrix bp1OutputDelta() {
        k.outputDelta(Loss.SOFTMAX_CROSS_ENTROPY, Activation.SOFTMAX, z[LAYERS], a[LAYERS], y, delta[LAYERS]);
        return delta[LAYERS];
    }

    /** BP2, the products: {@code Δˡ·Wˡ} (NN) for the layers with a layer below. */
    @Benchmark
    public Matrix bp2Gemm() {
        for (int l = LAYERS - 1; l > 0; l--) k.gemm(Transpose.N, Transpose.N, 1f, delta[l + 1], w[l], 0f, delta[l]);
        return delta[1];
    }

    /** BP2, the rest: {@code ⊙ f'(Zˡ)} for the hidden layers. */
    @Benchmark
    public Matrix bp2ActivationBackward() {
        for (int l = 1; l < LAYERS; l++) k.activationBackward(Activation.RELU, z[l], delta[l], delta[l]);
        return delta[1];
    }

    /** BP3 into the gradient block: column sums of Δ, ÷ B. */
    @Benchmark
    public Matrix bp3ColumnSums() {
        for (int l = 0; l < LAYERS; l++) k.columnSums(1f / batch, delta[l + 1], 0f, bGrad[l]);
        return bGrad[0];
    }

    /** BP4 into the gradient block: {@code ∇W = Δᵀ·A_prev / B} (TN). */
    @Benchmark
    public Matrix bp4Gemm() {
        for (int l = 0; l < LAYERS; l++) k.gemm(Transpose.T, Transpose.N, 1f / batch, delta[l + 1], a[l], 0f, wGrad[l]);
        return wGrad[0];
    }

    /** BP3 and BP4 fused with plain SGD, as the SGD step runs them: {@code W ← W − (η/B)·Δᵀ·A}, {@code b ← b − (η/B)·Σ Δ}. */
    @Benchmark
    public Matrix bp34FusedSgd() {
        float step = -1e-7f / batch;                    // tiny: the weights hardly move over millions of calls
        for (int l = 0; l < LAYERS; l++) {
            k.gemm(Transpose.T, Transpose.N, step, delta[l + 1], a[l], 1f, w[l]);
            k.columnSums(step, delta[l + 1], 1f, b[l]);
        }
        return w[0];
    }

    /** Adam's update over the whole parameter block: one pass over θ, ∇θ, m, v and the decay mask. */
    @Benchmark
    public Matrix updateAdam() {
        k.adamStep(params, grads, m, v, mask, 1e-9f, 0.9f, 0.999f, 1e-8f, 0f, 1000);
        return params;
    }
}
