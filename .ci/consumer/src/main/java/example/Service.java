package example;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import io.vectorprop.network.Predictor;
import io.vectorprop.network.SwappablePredictor;

/**
 * A tiny service: loads a model (here a PyTorch ONNX export), checks the kernels, warms up, and
 * predicts from 8 threads, comparing every answer with PyTorch's outputs for the same inputs.
 * Arguments: MODEL.onnx INPUTS.f32 EXPECTED.f32 (raw little-endian float32, row after row).
 */
public final class Service {
    public static void main(String[] args) throws Exception {
        SwappablePredictor model = new SwappablePredictor(Predictor.load(Path.of(args[0])));
        float[] x = floats(Path.of(args[1])), expected = floats(Path.of(args[2]));
        Predictor p = model.current();
        System.out.println("model: " + p.architecture());
        System.out.println("kernels: " + p.kernelStatus());
        if (!p.kernelStatus().isFullSpeed()) System.out.println("WARNING: not full speed: " + p.kernelStatus().jit());
        System.out.println("warm-up: " + p.warmUp());
        int n0 = p.architecture().inputs(), nL = p.architecture().outputs(), rows = x.length / n0;
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<Double>> results = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            results.add(pool.submit(() -> {
                float[] in = new float[n0], out = new float[nL];
                double worst = 0;
                for (int i = 0; i < 2_000; i++) {
                    int r = i % rows;
                    System.arraycopy(x, r * n0, in, 0, n0);
                    model.predict(in, out);
                    for (int j = 0; j < nL; j++) worst = Math.max(worst, Math.abs(out[j] - expected[r * nL + j]));
                }
                return worst;
            }));
        }
        double worst = 0;
        for (Future<Double> f : results) worst = Math.max(worst, f.get());
        pool.shutdown();
        model.close();
        System.out.printf("8 threads x 2,000 predictions: max |ours - PyTorch| = %.2e%n", worst);
        if (worst > 1e-5) {
            System.out.println("FAILED: predictions differ from PyTorch's");
            System.exit(1);
        }
        System.out.println("consumer OK");
    }

    static float[] floats(Path f) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }
}
