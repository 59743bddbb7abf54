package io.vectorprop.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/**
 * ONNX Runtime Java, the engine a JVM service team would otherwise pick, measured beside us on the same
 * ONNX file (a peer of the benchmarks only, like OpenBLAS; the library never depends on it).
 *
 * <p>Its best configuration for one sample, found by trying the options its Java API has: the CPU
 * provider with one intra-op and one inter-op thread (the service's threads are the parallelism, and a
 * pool per session would compete with them for two cores), all graph optimizations, sequential
 * execution, and input and output tensors over direct buffers made once and reused ("pinned": the
 * output through {@code run(inputs, pinnedOutputs)}), so a call copies the input in, runs and reads the
 * output, allocating only ONNX Runtime's own {@code Result}. Tensors are not safe to share between
 * concurrent calls, so each call takes a pair from a pool (one pair per concurrent call, made on demand).
 * {@link OrtSession#run} itself is safe to call from several threads.
 */
final class OrtPeer implements AutoCloseable {
    /** The PyTorch export of 784-256-128-10 the tests also read; {@code -Dvectorprop.bench.model} names another. */
    static final Path MODEL = Path.of(System.getProperty("vectorprop.bench.model",
            "network/src/test/resources/onnx/mlp_784_256_128_10.onnx"));

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final String inputName, outputName;
    private final int inputs, outputs, rows;
    private final ConcurrentLinkedQueue<Tensors> pool = new ConcurrentLinkedQueue<>();

    /** An input and an output tensor of {@code rows} rows over direct buffers. */
    private final class Tensors implements AutoCloseable {
        final FloatBuffer in = direct(rows * inputs), out = direct(rows * outputs);
        final OnnxTensor inTensor, outTensor;
        final Map<String, OnnxTensor> inMap, outMap;

        Tensors() throws OrtException {
            inTensor = OnnxTensor.createTensor(env, in, new long[] {rows, inputs});
            outTensor = OnnxTensor.createTensor(env, out, new long[] {rows, outputs});
            inMap = Map.of(inputName, inTensor);
            outMap = Map.of(outputName, outTensor);
        }

        @Override
        public void close() {
            inTensor.close();
            outTensor.close();
        }
    }

    /** A session on {@code model} for batches of exactly {@code rows} rows. */
    OrtPeer(Path model, int rows, int inputs, int outputs) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        session = env.createSession(model.toString(), options);
        inputName = session.getInputNames().iterator().next();
        outputName = session.getOutputNames().iterator().next();
        this.rows = rows;
        this.inputs = inputs;
        this.outputs = outputs;
    }

    /** {@code rows × inputs} floats in, {@code rows × outputs} out. */
    void predict(float[] in, float[] out) {
        Tensors t = pool.poll();
        try {
            if (t == null) t = new Tensors();
            t.in.clear();
            t.in.put(in, 0, rows * inputs);
            try (OrtSession.Result r = session.run(t.inMap, t.outMap)) {
                t.out.clear();
                t.out.get(out, 0, rows * outputs);
            }
        } catch (OrtException e) {
            throw new IllegalStateException("onnxruntime: " + e.getMessage(), e);
        } finally {
            if (t != null) pool.offer(t);
        }
    }

    private static FloatBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(floats * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    @Override
    public void close() throws OrtException {
        for (Tensors t; (t = pool.poll()) != null; ) t.close();
        session.close();
    }
}
