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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.BatchingPredictor;
import io.vectorprop.network.Predictor;

/**
 * Prediction latency of the 784-256-128-10 network through the public {@link Predictor} API,
 * {@code Mode.SampleTime} in microseconds (JMH reports the percentiles), beside ONNX Runtime Java on
 * the same file: the PyTorch export the tests read ({@link OrtPeer#MODEL}; run from the repository root).
 *
 * <p>Batches: {@code predictBatch} and {@code ortPredictBatch} take {@code rows} rows per call (divide
 * by rows for the cost of a sample). {@code predictBatchMixed} is {@code predictBatch} in a JVM that
 * also runs single-sample predictions between iterations, as a service does: the two paths share
 * code, and a JIT profile taken from batches alone could flatter the batch path.
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
    private Predictor predictor, bf16;
    private BatchingPredictor batching;
    private OrtPeer ortOne;
    private Arena arena;
    private MemorySegment inSeg, outSeg;

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

    /** {@code rows} rows of inputs, off heap for us and as an array for ONNX Runtime, and its session for that size. */
    @State(Scope.Thread)
    public static class Batch {
        @Param({"16", "64", "256"})
        public int rows;
        Arena arena;
        Matrix in, out;
        float[] inArray, outArray;
        OrtPeer ort;

        @Setup(Level.Trial)
        public void setUp() throws Exception {
            arena = Arena.ofShared();
            in = GemmBench.fill(Matrix.allocate(arena, rows, 784), new Random(2));
            out = Matrix.allocate(arena, rows, 10);
            inArray = in.toArray();
            outArray = new float[rows * 10];
            ort = new OrtPeer(OrtPeer.MODEL, rows, 784, 10);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Exception {
            ort.close();
            arena.close();
        }
    }

    /** Before every iteration, single-sample predictions on the same predictor (see {@code predictBatchMixed}). */
    @State(Scope.Thread)
    public static class SinglesBetween {
        final float[] in = new float[784], out = new float[10];

        @Setup(Level.Iteration)
        public void predictSingles(InferenceBench bench) {
            for (int i = 0; i < 20_000; i++) {
                in[i % in.length] = i * 1e-4f;
                bench.predictor.predict(in, out);
            }
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        BenchSupport.requireSimd("simd");
        predictor = Predictor.load(OrtPeer.MODEL);
        bf16 = Predictor.load(OrtPeer.MODEL, Predictor.Precision.BF16);
        ortOne = new OrtPeer(OrtPeer.MODEL, 1, 784, 10);
        batching = new BatchingPredictor(predictor, 64);
        arena = Arena.ofShared();
        inSeg = arena.allocate(784 * 4, 64);
        outSeg = arena.allocate(10 * 4, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        batching.close();
        predictor.close();
        bf16.close();
        ortOne.close();
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

    /** {@code rows} samples per call: divide the time by rows for the cost of a sample. */
    @Benchmark
    public Matrix predictBatch(Batch b) {
        predictor.predict(b.in, b.out);
        return b.out;
    }

    /** {@code predictBatch} with single-sample predictions run between iterations (a service's mix). */
    @Benchmark
    public Matrix predictBatchMixed(Batch b, SinglesBetween singles) {
        predictor.predict(b.in, b.out);
        return b.out;
    }

    /** ONNX Runtime on the same rows (see {@link OrtPeer} for its configuration). */
    @Benchmark
    public float[] ortPredictBatch(Batch b) {
        b.ort.predict(b.inArray, b.outArray);
        return b.outArray;
    }

    /** ONNX Runtime, one sample. */
    @Benchmark
    public float[] ortPredictOne(Buffers b) {
        ortOne.predict(b.in, b.out);
        return b.out;
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

    /** One caller through {@link BatchingPredictor} (maxBatch 64): every call a batch of one; compare with predictOne. */
    @Benchmark
    public float[] predictOneBatching(Buffers b) throws InterruptedException {
        batching.predict(b.in, b.out);
        return b.out;
    }

    /** bfloat16 weights for the 784→256 and 256→128 layers, fp32 for the 10 outputs. */
    @Benchmark
    public float[] predictOneBf16(Buffers b) {
        bf16.predict(b.in, b.out);
        return b.out;
    }
}
