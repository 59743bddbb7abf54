package io.vectorprop.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The protobuf side of ONNX: decodes a ModelProto's graph (nodes, initializers, inputs, outputs) into
 * plain records, with the field numbers of {@code onnx.proto}, and nothing about what the graph
 * computes ({@link Onnx} interprets it). The file is memory-mapped and read by {@link ProtoReader},
 * which checks every length against the bytes that remain: a truncated or forged file gives an
 * {@link IOException} with the byte offset. The decoded graph carries the file's name for messages.
 */
final class OnnxGraph {
    static final int FLOAT = 1, INT64 = 7, DOUBLE = 11;
    private static final int MAX_DIMS = 8;
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private OnnxGraph() {}

    /** One tensor: float data for FLOAT, long data for INT64; other types keep only their shape. */
    record Tensor(String name, int dataType, long[] dims, float[] floats, long[] longs) {
        long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }
    }

    record Attribute(String name, float f, long i, Tensor t, boolean hasF, boolean hasI, String s, long[] ints) {}

    record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                Map<String, Attribute> attributes) {
        String label() {
            return "node '" + (name.isEmpty() ? "#" + outputs : name) + "' (op_type " + opType + ")";
        }
    }

    record ValueInfo(String name, long[] dims) {}

    /** A graph and the name of the file it came from (for messages). */
    record Graph(String source, List<Node> nodes, Map<String, Tensor> initializers, List<ValueInfo> inputs,
                 List<ValueInfo> outputs) {}

    /** Decodes {@code file}'s graph. */
    static Graph read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file + " (no such model file)");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() == 0) throw new IOException(file + ": not a valid ONNX file: it is empty");
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return readModel(file.toString(), ProtoReader.of(file, map));
        }
    }

    // ---------------------------------------------------------------- protobuf messages (onnx.proto field numbers)

    /** ModelProto: 7 graph; the rest (ir_version, opset_import, producer …) does not change a dense network's meaning. */
    private static Graph readModel(String source, ProtoReader r) throws IOException {
        Graph graph = null;
        while (r.next()) {
            if (r.field() == 7 && r.wireType() == ProtoReader.LENGTH_DELIMITED) graph = readGraph(source, r.message());
            else r.skip();
        }
        if (graph == null) throw new IOException(r.file() + ": not a valid ONNX file: no graph (ModelProto field 7)");
        return graph;
    }

    /** GraphProto: 1 node, 5 initializer, 11 input, 12 output. */
    private static Graph readGraph(String source, ProtoReader r) throws IOException {
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> initializers = new HashMap<>();
        List<ValueInfo> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        while (r.next()) {
            if (r.wireType() != ProtoReader.LENGTH_DELIMITED) {
                r.skip();
                continue;
            }
            switch (r.field()) {
                case 1 -> nodes.add(readNode(r.message()));
                case 5 -> {
                    Tensor t = readTensor(r.message());
                    initializers.put(t.name(), t);
                }
                case 11 -> inputs.add(readValueInfo(r.message()));
                case 12 -> outputs.add(readValueInfo(r.message()));
                default -> r.skip();
            }
        }
        return new Graph(source, nodes, initializers, inputs, outputs);
    }

    /** NodeProto: 1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain. */
    private static Node readNode(ProtoReader r) throws IOException {
        List<String> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        String name = "", op = "", domain = "";
        Map<String, Attribute> attributes = new HashMap<>();
        while (r.next()) {
            if (r.wireType() != ProtoReader.LENGTH_DELIMITED) {
                r.skip();
                continue;
            }
            switch (r.field()) {
                case 1 -> inputs.add(r.string());
                case 2 -> outputs.add(r.string());
                case 3 -> name = r.string();
                case 4 -> op = r.string();
                case 5 -> {
                    Attribute a = readAttribute(r.message());
                    attributes.put(a.name(), a);
                }
                case 7 -> domain = r.string();
                default -> r.skip();
            }
        }
        return new Node(name, op, domain, inputs, outputs, attributes);
    }

    /** AttributeProto: 1 name, 2 f, 3 i, 4 s, 5 t, 8 ints (the attributes of dense-network operators; the rest is skipped). */
    private static Attribute readAttribute(ProtoReader r) throws IOException {
        String name = "", str = null;
        float f = 0;
        long i = 0;
        long[] ints = new long[0];
        Tensor t = null;
        boolean hasF = false, hasI = false;
        while (r.next()) {
            switch (r.field()) {
                case 1 -> name = r.string();
                case 2 -> {
                    f = r.float32();
                    hasF = true;
                }
                case 3 -> {
                    i = r.int64();
                    hasI = true;
                }
                case 4 -> str = r.string();
                case 5 -> {
                    r.expect(ProtoReader.LENGTH_DELIMITED);
                    t = readTensor(r.message());
                }
                case 8 -> ints = readInt64s(r, ints);
                default -> r.skip();
            }
        }
        return new Attribute(name, f, i, t, hasF, hasI, str, ints);
    }

    /**
     * TensorProto: 1 dims, 2 data_type, 4 float_data, 7 int64_data, 8 name, 9 raw_data, 14 data_location.
     * Data is checked against the dims before it is copied; external data is refused.
     */
    private static Tensor readTensor(ProtoReader r) throws IOException {
        long start = r.position();
        long[] dims = new long[0];
        int type = 0;
        String name = "";
        MemorySegment raw = null;
        FloatList floatData = new FloatList();
        long[] int64Data = new long[0];
        FloatList doubleData = new FloatList();
        while (r.next()) {
            switch (r.field()) {
                case 1 -> dims = readInt64s(r, dims);
                case 2 -> type = (int) r.int64();
                case 4 -> readFloats(r, floatData);
                case 10 -> readDoubles(r, doubleData);
                case 7 -> int64Data = readInt64s(r, int64Data);
                case 8 -> name = r.string();
                case 9 -> raw = r.bytes();
                case 14 -> {
                    if (r.int64() == 1) throw new IOException(r.file() + ": tensor '" + name + "' keeps its data in an external file;"
                            + " export it with the weights inside the .onnx file");
                }
                default -> r.skip();
            }
        }
        if (dims.length > MAX_DIMS) throw r.error(start, "tensor '" + name + "' has " + dims.length + " dimensions");
        long elements = 1;
        for (long d : dims) {
            if (d < 0 || d > Integer.MAX_VALUE) throw r.error(start, "tensor '" + name + "' has dimension " + d);
            elements *= d;
            if (elements > Integer.MAX_VALUE) throw r.error(start, "tensor '" + name + "' dims " + Arrays.toString(dims) + " are too large");
        }
        float[] floats = null;
        long[] longs = null;
        if (type == FLOAT) {
            if (raw != null) {
                if (raw.byteSize() != elements * 4) {
                    throw r.error(start, "tensor '" + name + "' has " + raw.byteSize() + " bytes of raw_data for dims "
                            + Arrays.toString(dims) + " (" + elements + " floats need " + elements * 4 + ")");
                }
                floats = new float[(int) elements];
                for (int i = 0; i < floats.length; i++) floats[i] = raw.get(FLOAT_LE, 4L * i);
            } else {
                if (floatData.size != elements) {
                    throw r.error(start, "tensor '" + name + "' has " + floatData.size + " float_data values for dims "
                            + Arrays.toString(dims) + " (" + elements + " expected)");
                }
                floats = Arrays.copyOf(floatData.values, floatData.size);
            }
        } else if (type == DOUBLE) {                        // constants some exporters write in double: used as fp32
            if (raw != null) {
                if (raw.byteSize() != elements * 8) {
                    throw r.error(start, "tensor '" + name + "' has " + raw.byteSize() + " bytes of raw_data for " + elements + " doubles");
                }
                floats = new float[(int) elements];
                for (int i = 0; i < floats.length; i++) floats[i] = (float) raw.get(DOUBLE_LE, 8L * i);
            } else {
                if (doubleData.size != elements) {
                    throw r.error(start, "tensor '" + name + "' has " + doubleData.size + " double_data values for " + elements + " elements");
                }
                floats = Arrays.copyOf(doubleData.values, doubleData.size);
            }
            type = FLOAT;
        } else if (type == INT64) {
            if (raw != null) {
                if (raw.byteSize() != elements * 8) {
                    throw r.error(start, "tensor '" + name + "' has " + raw.byteSize() + " bytes of raw_data for "
                            + elements + " int64 values");
                }
                longs = new long[(int) elements];
                for (int i = 0; i < longs.length; i++) longs[i] = raw.get(LONG_LE, 8L * i);
            } else {
                if (int64Data.length != elements) {
                    throw r.error(start, "tensor '" + name + "' has " + int64Data.length + " int64_data values for "
                            + elements + " elements");
                }
                longs = int64Data;
            }
        }
        return new Tensor(name, type, dims, floats, longs);
    }

    /** ValueInfoProto: 1 name, 2 type → TypeProto 1 tensor_type → 2 shape → 1 dim → 1 dim_value (−1 when symbolic). */
    private static ValueInfo readValueInfo(ProtoReader r) throws IOException {
        String name = "";
        long[] dims = null;
        while (r.next()) {
            if (r.field() == 1 && r.wireType() == ProtoReader.LENGTH_DELIMITED) name = r.string();
            else if (r.field() == 2 && r.wireType() == ProtoReader.LENGTH_DELIMITED) dims = readTypeShape(r.message());
            else r.skip();
        }
        return new ValueInfo(name, dims);
    }

    private static long[] readTypeShape(ProtoReader type) throws IOException {
        long[] dims = null;
        while (type.next()) {
            if (type.field() != 1 || type.wireType() != ProtoReader.LENGTH_DELIMITED) {          // tensor_type
                type.skip();
                continue;
            }
            ProtoReader tensor = type.message();
            while (tensor.next()) {
                if (tensor.field() != 2 || tensor.wireType() != ProtoReader.LENGTH_DELIMITED) {  // shape
                    tensor.skip();
                    continue;
                }
                dims = new long[0];
                ProtoReader shape = tensor.message();
                while (shape.next()) {
                    if (shape.field() != 1 || shape.wireType() != ProtoReader.LENGTH_DELIMITED) {  // dim
                        shape.skip();
                        continue;
                    }
                    long value = -1;
                    ProtoReader dim = shape.message();
                    while (dim.next()) {
                        if (dim.field() == 1 && dim.wireType() == ProtoReader.VARINT) value = dim.varint();
                        else dim.skip();
                    }
                    if (dims.length >= MAX_DIMS) throw shape.error(shape.position(), "more than " + MAX_DIMS + " dimensions");
                    dims = Arrays.copyOf(dims, dims.length + 1);
                    dims[dims.length - 1] = value;
                }
            }
        }
        return dims;
    }

    /** A repeated int64 field, packed (one length-delimited run) or not (one varint per element). */
    private static long[] readInt64s(ProtoReader r, long[] soFar) throws IOException {
        if (r.wireType() == ProtoReader.VARINT) {
            long[] out = Arrays.copyOf(soFar, soFar.length + 1);
            out[soFar.length] = r.varint();
            return out;
        }
        r.expect(ProtoReader.LENGTH_DELIMITED);
        MemorySegment run = r.bytes();
        ProtoReader values = ProtoReader.of(r.file(), run);
        long[] out = soFar;
        int n = soFar.length;
        while (values.position() < run.byteSize()) {
            if (n == out.length) out = Arrays.copyOf(out, Math.max(4, n * 2));
            out[n++] = values.varint();
        }
        return Arrays.copyOf(out, n);
    }

    /** A repeated float field: packed (length a multiple of 4) or one fixed32 per element. */
    private static void readFloats(ProtoReader r, FloatList into) throws IOException {
        if (r.wireType() == ProtoReader.FIXED32) {
            into.add(r.float32());
            return;
        }
        long at = r.position();
        MemorySegment run = r.bytes();
        if (run.byteSize() % 4 != 0) throw r.error(at, "packed float_data of " + run.byteSize() + " bytes (not a multiple of 4)");
        for (long i = 0; i < run.byteSize(); i += 4) into.add(run.get(FLOAT_LE, i));
    }

    /** A repeated double field (packed, or one fixed64 per element), narrowed to float. */
    private static void readDoubles(ProtoReader r, FloatList into) throws IOException {
        if (r.wireType() != ProtoReader.LENGTH_DELIMITED) {
            r.expect(ProtoReader.FIXED64);
            into.add((float) Double.longBitsToDouble(r.fixed64()));
            return;
        }
        long at = r.position();
        MemorySegment run = r.bytes();
        if (run.byteSize() % 8 != 0) throw r.error(at, "packed double_data of " + run.byteSize() + " bytes (not a multiple of 8)");
        for (long i = 0; i < run.byteSize(); i += 8) into.add((float) run.get(DOUBLE_LE, i));
    }

    /** A growable float array: float_data written one value at a time can be long. */
    private static final class FloatList {
        float[] values = new float[16];
        int size;

        void add(float v) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = v;
        }
    }

}
