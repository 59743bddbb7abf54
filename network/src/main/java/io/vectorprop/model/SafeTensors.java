package io.vectorprop.model;

import java.io.IOException;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Network;

/**
 * Model files in the safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping tensor names to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the
 * data after the header), then the data. Tensors are {@code layers.{i}.weight} {@code [out, in]} and
 * {@code layers.{i}.bias} {@code [out]}, F32 little-endian (PyTorch's nn.Linear names inside an
 * nn.Sequential-like container). The architecture is stored in {@code __metadata__}
 * ({@code layers}, {@code activation}, {@code output}, {@code loss}). Files are read by memory-mapping,
 * with every offset and shape checked against the file's length first, and written atomically.
 */
public final class SafeTensors {
    private static final JsonFactory JSON = new JsonFactory();
    private static final long MAX_HEADER = 100L << 20;
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SafeTensors() {}

    /** One tensor's header entry. */
    record Entry(String dtype, long[] shape, long begin, long end) {}

    /** Writes {@code net} to {@code file} through a temporary file in the same directory and an atomic rename. */
    public static void save(Network net, Path file) throws IOException {
        Architecture arch = net.architecture();
        Map<String, Matrix> tensors = new LinkedHashMap<>();
        for (int l = 0; l < arch.layers(); l++) {
            tensors.put("layers." + l + ".weight", net.weight(l));
            tensors.put("layers." + l + ".bias", net.bias(l));
        }
        StringWriter header = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(header)) {
            g.writeStartObject();
            g.writeObjectFieldStart("__metadata__");
            g.writeStringField("format", "vectorprop");
            g.writeStringField("layers", arch.sizesText());
            g.writeStringField("activation", arch.hidden().id());
            g.writeStringField("output", arch.output().id());
            g.writeStringField("loss", arch.loss().id());
            g.writeEndObject();
            long offset = 0;
            for (var e : tensors.entrySet()) {
                Matrix m = e.getValue();
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", "F32");
                g.writeArrayFieldStart("shape");
                if (m.rows() > 1 || e.getKey().endsWith("weight")) g.writeNumber(m.rows());
                g.writeNumber(m.cols());
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                offset += m.size() * Float.BYTES;
                g.writeNumber(offset);
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        }
        StringBuilder h = new StringBuilder(header.toString());
        while ((h.length() + 8) % 8 != 0) h.append(' ');          // data starts 8-byte aligned
        byte[] headerBytes = h.toString().getBytes(StandardCharsets.UTF_8);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 Arena arena = Arena.ofConfined()) {
                long dataBytes = 0;
                for (Matrix m : tensors.values()) dataBytes += m.size() * Float.BYTES;
                MemorySegment buf = arena.allocate(8 + headerBytes.length + dataBytes);
                buf.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, headerBytes.length);
                MemorySegment.copy(headerBytes, 0, buf, ValueLayout.JAVA_BYTE, 8, headerBytes.length);
                long at = 8 + headerBytes.length;
                for (Matrix m : tensors.values()) {
                    for (float v : m.toArray()) {
                        buf.set(FLOAT_LE, at, v);
                        at += 4;
                    }
                }
                ch.write(buf.asByteBuffer());
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Loads a model. The architecture comes from the file's metadata; {@code given} (may be null)
     * is used when the file has none (a PyTorch export) and must agree with it when it has.
     */
    public static Network load(Path file, Architecture given, Kernels kernels) throws IOException {
        if (!Files.isRegularFile(file)) throw new java.nio.file.NoSuchFileException(file + " (no such model file)");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new IOException(file + ": " + size + " bytes is too short for a safetensors file");
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLength = map.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLength < 2 || headerLength > Math.min(MAX_HEADER, size - 8)) {
                throw new IOException(file + ": header length " + headerLength + " does not fit a file of " + size + " bytes");
            }
            byte[] headerBytes = map.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(file, headerBytes, metadata);
            long dataStart = 8 + headerLength, dataLength = size - dataStart;
            for (var e : entries.entrySet()) {
                Entry t = e.getValue();
                long elements = 1;
                for (long d : t.shape()) {
                    if (d < 0 || d > Integer.MAX_VALUE) throw new IOException(file + ": tensor " + e.getKey() + " has dimension " + d);
                    elements = Math.multiplyExact(elements, d);
                }
                if (!t.dtype().equals("F32")) {
                    throw new IOException(file + ": tensor " + e.getKey() + " has dtype " + t.dtype() + "; only F32 is supported");
                }
                if (t.begin() < 0 || t.end() < t.begin() || t.end() > dataLength || t.end() - t.begin() != elements * 4) {
                    throw new IOException(file + ": tensor " + e.getKey() + " data_offsets [" + t.begin() + ", " + t.end()
                            + "] do not fit its shape " + java.util.Arrays.toString(t.shape()) + " and the " + dataLength
                            + " data bytes");
                }
            }
            Architecture arch = architecture(file, entries, metadata, given);
            Network net = Network.create(arch, kernels);
            try {
                for (int l = 0; l < arch.layers(); l++) {
                    copy(map, dataStart, entries.get("layers." + l + ".weight"), net.weight(l));
                    copy(map, dataStart, entries.get("layers." + l + ".bias"), net.bias(l));
                }
            } catch (RuntimeException e) {
                net.close();
                throw e;
            }
            return net;
        }
    }

    private static void copy(MemorySegment map, long dataStart, Entry e, Matrix target) {
        float[] values = new float[(int) target.size()];
        long at = dataStart + e.begin();
        for (int i = 0; i < values.length; i++, at += 4) values[i] = map.get(FLOAT_LE, at);   // unaligned is fine
        target.copyFrom(values);
    }

    private static Architecture architecture(Path file, Map<String, Entry> entries, Map<String, String> metadata,
                                             Architecture given) throws IOException {
        int layers = 0;
        while (entries.containsKey("layers." + layers + ".weight")) layers++;
        if (layers == 0) throw new IOException(file + ": no tensor named layers.0.weight");
        int[] sizes = new int[layers + 1];
        for (int l = 0; l < layers; l++) {
            Entry w = entries.get("layers." + l + ".weight"), b = entries.get("layers." + l + ".bias");
            if (w.shape().length != 2) throw new IOException(file + ": layers." + l + ".weight must have 2 dimensions [out, in]");
            if (b == null || b.shape().length != 1 || b.shape()[0] != w.shape()[0]) {
                throw new IOException(file + ": layers." + l + ".bias must have shape [" + w.shape()[0] + "]");
            }
            if (l > 0 && w.shape()[1] != sizes[l]) {
                throw new IOException(file + ": layers." + l + ".weight takes " + w.shape()[1] + " inputs but layer " + (l - 1)
                        + " gives " + sizes[l]);
            }
            sizes[l] = (int) w.shape()[1];
            sizes[l + 1] = (int) w.shape()[0];
        }
        Architecture fromFile = null;
        if (metadata.containsKey("activation") && metadata.containsKey("loss")) {
            try {
                Loss loss = Loss.parse(metadata.get("loss"));
                Activation hidden = Activation.parse(metadata.get("activation"));
                Activation output = metadata.containsKey("output") ? Activation.parse(metadata.get("output"))
                        : Architecture.of(sizes, hidden, loss).output();
                fromFile = new Architecture(sizes, hidden, output, loss);
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": metadata: " + e.getMessage());
            }
        }
        if (given != null) {
            if (!java.util.Arrays.equals(given.sizes(), sizes)) {
                throw new IOException(file + ": holds a network with layers " + join(sizes) + ", not " + given.sizesText());
            }
            if (fromFile != null && !fromFile.equals(given)) {
                throw new IOException(file + ": holds " + fromFile + ", not " + given);
            }
            return given;
        }
        if (fromFile == null) {
            throw new IOException(file + ": no architecture in __metadata__ (a PyTorch export?); give --layers,"
                    + " --activation and --loss");
        }
        return fromFile;
    }

    private static String join(int[] sizes) {
        StringBuilder s = new StringBuilder();
        for (int v : sizes) s.append(s.isEmpty() ? "" : ",").append(v);
        return s.toString();
    }

    static Map<String, Entry> parseHeader(Path file, byte[] header, Map<String, String> metadata) throws IOException {
        Map<String, Entry> entries = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(header)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException(file + ": header is not a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException(file + ": header entry " + name + " is not an object");
                if (name.equals("__metadata__")) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String key = p.currentName();
                        p.nextToken();
                        metadata.put(key, p.getValueAsString());
                    }
                    continue;
                }
                String dtype = null;
                long[] shape = null, offsets = null;
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String key = p.currentName();
                    JsonToken t = p.nextToken();
                    switch (key) {
                        case "dtype" -> dtype = p.getValueAsString();
                        case "shape" -> shape = longs(file, p, t, name + ".shape");
                        case "data_offsets" -> offsets = longs(file, p, t, name + ".data_offsets");
                        default -> p.skipChildren();
                    }
                }
                if (dtype == null || shape == null || offsets == null || offsets.length != 2) {
                    throw new IOException(file + ": tensor " + name + " needs dtype, shape and two data_offsets");
                }
                entries.put(name, new Entry(dtype, shape, offsets[0], offsets[1]));
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(file + ": header is not valid JSON: " + e.getOriginalMessage());
        }
        return entries;
    }

    private static long[] longs(Path file, JsonParser p, JsonToken t, String what) throws IOException {
        if (t != JsonToken.START_ARRAY) throw new IOException(file + ": " + what + " is not an array");
        long[] out = new long[0];
        while (p.nextToken() != JsonToken.END_ARRAY) {
            if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || out.length >= 8) {
                throw new IOException(file + ": " + what + " must be a short array of whole numbers");
            }
            out = java.util.Arrays.copyOf(out, out.length + 1);
            out[out.length - 1] = p.getLongValue();
        }
        return out;
    }
}
