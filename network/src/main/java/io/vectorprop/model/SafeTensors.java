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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
import io.vectorprop.network.LayerNorm;
import io.vectorprop.network.Network;
import io.vectorprop.network.Optimizer;
import io.vectorprop.network.Trainer;
import io.vectorprop.network.Standardization;

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
 * reader of the file applies the same transformation. Files are read by memory-mapping, with every
 * offset and shape checked against the file's length first, and written atomically.
 */
public final class SafeTensors {
    private static final JsonFactory JSON = new JsonFactory();
    private static final long MAX_HEADER = 100L << 20;
    /** Input standardization tensors, [n₀] each: the model computes on {@code (x − mean) · scale}, scale = 1/σ. */
    public static final String STANDARDIZE_MEAN = "standardize.mean", STANDARDIZE_SCALE = "standardize.scale";
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SafeTensors() {}

    /** One tensor's header entry. */
    record Entry(String dtype, long[] shape, long begin, long end) {}

    /** Writes {@code net} to {@code file} through a temporary file in the same directory and an atomic rename. */
    public static void save(Network net, Path file) throws IOException {
        write(file, metadata(net, "vectorprop"), tensors(net));
    }

    /** The architecture as {@code __metadata__} entries. */
    static Map<String, String> metadata(Network net, String format) {
        Architecture arch = net.architecture();
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
        return m;
    }

    /** The model's tensors: weights and biases of every layer, then the input standardization if there is one. */
    static Map<String, Tensor> tensors(Network net) {
        Architecture arch = net.architecture();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (var e : net.namedParameters().entrySet()) {
            Matrix m = e.getValue();                         // weights [out, in]; biases, γ and β [out]
            long[] shape = e.getKey().endsWith(".weight") && !e.getKey().endsWith(".norm.weight")
                    ? new long[] {m.rows(), m.cols()} : new long[] {m.cols()};
            tensors.put(e.getKey(), new Tensor(shape, m.toArray()));
        }
        Standardization st = net.standardization();
        if (st != null) {
            tensors.put(STANDARDIZE_MEAN, new Tensor(new long[] {st.features()}, st.mean()));
            tensors.put(STANDARDIZE_SCALE, new Tensor(new long[] {st.features()}, st.scale()));
        }
        return tensors;
    }

    /** One F32 tensor to write: its shape and its values in row-major order. */
    record Tensor(long[] shape, float[] values) {}

    /** Writes a safetensors file through a temporary file in the same directory and an atomic rename. */
    static void write(Path file, Map<String, String> metadata, Map<String, Tensor> tensors) throws IOException {
        StringWriter header = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(header)) {
            g.writeStartObject();
            g.writeObjectFieldStart("__metadata__");
            for (var e : metadata.entrySet()) g.writeStringField(e.getKey(), e.getValue());
            g.writeEndObject();
            long offset = 0;
            for (var e : tensors.entrySet()) {
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
                for (Tensor t : tensors.values()) dataBytes += (long) t.values().length * Float.BYTES;
                MemorySegment buf = arena.allocate(8 + headerBytes.length + dataBytes);
                buf.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, headerBytes.length);
                MemorySegment.copy(headerBytes, 0, buf, ValueLayout.JAVA_BYTE, 8, headerBytes.length);
                long at = 8 + headerBytes.length;
                for (Tensor t : tensors.values()) {
                    MemorySegment.copy(t.values(), 0, buf, FLOAT_LE, at, t.values().length);
                    at += (long) t.values().length * Float.BYTES;
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
     * is used when the file has none (a PyTorch export) and must agree with it when it has. The
     * input standardization is restored when the file holds one.
     */
    public static Network load(Path file, Architecture given, Kernels kernels) throws IOException {
        return network(file, read(file), given, kernels);
    }

    /** Everything in a file: metadata, header entries and the values of every tensor (all checked). */
    record Contents(Map<String, String> metadata, Map<String, Entry> entries, Map<String, float[]> values) {}

    static Contents read(Path file) throws IOException {
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
            Map<String, float[]> values = new LinkedHashMap<>();
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
                MemorySegment.copy(map, FLOAT_LE, dataStart + t.begin(), v, 0, v.length);   // unaligned is fine
                values.put(e.getKey(), v);
            }
            return new Contents(metadata, entries, values);
        }
    }

