package io.vectorprop.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** Reads a model file by its kind: {@code .onnx} through {@link Onnx}, anything else as safetensors. Stateless: safe from any thread. */
public final class ModelFiles {
    private ModelFiles() {}

    /** True for a file name ending in {@code .onnx} (any case). */
    public static boolean isOnnx(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().toLowerCase(Locale.ROOT).endsWith(".onnx");
    }

    /**
     * Reads {@code file}. {@code given} may be null when the file carries the architecture (ONNX, and
     * safetensors written by vectorprop); when not null it must agree with the file.
     */
    public static ModelDescription read(Path file, Architecture given) throws IOException {
        if (!isOnnx(file)) return SafeTensors.load(file, given);
        ModelDescription model = Onnx.read(file);
        if (given != null && !given.equals(model.architecture())) {
            throw new IOException(file + ": holds " + model.architecture() + ", not " + given);
        }
        return model;
    }
}
