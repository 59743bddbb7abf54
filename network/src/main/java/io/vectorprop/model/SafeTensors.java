package io.vectorprop.model;

import java.io.IOException;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SequencedMap;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;

/**
 * Model files in the safetensors format: an 8-byte little-endian header length, a JSON header
 * mapping tensor names to {@code dtype}, {@code shape} and {@code data_offsets} (relative to the
 * data after the header), then the data. Tensors are {@code layers.{i}.weight} {@code [out, in]} and
 * {@code layers.{i}.bias} {@code [out]}, and for a hidden layer with a layer norm
 * {@code layers.{i}.norm.weight} and {@code layers.{i}.norm.bias} {@code [out]} (γ, β), F32 little-endian
 * (PyTorch's names inside an nn.Sequential-like container). The architecture is stored in
 * {@code __metadata__} ({@code layers}, {@code activation}, {@code output}, {@code loss}; a network
 * whose hidden layers differ or have layer norms adds {@code activations}, {@code layer_norm} and
 * {@code layer_norm_epsilon}, comma-separated per hidden layer, so files of plain networks are
 * written and read exactly as before). A model trained on standardized
 * inputs also holds {@code standardize.mean} and {@code standardize.scale} ({@code [n₀]} each; the
 * network computes on {@code (x − mean) · scale}, scale = 1/σ), which {@link #load} restores, so every
 * reader of the file applies the same transformation.
 *
 * <p>Two levels: {@link Contents} (metadata and named F32 tensors, any names) read from and written to
 * a path, a channel or a byte array — what a training checkpoint adds its tensors to — and models,
 * {@link ModelDescription} ↔ contents ({@link #contents}, {@link #model}), with {@link #save} and
 * {@link #load} for files. Files are read by memory-mapping, with every offset and shape checked
 * against the data's length first, and written atomically. Errors name the file (or the name given
 * for a buffer) and the tensor.
 *
 * <p>Stateless: safe to call from any number of threads at once.
 */
public final class SafeTensors {
    private static final JsonFactory JSON = new JsonFactory();
    private static final long MAX_HEADER = 100L << 20;
    /** Input standardization tensors, [n₀] each: the model computes on {@code (x − mean) · scale}, scale = 1/σ. */
    public static final String STANDARDIZE_MEAN = "standardize.mean", STANDARDIZE_SCALE = "standardize.scale";
    /** The {@code format} metadata of a model file written here. */
    public static final String FORMAT = "vectorprop";
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SafeTensors() {}

    /** One F32 tensor: its shape and its values in row-major order. */
    public record Tensor(long[] shape, float[] values) {}

    /**
     * A safetensors file's content: the {@code __metadata__} strings and the tensors, in file order. The
     * maps {@link #read} and {@link #contents} return are modifiable, so a caller can add its own entries
     * before writing (a training checkpoint adds the optimizer's state).
     */
    public record Contents(Map<String, String> metadata, SequencedMap<String, Tensor> tensors) {}

    /** One tensor's header entry. */
    private record Entry(String dtype, long[] shape, long begin, long end) {}

    // ---------------------------------------------------------------- models

    /** Writes {@code model} to {@code file} atomically (a temporary file in the same directory, then a rename). */
    public static void save(ModelDescription model, Path file) throws IOException {
        write(contents(model, FORMAT), file);
    }

    /**
     * Loads a model. The architecture comes from the file's metadata; {@code given} (may be null) is used
     * when the file has none (a PyTorch export) and must agree with it when it has. The input
     * standardization is restored when the file holds one.
     */
    public static ModelDescription load(Path file, Architecture given) throws IOException {
        return model(read(file), file.toString(), given);
    }

