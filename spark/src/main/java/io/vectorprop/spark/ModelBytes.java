package io.vectorprop.spark;

import java.io.IOException;
import java.io.UncheckedIOException;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.model.SafeTensors;
import io.vectorprop.network.Network;

/**
 * A model as the bytes of its safetensors file: what a {@link VectorpropClassificationModel} holds on
 * the heap, broadcasts to executors and stores in its directory, so that the file a service loads with
 * {@code Predictor.load} is the one Spark scored with. Encoded and decoded in memory, no temporary file.
 */
final class ModelBytes {
    private ModelBytes() {}

    static byte[] of(Network net) {
        return SafeTensors.toBytes(SafeTensors.contents(net.description(), SafeTensors.FORMAT));
    }

    /** A network with the file's architecture, parameters and standardization (the caller closes it). */
    static Network toNetwork(byte[] file, String source) {
        try {
            return Network.create(SafeTensors.model(SafeTensors.read(file, source), source, null), Kernels.get());
        } catch (IOException e) {
            throw new UncheckedIOException("reading the model " + source + ": " + e.getMessage(), e);
        }
    }
}
