package io.vectorprop.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.network.Network;

/**
 * A model as the bytes of its safetensors file: what a {@link VectorpropClassificationModel} holds on
 * the heap, broadcasts to executors and stores in its directory, so that the file a service loads with
 * {@code Predictor.load} is the one Spark scored with. The model-file code reads and writes paths
 * (memory-mapped, atomic rename), so these go through a temporary file.
 */
final class ModelBytes {
    private ModelBytes() {}

    static byte[] of(Network net) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile("vectorprop-model-", ".safetensors");
            SafeTensors.save(net, tmp);
            return Files.readAllBytes(tmp);
        } catch (IOException e) {
            throw new UncheckedIOException("writing the model to a temporary file", e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** A network with the file's architecture, parameters and standardization (the caller closes it). */
    static Network toNetwork(byte[] file, String source) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile("vectorprop-model-", ".safetensors");
            Files.write(tmp, file);
            return SafeTensors.load(tmp, null, Kernels.get());
        } catch (IOException e) {
            throw new UncheckedIOException("reading the model " + source + ": " + e.getMessage(), e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    private static void deleteQuietly(Path p) {
        if (p == null) return;
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a temporary file left behind is harmless; the error that matters is the one already thrown, if any
        }
    }
}
