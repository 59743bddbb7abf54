package io.vectorprop.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Network;

/** Loads a model file by its kind: {@code .onnx} through {@link Onnx}, anything else as safetensors. */
public final class ModelFiles {
    private ModelFiles() {}

    /** True for a file name ending in {@code .onnx} (any case). */
    public static boolean isOnnx(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().toLowerCase(Locale.ROOT).endsWith(".onnx");
    }

    /**
     * Loads {@code file}. {@code given} may be null when the file carries the architecture (ONNX, and
     * safetensors written by vectorprop); when not null it must agree with the file.
     */
    public static Network load(Path file, Architecture given, Kernels kernels) throws IOException {
        if (!isOnnx(file)) return SafeTensors.load(file, given, kernels);
        Network net = Onnx.load(file, kernels);
        if (given != null && !given.equals(net.architecture())) {
            Architecture found = net.architecture();
            net.close();
            throw new IOException(file + ": holds " + found + ", not " + given);
        }
        return net;
    }
}
