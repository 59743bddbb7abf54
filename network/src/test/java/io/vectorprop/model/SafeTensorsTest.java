package io.vectorprop.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;

class SafeTensorsTest {
    @TempDir Path dir;

    @Test
    void roundTripKeepsEveryParameterAndTheArchitecture() throws IOException {
        Architecture arch = Architecture.of(new int[] {7, 5, 3}, Activation.LEAKY_RELU, Loss.BINARY_CROSS_ENTROPY);
        Path f = dir.resolve("m.safetensors");
        try (Network net = Network.create(arch, Init.HE, 3)) {
            net.save(f);
            try (Network back = Network.load(f, null, Kernels.get())) {
                assertEquals(arch, back.architecture());
                assertArrayEquals(net.parameters().toArray(), back.parameters().toArray());
            }
            try (var fromFile = io.vectorprop.network.Predictor.load(f); var fromNet = io.vectorprop.network.Predictor.of(net)) {
                float[] x = {1, -2, 3, -4, 5, -6, 7}, a = new float[3], b = new float[3];
                fromFile.predict(x, a);
                fromNet.predict(x, b);
                assertArrayEquals(b, a, "a predictor from the file must match one from the network");
            }
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    /**
     * Bytes and channels carry exactly the file's bytes, and reading them back gives the same model (the
     * Spark module ships models as bytes); a model with a standardization and layer norms, so every kind
     * of tensor goes through.
     */
    @Test
    void bytesAndChannelsHoldTheFilesBytes() throws IOException {
        Architecture arch = Architecture.of(new int[] {4, 6, 3}, Activation.GELU, Loss.SOFTMAX_CROSS_ENTROPY)
                .withLayerNorms(1e-5f, LayerNorm.AFTER_ACTIVATION);
        Path f = dir.resolve("n.safetensors");
        try (Network net = Network.create(arch, Init.XAVIER, 5)) {
            net.setStandardization(new Standardization(new float[] {1, 2, 3, 4}, new float[] {0.5f, 0.25f, 2, 1}));
            net.save(f);
            ModelDescription model = net.description();
            byte[] bytes = SafeTensors.toBytes(SafeTensors.contents(model, SafeTensors.FORMAT));
            assertArrayEquals(Files.readAllBytes(f), bytes, "toBytes writes what save writes");
            var sink = new java.io.ByteArrayOutputStream();
            SafeTensors.write(SafeTensors.contents(model, SafeTensors.FORMAT), java.nio.channels.Channels.newChannel(sink));
            assertArrayEquals(bytes, sink.toByteArray(), "a channel gets the same bytes");
            ModelDescription fromBytes = SafeTensors.model(SafeTensors.read(bytes, "bytes"), "bytes", null);
            ModelDescription fromChannel = SafeTensors.model(SafeTensors.read(java.nio.channels.Channels.newChannel(
                    new java.io.ByteArrayInputStream(bytes)), "channel"), "channel", null);
            for (ModelDescription back : new ModelDescription[] {fromBytes, fromChannel, SafeTensors.load(f, null)}) {
                assertEquals(arch, back.architecture());
                assertEquals(model.standardization(), back.standardization());
                assertEquals(model.parameters().keySet(), back.parameters().keySet());
                for (String name : model.parameters().keySet()) {
                    assertArrayEquals(model.parameters().get(name), back.parameters().get(name), name);
                }
            }
            byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 5);
            var e = assertThrows(IOException.class, () -> SafeTensors.model(SafeTensors.read(cut, "cut.bytes"), "cut.bytes", null));
            assertTrue(e.getMessage().startsWith("cut.bytes: "), "the error names the source: " + e.getMessage());
        }
    }

    /** A file as PyTorch's safetensors.torch.save_file writes it: no metadata, header not padded, unaligned data. */
    static byte[] pytorchStyle(float[] w, float[] b) {
        String header = "{\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + 32).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        for (float v : b) buf.putFloat(v);
        for (float v : w) buf.putFloat(v);
        return buf.array();
    }

    @Test
    void loadsAPyTorchExportWhenTheArchitectureIsGiven() throws IOException {
        Path f = dir.resolve("torch.safetensors");
        float[] w = {1, 2, 3, 4, 5, 6}, b = {0.5f, -0.5f};
        Files.write(f, pytorchStyle(w, b));
        Architecture arch = Architecture.of(new int[] {3, 2}, Activation.IDENTITY, Loss.QUADRATIC);
        try (Network net = Network.load(f, arch, Kernels.get())) {
            assertArrayEquals(w, net.weight(0).toArray());
            assertArrayEquals(b, net.bias(0).toArray());
        }
        var e = assertThrows(IOException.class, () -> Network.load(f, null, Kernels.get()));
        assertTrue(e.getMessage().contains("--layers"), e.getMessage());
    }

    @Test
    void forgedHeadersAreErrorsNotCrashes() throws IOException {
        byte[] good = pytorchStyle(new float[6], new float[2]);
        Architecture arch = Architecture.of(new int[] {3, 2}, Activation.IDENTITY, Loss.QUADRATIC);
        String[] forgeries = {
            "\"data_offsets\":[8,32]}}", "\"data_offsets\":[8,99999999999]}}",
            "\"shape\":[2,3]", "\"shape\":[2000000000,2000000000]",
            "\"dtype\":\"F32\",\"shape\":[2,3]", "\"dtype\":\"F16\",\"shape\":[2,3]",
        };
        String header = new String(good, 8, good.length - 8 - 32, StandardCharsets.UTF_8);
        for (int i = 0; i < forgeries.length; i += 2) {
            String forged = header.replace(forgeries[i], forgeries[i + 1]);
            byte[] h = forged.getBytes(StandardCharsets.UTF_8);
            ByteBuffer buf = ByteBuffer.allocate(8 + h.length + 32).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(h.length).put(h);
            Path f = dir.resolve("forged" + i);
            Files.write(f, buf.array());
            assertThrows(IOException.class, () -> Network.load(f, arch, Kernels.get()), forged);
        }
        Path huge = dir.resolve("huge");
        ByteBuffer buf = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).putLong(0);
        Files.write(huge, buf.array());
        assertThrows(IOException.class, () -> Network.load(huge, arch, Kernels.get()));
        Path truncated = dir.resolve("truncated");
        Files.write(truncated, java.util.Arrays.copyOf(good, good.length - 4));
        assertThrows(IOException.class, () -> Network.load(truncated, arch, Kernels.get()));
    }
}
