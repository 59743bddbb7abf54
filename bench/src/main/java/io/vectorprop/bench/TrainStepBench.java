package io.vectorprop.bench;

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
import io.vectorprop.model.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Workspace;

/**
 * One training step of the 784-256-128-10 ReLU / softmax cross-entropy network per invocation:
 * forward, loss, BP1–BP4, optimizer update. Score in steps/s; samples/s = score × batch.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 1)
public class TrainStepBench {
    @Param({"1", "10", "64", "256"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    @Param({"sgd", "adam"})
    public String optimizer;

    private Network net;
    private Workspace ws;
    private Optimizer opt;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.requireSimd("simd");
        Architecture arch = Architecture.of(new int[] {784, 256, 128, 10}, Activation.RELU, Loss.SOFTMAX_CROSS_ENTROPY);
        net = Network.create(arch, Kernels.get().withThreads(threads));
        net.initialize(Init.HE, 1);
        ws = net.newWorkspace(batch);
        Random rnd = new Random(1);
        float[] x = new float[batch * 784], y = new float[batch * 10];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat();
        for (int r = 0; r < batch; r++) y[r * 10 + rnd.nextInt(10)] = 1f;
        ws.x().copyFrom(x);
        ws.y().copyFrom(y);
        opt = new Optimizer(Optimizer.Config.of(Optimizer.Kind.parse(optimizer), optimizer.equals("adam") ? 1e-4f : 1e-3f,
                0f, 0f), net);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        opt.close();
        ws.close();
        net.close();
    }

    @Benchmark
    public double step() {
        net.forward(ws);
        double loss = net.loss(ws);
        net.backwardAndStep(ws, opt);
        return loss;
    }

    /** The same step with the update as a separate pass over the gradient block (what {@code step} fuses for SGD). */
    @Benchmark
    public double stepTwoPass() {
        net.forward(ws);
        double loss = net.loss(ws);
        net.backward(ws);
        opt.step();
        return loss;
    }
}