    /** A model's metadata (its architecture and {@code format}) and tensors: parameters, then the standardization if any. */
    public static Contents contents(ModelDescription model, String format) {
        Architecture arch = model.architecture();
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", format);
        m.put("layers", arch.sizesText());
        m.put("activation", arch.hidden().id());
        m.put("output", arch.output().id());
        m.put("loss", arch.loss().id());
        if (!arch.isPlain()) {                               // added keys: readers of plain files never need them
            m.put("activations", arch.hiddenActivationsText());
            m.put("layer_norm", arch.layerNormsText());
            m.put("layer_norm_epsilon", Float.toString(arch.layerNormEpsilon()));
        }
        SequencedMap<String, Tensor> tensors = new LinkedHashMap<>();
        var shapes = arch.parameterShapes();
        for (var e : model.parameters().entrySet()) {
            int[] shape = shapes.get(e.getKey());            // weights [out, in]; biases, γ and β [out]
            boolean matrix = e.getKey().endsWith(".weight") && !e.getKey().endsWith(".norm.weight");
            tensors.put(e.getKey(), new Tensor(matrix ? new long[] {shape[0], shape[1]} : new long[] {shape[1]}, e.getValue()));
        }
        Standardization st = model.standardization();
        if (st != null) {
            tensors.put(STANDARDIZE_MEAN, new Tensor(new long[] {st.features()}, st.mean()));
            tensors.put(STANDARDIZE_SCALE, new Tensor(new long[] {st.features()}, st.scale()));
        }
        return new Contents(m, tensors);
    }

    /**
     * The model that contents describe. {@code name} (a file name) is for messages; {@code given} as for
     * {@link #load}. Tensors other than the parameters and the standardization are ignored (a
     * checkpoint's optimizer state), except unknown {@code layers.*} ones, which are an error.
     */
    public static ModelDescription model(Contents c, String name, Architecture given) throws IOException {
        Architecture arch = architecture(name, c.tensors(), c.metadata(), given);
        SequencedMap<String, float[]> parameters = new LinkedHashMap<>();
        for (var e : c.tensors().entrySet()) {
            if (e.getKey().startsWith("layers.")) parameters.put(e.getKey(), e.getValue().values());
        }
        try {
            return new ModelDescription(arch, parameters, standardization(name, c, arch));
        } catch (IllegalArgumentException e) {
            throw new IOException(name + ": " + e.getMessage());
        }
    }

    private static Standardization standardization(String file, Contents c, Architecture arch) throws IOException {
        Tensor mean = c.tensors().get(STANDARDIZE_MEAN), scale = c.tensors().get(STANDARDIZE_SCALE);
        if (mean == null && scale == null) return null;
        if (mean == null || scale == null || mean.values().length != arch.inputs() || scale.values().length != arch.inputs()) {
            throw new IOException(file + ": " + STANDARDIZE_MEAN + " and " + STANDARDIZE_SCALE + " must both be there, with "
                    + arch.inputs() + " values each (one per input)");
        }
        try {
            return new Standardization(mean.values(), scale.values());
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- files, channels, buffers

    /** Writes contents to a file atomically: a temporary file in the same directory, flushed, then renamed. */
    public static void write(Contents c, Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                write(c, ch);
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Writes contents to a channel (not closed). */
    public static void write(Contents c, WritableByteChannel out) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            var buf = encode(c, arena).asByteBuffer();
            while (buf.hasRemaining()) out.write(buf);
        }
    }

    /** The bytes of a safetensors file holding {@code c}. */
    public static byte[] toBytes(Contents c) {
        try (Arena arena = Arena.ofConfined()) {
            return encode(c, arena).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Reads a file by memory-mapping it. */
    public static Contents read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new java.nio.file.NoSuchFileException(file + " (no such model file)");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return decode(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena), file.toString());
        }
    }

    /** Reads the bytes of a safetensors file; {@code name} is for messages. */
    public static Contents read(byte[] bytes, String name) throws IOException {
        return decode(MemorySegment.ofArray(bytes), name);
    }

    /** Reads a channel to its end (not closed); {@code name} is for messages. */
    public static Contents read(ReadableByteChannel in, String name) throws IOException {
        return read(Channels.newInputStream(in).readAllBytes(), name);
    }