    /** The network a file's contents describe, with its standardization. */
    static Network network(Path file, Contents c, Architecture given, Kernels kernels) throws IOException {
        Architecture arch = architecture(file, c.entries(), c.metadata(), given);
        Standardization st = standardization(file, c, arch);
        Network net = Network.create(arch, kernels);
        try {
            for (var e : net.namedParameters().entrySet()) {
                float[] v = c.values().get(e.getKey());
                if (v == null || v.length != e.getValue().size()) {
                    throw new IOException(file + ": tensor " + e.getKey() + (v == null ? " is missing" : " has " + v.length
                            + " values") + "; the architecture " + arch + " needs " + e.getValue().size());
                }
                e.getValue().copyFrom(v);
            }
            for (String name : c.values().keySet()) {
                if (name.startsWith("layers.") && !net.namedParameters().containsKey(name)) {
                    throw new IOException(file + ": tensor " + name + " has no place in the architecture " + arch
                            + " (a layer norm the metadata does not name?)");
                }
            }
            net.setStandardization(st);
        } catch (IOException | RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    private static Standardization standardization(Path file, Contents c, Architecture arch) throws IOException {
        float[] mean = c.values().get(STANDARDIZE_MEAN), scale = c.values().get(STANDARDIZE_SCALE);
        if (mean == null && scale == null) return null;
        if (mean == null || scale == null || mean.length != arch.inputs() || scale.length != arch.inputs()) {
            throw new IOException(file + ": " + STANDARDIZE_MEAN + " and " + STANDARDIZE_SCALE + " must both be there, with "
                    + arch.inputs() + " values each (one per input)");
        }
        try {
            return new Standardization(mean, scale);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- checkpoints

    /**
     * A training checkpoint: the model (as {@link #save} writes it), the optimizer's state blocks
     * ({@code optimizer.state.0}, {@code .1}, [P] each), for early stopping the best parameters so far
     * ({@code best.parameters}), and in {@code __metadata__} the epoch, the optimizer's step count, the
     * early-stopping counters and {@code options}: the settings that shape the run, which a resume
     * must repeat.
     */
    public record Checkpoint(Network network, float[][] optimizerState, long optimizerSteps, Trainer.State state,
                             String options) implements AutoCloseable {
        @Override public void close() { network.close(); }
    }

    /** Writes a checkpoint atomically (write to a temporary file, then rename). */
    public static void saveCheckpoint(Path file, Network net, Optimizer optimizer, Trainer.State state, String options)
            throws IOException {
        Map<String, String> m = metadata(net, "vectorprop-checkpoint");
        m.put("epochs_done", Integer.toString(state.epochsDone()));
        m.put("optimizer_steps", Long.toString(optimizer.steps()));
        m.put("best_validation_loss", Double.toString(state.bestValidationLoss()));
        m.put("best_epoch", Integer.toString(state.bestEpoch()));
        m.put("epochs_without_improvement", Integer.toString(state.epochsWithoutImprovement()));
        m.put("options", options);
        Map<String, Tensor> t = tensors(net);
        float[][] opt = optimizer.state();
        for (int i = 0; i < opt.length; i++) t.put("optimizer.state." + i, new Tensor(new long[] {opt[i].length}, opt[i]));
        if (state.bestParameters() != null) {
            t.put("best.parameters", new Tensor(new long[] {state.bestParameters().length}, state.bestParameters()));
        }
        write(file, m, t);
    }

    /** Reads a checkpoint written by {@link #saveCheckpoint}. */
    public static Checkpoint loadCheckpoint(Path file, Kernels kernels) throws IOException {
        Contents c = read(file);
        if (!"vectorprop-checkpoint".equals(c.metadata().get("format"))) {
            throw new IOException(file + ": not a vectorprop checkpoint (format " + c.metadata().get("format") + ")");
        }
        List<float[]> opt = new ArrayList<>();
        for (int i = 0; c.values().containsKey("optimizer.state." + i); i++) opt.add(c.values().get("optimizer.state." + i));
        Network net = network(file, c, null, kernels);
        try {
            int p = net.parameters().cols();
            for (float[] o : opt) if (o.length != p) throw new IOException(file + ": optimizer state of " + o.length + " values, not " + p);
            float[] best = c.values().get("best.parameters");
            if (best != null && best.length != p) throw new IOException(file + ": best.parameters has " + best.length + " values, not " + p);
            Trainer.State state = new Trainer.State(intField(file, c, "epochs_done"),
                    Double.parseDouble(field(file, c, "best_validation_loss")), intField(file, c, "best_epoch"),
                    intField(file, c, "epochs_without_improvement"), best);
            return new Checkpoint(net, opt.toArray(new float[0][]), Long.parseLong(field(file, c, "optimizer_steps")), state,
                    field(file, c, "options"));
        } catch (IOException | RuntimeException e) {
            net.close();
            if (e instanceof NumberFormatException) throw new IOException(file + ": checkpoint metadata: " + e.getMessage());
            throw e;
        }
    }

    private static String field(Path file, Contents c, String key) throws IOException {
        String v = c.metadata().get(key);
        if (v == null) throw new IOException(file + ": checkpoint metadata has no " + key);
        return v;
    }

    private static int intField(Path file, Contents c, String key) throws IOException {
        return Integer.parseInt(field(file, c, key));
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
