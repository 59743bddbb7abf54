package io.vectorprop.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Predictor;

/**
 * Prediction latency of the 784-256-128-10 network through the public {@link Predictor} API,
 * {@code Mode.SampleTime} in microseconds (JMH reports the percentiles).
 *
 * <p>Virtual threads: {@code predictOneVirtualThreads} is {@code predictOne} with JMH's benchmark
 * thread itself a virtual thread ({@code -Djmh.executor=VIRTUAL}), the same call on the same predictor,
 * to compare with {@code predictOne}. {@code predictOneThreadPerRequest} starts a new virtual thread per
 * prediction and waits for it, as a thread-per-request server does; {@code startAndJoinVirtualThread}
 * is that with no work, the part of it that is the JDK's.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 1)
public class InferenceBench {
    private Network net;
    private Predictor predictor, bf16;
    private Arena arena;
    private MemorySegment inSeg, outSeg;
    private Matrix batchIn, batchOut;

    /** Per-thread arrays, so several threads can share the one predictor. */
    @State(Scope.Thread)
    public static class Buffers {
        final float[] in = new float[784], out = new float[10];

        @Setup
        public void fill() {
            Random rnd = new Random(Thread.currentThread().threadId());
            for (int i = 0; i < in.length; i++) in[i] = rnd.nextFloat();
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.requireSimd("simd");
        Architecture arch = Architecture.of(new int[] {784, 256, 128, 10}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        net = Network.create(arch, Init.HE, 1);
        predictor = Predictor.of(net);
        bf16 = Predictor.of(net, Predictor.Precision.BF16);
        arena = Arena.ofShared();
        inSeg = arena.allocate(784 * 4, 64);
        outSeg = arena.allocate(10 * 4, 64);
        batchIn = GemmBench.fill(Matrix.allocate(arena, 64, 784), new Random(2));
        batchOut = Matrix.allocate(arena, 64, 10);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        predictor.close();
        bf16.close();
        net.close();
        arena.close();
    }

    @Benchmark
    public float[] predictOne(Buffers b) {
        predictor.predict(b.in, b.out);
        return b.out;
    }

    @Benchmark
    public MemorySegment predictOneSegment() {
        predictor.predict(inSeg, 0, outSeg, 0);
        return outSeg;
    }

    /** 64 samples per call: divide the time by 64 for per-sample cost. */
    @Benchmark
    public Matrix predictBatch64() {
        predictor.predict(batchIn, batchOut);
        return batchOut;
    }

    @Benchmark
    @Threads(2)
    public float[] predictOneTwoThreads(Buffers b) {
        predictor.predict(b.in, b.out);
        return b.out;
    }

    @Benchmark
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true", "-Djmh.executor=VIRTUAL"})
    public float[] predictOneVirtualThreads(Buffers b) {
        predictor.predict(b.in, b.out);
        return b.out;
    }

    @Benchmark
    public float[] predictOneThreadPerRequest(Buffers b) throws InterruptedException {
        Thread.ofVirtual().start(() -> predictor.predict(b.in, b.out)).join();
        return b.out;
    }

    @Benchmark
    public Thread startAndJoinVirtualThread() throws InterruptedException {
        Thread t = Thread.ofVirtual().start(() -> { });
        t.join();
        return t;
    }

    /** bfloat16 weights for the 784→256 and 256→128 layers, fp32 for the 10 outputs. */
    @Benchmark
    public float[] predictOneBf16(Buffers b) {
        bf16.predict(b.in, b.out);
        return b.out;
    }
}