    private static MemorySegment encode(Contents c, Arena arena) {
        StringWriter header = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(header)) {
            g.writeStartObject();
            g.writeObjectFieldStart("__metadata__");
            for (var e : c.metadata().entrySet()) g.writeStringField(e.getKey(), e.getValue());
            g.writeEndObject();
            long offset = 0;
            for (var e : c.tensors().entrySet()) {
                Tensor t = e.getValue();
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", "F32");
                g.writeArrayFieldStart("shape");
                for (long d : t.shape()) g.writeNumber(d);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                offset += (long) t.values().length * Float.BYTES;
                g.writeNumber(offset);
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("a StringWriter does not fail", e);
        }
        StringBuilder h = new StringBuilder(header.toString());
        while ((h.length() + 8) % 8 != 0) h.append(' ');          // data starts 8-byte aligned
        byte[] headerBytes = h.toString().getBytes(StandardCharsets.UTF_8);
        long dataBytes = 0;
        for (Tensor t : c.tensors().values()) dataBytes += (long) t.values().length * Float.BYTES;
        MemorySegment buf = arena.allocate(8 + headerBytes.length + dataBytes);
        buf.set(LONG_LE, 0, headerBytes.length);
        MemorySegment.copy(headerBytes, 0, buf, ValueLayout.JAVA_BYTE, 8, headerBytes.length);
        long at = 8 + headerBytes.length;
        for (Tensor t : c.tensors().values()) {
            MemorySegment.copy(t.values(), 0, buf, FLOAT_LE, at, t.values().length);
            at += (long) t.values().length * Float.BYTES;
        }
        return buf;
    }

    /** Everything in a file's bytes: metadata and every tensor, each offset and shape checked before it is read. */
    private static Contents decode(MemorySegment data, String file) throws IOException {
        long size = data.byteSize();
        if (size < 8) throw new IOException(file + ": " + size + " bytes is too short for a safetensors file");
        long headerLength = data.get(LONG_LE, 0);
        if (headerLength < 2 || headerLength > Math.min(MAX_HEADER, size - 8)) {
            throw new IOException(file + ": header length " + headerLength + " does not fit a file of " + size + " bytes");
        }
        byte[] headerBytes = data.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Entry> entries = parseHeader(file, headerBytes, metadata);
        long dataStart = 8 + headerLength, dataLength = size - dataStart;
        SequencedMap<String, Tensor> tensors = new LinkedHashMap<>();
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
            float[] v = new float[(int) elements];
            MemorySegment.copy(data, FLOAT_LE, dataStart + t.begin(), v, 0, v.length);   // unaligned is fine
            tensors.put(e.getKey(), new Tensor(t.shape(), v));
        }
        return new Contents(metadata, tensors);
    }

    private static Architecture architecture(String file, Map<String, Tensor> entries, Map<String, String> metadata,
                                             Architecture given) throws IOException {
        int layers = 0;
        while (entries.containsKey("layers." + layers + ".weight")) layers++;
        if (layers == 0) throw new IOException(file + ": no tensor named layers.0.weight");
        int[] sizes = new int[layers + 1];
        for (int l = 0; l < layers; l++) {
            Tensor w = entries.get("layers." + l + ".weight"), b = entries.get("layers." + l + ".bias");
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
                if (metadata.containsKey("activations")) {
                    fromFile = fromFile.withHiddenActivations(list(metadata.get("activations"), Activation::parse, new Activation[0]));
                }
                if (metadata.containsKey("layer_norm")) {
                    float eps = metadata.containsKey("layer_norm_epsilon") ? Float.parseFloat(metadata.get("layer_norm_epsilon"))
                            : Architecture.DEFAULT_LAYER_NORM_EPSILON;
                    fromFile = fromFile.withLayerNorms(eps, list(metadata.get("layer_norm"), LayerNorm::parse, new LayerNorm[0]));
                }
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": metadata: " + e.getMessage());
            }
        }
        if (given != null) {
            if (!java.util.Arrays.equals(given.sizes(), sizes)) {
                throw new IOException(file + ": holds a network with layers " + Architecture.sizesText(sizes) + ", not " + given.sizesText());
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

    /** A comma-separated metadata list; an empty text is an empty list (a network without hidden layers). */
    private static <T> T[] list(String text, java.util.function.Function<String, T> parse, T[] empty) {
        if (text.isBlank()) return empty;
        String[] parts = text.split(",");
        T[] out = java.util.Arrays.copyOf(empty, parts.length);
        for (int i = 0; i < parts.length; i++) out[i] = parse.apply(parts[i]);
        return out;
    }

    private static Map<String, Entry> parseHeader(String file, byte[] header, Map<String, String> metadata) throws IOException {
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

    private static long[] longs(String file, JsonParser p, JsonToken t, String what) throws IOException {
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
