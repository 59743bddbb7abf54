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
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Init;
import io.vectorprop.network.Network;

class SafeTensorsTest {
    @TempDir Path dir;

    @Test
    void roundTripKeepsEveryParameterAndTheArchitecture() throws IOException {
        Architecture arch = Architecture.of(new int[] {7, 5, 3}, Activation.LEAKY_RELU, Loss.BINARY_CROSS_ENTROPY);
        Path f = dir.resolve("m.safetensors");
        try (Network net = Network.create(arch, Init.HE, 3)) {
            SafeTensors.save(net, f);
            try (Network back = SafeTensors.load(f, null, Kernels.get())) {
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
        try (Network net = SafeTensors.load(f, arch, Kernels.get())) {
            assertArrayEquals(w, net.weight(0).toArray());
            assertArrayEquals(b, net.bias(0).toArray());
        }
        var e = assertThrows(IOException.class, () -> SafeTensors.load(f, null, Kernels.get()));
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
            assertThrows(IOException.class, () -> SafeTensors.load(f, arch, Kernels.get()), forged);
        }
        Path huge = dir.resolve("huge");
        ByteBuffer buf = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).putLong(0);
        Files.write(huge, buf.array());
        assertThrows(IOException.class, () -> SafeTensors.load(huge, arch, Kernels.get()));
        Path truncated = dir.resolve("truncated");
        Files.write(truncated, java.util.Arrays.copyOf(good, good.length - 4));
        assertThrows(IOException.class, () -> SafeTensors.load(truncated, arch, Kernels.get()));
    }
}
