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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.network.Architecture;
import io.vectorprop.network.Network;

/**
 * Reads dense networks from ONNX files ({@code torch.onnx.export}, skl2onnx, tf2onnx): the graph
 * must be a chain from one input to one output of
 * <ul>
 *   <li>dense layers: {@code Gemm} (attributes {@code alpha}, {@code beta}, {@code transB};
 *       {@code transA} must be 0) or {@code MatMul} followed by an optional {@code Add} of the bias,
 *       with the weights and biases as fp32 initializers ({@code raw_data} or {@code float_data}) or
 *       {@code Constant} nodes;</li>
 *   <li>after a layer, at most one activation: {@code Relu}, {@code Sigmoid}, {@code Tanh},
 *       {@code LeakyRelu} (alpha 0.01, this library's slope), {@code Softmax} (last axis);</li>
 *   <li>anywhere: {@code Identity} and {@code Dropout} (identity at inference), and
 *       {@code Flatten}/{@code Reshape} to {@code [batch, features]}.</li>
 * </ul>
 * Hidden layers must share one activation (none means identity). The output activation sets the loss
 * the architecture records: softmax → softmax cross-entropy, sigmoid → binary cross-entropy,
 * anything else → quadratic. Any other operator fails with one error naming the node and its op type.
 *
 * <p>The file is memory-mapped and decoded by {@link ProtoReader}, which checks every length against
 * the bytes that remain: a truncated or forged file gives an {@link IOException} with the byte offset.
 */
public final class Onnx {
    private static final int FLOAT = 1, INT64 = 7;
    private static final int MAX_DIMS = 8;
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Onnx() {}

    /** One tensor: float data for FLOAT, long data for INT64; other types keep only their shape. */
    record Tensor(String name, int dataType, long[] dims, float[] floats, long[] longs) {
        long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }
    }

    record Attribute(String name, float f, long i, Tensor t, boolean hasF, boolean hasI) {}

    record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                Map<String, Attribute> attributes) {
        String label() {
            return "node '" + (name.isEmpty() ? "#" + outputs : name) + "' (op_type " + opType + ")";
        }
    }

    record ValueInfo(String name, long[] dims) {}

    record Graph(List<Node> nodes, Map<String, Tensor> initializers, List<ValueInfo> inputs, List<ValueInfo> outputs) {}

    /** One dense layer as read: W out × in (row-major), b, and the activation that follows it (null: none yet). */
    private static final class Layer {
        final int in, out;
        final float[] w, b;
        Activation activation;
        boolean biasAdded;

        Layer(int in, int out, float[] w, float[] b, boolean biasAdded) {
            this.in = in;
            this.out = out;
            this.w = w;
            this.b = b;
            this.biasAdded = biasAdded;
        }
    }

    /** Loads the dense network in {@code file}; its parameters are copied into a new {@link Network}. */
    public static Network load(Path file, Kernels kernels) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file + " (no such model file)");
        List<Layer> layers;
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() == 0) throw new IOException(file + ": not a valid ONNX file: it is empty");
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Graph graph = readModel(ProtoReader.of(file, map));
            layers = interpret(file, graph);
        }
        Architecture arch = architecture(file, layers);
        Network net = Network.create(arch, kernels);
        try {
            for (int l = 0; l < layers.size(); l++) {
                net.weight(l).copyFrom(layers.get(l).w);
                net.bias(l).copyFrom(layers.get(l).b);
            }
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    // ---------------------------------------------------------------- protobuf messages (onnx.proto field numbers)

    /** ModelProto: 7 graph; the rest (ir_version, opset_import, producer …) does not change a dense network's meaning. */
    static Graph readModel(ProtoReader r) throws IOException {
        Graph graph = null;
        while (r.next()) {
            if (r.field() == 7 && r.wireType() == ProtoReader.LENGTH_DELIMITED) graph = readGraph(r.message());
            else r.skip();
        }
        if (graph == null) throw new IOException(r.file() + ": not a valid ONNX file: no graph (ModelProto field 7)");
        return graph;
    }

    /** GraphProto: 1 node, 5 initializer, 11 input, 12 output. */
    private static Graph readGraph(ProtoReader r) throws IOException {
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
        return new Graph(nodes, initializers, inputs, outputs);
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

    /** AttributeProto: 1 name, 2 f, 3 i, 5 t (the attributes of dense-network operators; the rest is skipped). */
    private static Attribute readAttribute(ProtoReader r) throws IOException {
        String name = "";
        float f = 0;
        long i = 0;
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
                case 5 -> {
                    r.expect(ProtoReader.LENGTH_DELIMITED);
                    t = readTensor(r.message());
                }
                default -> r.skip();
            }
        }
        return new Attribute(name, f, i, t, hasF, hasI);
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
        while (r.next()) {
            switch (r.field()) {
                case 1 -> dims = readInt64s(r, dims);
                case 2 -> type = (int) r.int64();
                case 4 -> readFloats(r, floatData);
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

    /** A growable float array: float_data written one value at a time can be long. */
    private static final class FloatList {
        float[] values = new float[16];
        int size;

        void add(float v) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = v;
        }
    }

    // ---------------------------------------------------------------- from graph to layers

    /** Walks the chain of nodes from the graph's input to its output, collecting dense layers. */
    static List<Layer> interpret(Path file, Graph g) throws IOException {
        Map<String, Tensor> constants = new HashMap<>(g.initializers());
        List<ValueInfo> dataInputs = new ArrayList<>();
        for (ValueInfo v : g.inputs()) if (!constants.containsKey(v.name())) dataInputs.add(v);
        if (dataInputs.size() != 1) {
            throw new IOException(file + ": the graph has " + dataInputs.size() + " inputs besides its initializers "
                    + names(dataInputs) + "; a dense network has exactly one");
        }
        if (g.outputs().size() != 1) {
            throw new IOException(file + ": the graph has " + g.outputs().size() + " outputs " + names(g.outputs())
                    + "; a dense network has exactly one");
        }
        ValueInfo input = dataInputs.get(0);
        String current = input.name();
        long[] dims = input.dims();
        boolean flat = dims == null || dims.length == 2;
        int width = dims != null && dims.length >= 2 ? features(dims) : -1;
        List<Layer> layers = new ArrayList<>();
        String denseOutput = null;                 // the output of the last Gemm or MatMul
        Set<String> produced = new HashSet<>();
        for (Node n : g.nodes()) {
            if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) {
                throw new IOException(file + ": " + n.label() + " is from operator domain '" + n.domain()
                        + "', not supported; only standard ONNX operators of dense networks are");
            }
            if (n.outputs().isEmpty()) throw new IOException(file + ": " + n.label() + " has no output");
            for (String o : n.outputs()) if (!produced.add(o)) throw new IOException(file + ": " + n.label() + " writes '" + o + "' again");
            if (n.opType().equals("Constant")) {
                Attribute value = n.attributes().get("value");
                if (value == null || value.t() == null) {
                    throw new IOException(file + ": " + n.label() + " has no tensor 'value'; only tensor constants are supported");
                }
                constants.put(n.outputs().get(0), value.t());
                continue;
            }
            Layer last = layers.isEmpty() ? null : layers.get(layers.size() - 1);
            switch (n.opType()) {
                case "Identity", "Dropout" -> {
                    reads(file, n, current, 0);
                    if (n.opType().equals("Dropout") && n.inputs().size() >= 3 && !n.inputs().get(2).isEmpty()) {
                        Tensor mode = constant(file, n, constants, 2);
                        if (mode.longs() != null && mode.longs().length > 0 && mode.longs()[0] != 0) {
                            throw new IOException(file + ": " + n.label() + " is in training mode; export the model in eval mode");
                        }
                    }
                }
                case "Flatten" -> {
                    reads(file, n, current, 0);
                    long axis = n.attributes().containsKey("axis") ? n.attributes().get("axis").i() : 1;
                    if (axis != 1) throw new IOException(file + ": " + n.label() + " flattens from axis " + axis + "; only axis 1 (keep the batch) is supported");
                    flat = true;
                }
                case "Reshape" -> {
                    reads(file, n, current, 0);
                    Tensor shape = constant(file, n, constants, 1);
                    long[] s = shape.longs();
                    if (s == null || s.length != 2 || s[1] < 1 || (width > 0 && s[1] != width) || !(s[0] == -1 || s[0] == 0 || s[0] > 0)) {
                        throw new IOException(file + ": " + n.label() + " reshapes to " + (s == null ? "a non-int64 shape" : Arrays.toString(s))
                                + "; only [batch, " + (width > 0 ? width : "features") + "] (a flat input) is supported");
                    }
                    if (width < 0) width = (int) s[1];
                    flat = true;
                }
                case "Gemm" -> {
                    reads(file, n, current, 0);
                    flatInput(file, n, flat);
                    if (attrI(n, "transA", 0) != 0) throw new IOException(file + ": " + n.label() + " has transA = 1; only transA = 0 is supported");
                    boolean transB = attrI(n, "transB", 0) != 0;
                    float alpha = attrF(n, "alpha", 1f), beta = attrF(n, "beta", 1f);
                    Tensor b = floatConstant(file, n, constants, 1);
                    Layer layer = dense(file, n, b, transB, alpha, width);
                    if (n.inputs().size() >= 3 && !n.inputs().get(2).isEmpty()) {
                        addBias(file, n, layer, floatConstant(file, n, constants, 2), beta);
                    }
                    layers.add(layer);
                    width = layer.out;
                    denseOutput = n.outputs().get(0);
                }
                case "MatMul" -> {
                    reads(file, n, current, 0);
                    flatInput(file, n, flat);
                    Layer layer = dense(file, n, floatConstant(file, n, constants, 1), false, 1f, width);
                    layers.add(layer);
                    width = layer.out;
                    denseOutput = n.outputs().get(0);
                }
                case "Add" -> {
                    if (n.inputs().size() != 2) throw new IOException(file + ": " + n.label() + " needs two inputs");
                    int data = n.inputs().get(0).equals(current) ? 0 : 1;
                    reads(file, n, current, data);
                    if (last == null || last.activation != null || last.biasAdded || !current.equals(denseOutput)) {
                        throw new IOException(file + ": " + n.label() + " is not the bias of a MatMul or Gemm without one;"
                                + " only Add of a bias right after a dense layer is supported");
                    }
                    addBias(file, n, last, floatConstant(file, n, constants, 1 - data), 1f);
                }
                case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Softmax" -> {
                    reads(file, n, current, 0);
                    if (last == null) {
                        throw new IOException(file + ": " + n.label() + " comes before the first dense layer; a dense network"
                                + " starts with Gemm or MatMul");
                    }
                    if (last.activation != null) {
                        throw new IOException(file + ": " + n.label() + " follows another activation (" + last.activation.id()
                                + "); one activation per layer is supported");
                    }
                    last.activation = activation(file, n);
                    last.biasAdded = true;
                }
                default -> throw new IOException(file + ": " + n.label() + " is not supported; dense networks are read from"
                        + " Gemm, MatMul, Add, Relu, Sigmoid, Tanh, LeakyRelu, Softmax, Identity, Dropout, Flatten, Reshape and Constant");
            }
            current = n.outputs().get(0);
        }
        if (layers.isEmpty()) throw new IOException(file + ": the graph has no dense layer (Gemm or MatMul)");
        String output = g.outputs().get(0).name();
        if (!current.equals(output)) {
            throw new IOException(file + ": the chain of nodes ends in '" + current + "' but the graph's output is '" + output + "'");
        }
        if (input.dims() != null && input.dims().length >= 2 && features(input.dims()) > 0 && features(input.dims()) != layers.get(0).in) {
            throw new IOException(file + ": input '" + input.name() + "' has " + features(input.dims()) + " features but the first layer takes "
                    + layers.get(0).in);
        }
        return layers;
    }

    private static Architecture architecture(Path file, List<Layer> layers) throws IOException {
        int[] sizes = new int[layers.size() + 1];
        sizes[0] = layers.get(0).in;
        Activation hidden = null;
        for (int l = 0; l < layers.size(); l++) {
            sizes[l + 1] = layers.get(l).out;
            if (l == layers.size() - 1) break;
            Activation a = layers.get(l).activation == null ? Activation.IDENTITY : layers.get(l).activation;
            if (hidden != null && a != hidden) {
                throw new IOException(file + ": hidden layer " + (l + 1) + " uses " + a.id() + " but an earlier one " + hidden.id()
                        + "; vectorprop networks have one hidden activation");
            }
            if (!a.isElementwise()) throw new IOException(file + ": hidden layer " + (l + 1) + " uses softmax; only the output may");
            hidden = a;
        }
        Activation output = layers.get(layers.size() - 1).activation == null ? Activation.IDENTITY : layers.get(layers.size() - 1).activation;
        if (hidden == null) hidden = output.isElementwise() ? output : Activation.IDENTITY;
        Loss loss = switch (output) {
            case SOFTMAX -> Loss.SOFTMAX_CROSS_ENTROPY;
            case SIGMOID -> Loss.BINARY_CROSS_ENTROPY;
            case IDENTITY, TANH, RELU, LEAKY_RELU, GELU, GELU_TANH, SILU -> Loss.QUADRATIC;
        };
        return new Architecture(sizes, hidden, output, loss);
    }

    private static Activation activation(Path file, Node n) throws IOException {
        return switch (n.opType()) {
            case "Relu" -> Activation.RELU;
            case "Sigmoid" -> Activation.SIGMOID;
            case "Tanh" -> Activation.TANH;
            case "LeakyRelu" -> {
                float alpha = attrF(n, "alpha", 0.01f);
                if (Math.abs(alpha - Activation.LEAKY_SLOPE) > 1e-6f) {
                    throw new IOException(file + ": " + n.label() + " has alpha " + alpha + "; vectorprop's leaky ReLU has slope "
                            + Activation.LEAKY_SLOPE);
                }
                yield Activation.LEAKY_RELU;
            }
            case "Softmax" -> {
                long axis = attrI(n, "axis", -1);
                if (axis != -1 && axis != 1) throw new IOException(file + ": " + n.label() + " has axis " + axis + "; only the feature axis (1 or -1) is supported");
                yield Activation.SOFTMAX;
            }
            default -> throw new IOException(file + ": " + n.label() + " is not an activation");
        };
    }

    /** A dense layer from B: [out, in] when transposed, else [in, out]; W = α·op(B)ᵀ stored out × in. */
    private static Layer dense(Path file, Node n, Tensor b, boolean transB, float alpha, int width) throws IOException {
        if (b.dims().length != 2) {
            throw new IOException(file + ": " + n.label() + " has weights '" + b.name() + "' of shape " + Arrays.toString(b.dims())
                    + "; a dense layer needs a 2-D matrix");
        }
        int in = (int) (transB ? b.dims()[1] : b.dims()[0]), out = (int) (transB ? b.dims()[0] : b.dims()[1]);
        if (in < 1 || out < 1) throw new IOException(file + ": " + n.label() + " has an empty weight matrix " + Arrays.toString(b.dims()));
        if (width > 0 && in != width) {
            throw new IOException(file + ": " + n.label() + " takes " + in + " inputs (weights '" + b.name() + "' "
                    + Arrays.toString(b.dims()) + (transB ? ", transB" : "") + ") but receives " + width);
        }
        float[] w = new float[in * out];
        for (int j = 0; j < out; j++) {
            for (int k = 0; k < in; k++) w[j * in + k] = alpha * (transB ? b.floats()[j * in + k] : b.floats()[k * out + j]);
        }
        return new Layer(in, out, w, new float[out], false);
    }

    /** Adds β·c to the layer's bias; c is a scalar, [out] or [1, out]. */
    private static void addBias(Path file, Node n, Layer layer, Tensor c, float beta) throws IOException {
        long elements = c.elements();
        boolean rowShape = c.dims().length <= 1 || (c.dims().length == 2 && c.dims()[0] == 1);
        if (!rowShape || (elements != layer.out && elements != 1)) {
            throw new IOException(file + ": " + n.label() + " has bias '" + c.name() + "' of shape " + Arrays.toString(c.dims())
                    + "; a layer with " + layer.out + " outputs needs [" + layer.out + "], [1, " + layer.out + "] or a scalar");
        }
        for (int j = 0; j < layer.out; j++) layer.b[j] += beta * c.floats()[elements == 1 ? 0 : j];
        layer.biasAdded = true;
    }

    private static void reads(Path file, Node n, String current, int index) throws IOException {
        if (n.inputs().size() <= index || !n.inputs().get(index).equals(current)) {
            throw new IOException(file + ": " + n.label() + " reads " + n.inputs() + ", not the output '" + current
                    + "' of the node before it; only a chain of layers (no branches) is supported");
        }
    }

    private static void flatInput(Path file, Node n, boolean flat) throws IOException {
        if (!flat) throw new IOException(file + ": " + n.label() + " gets an input of more than 2 dimensions; flatten it first");
    }

    private static Tensor constant(Path file, Node n, Map<String, Tensor> constants, int index) throws IOException {
        String name = n.inputs().size() > index ? n.inputs().get(index) : "";
        Tensor t = constants.get(name);
        if (t == null) {
            throw new IOException(file + ": " + n.label() + " input " + index + " '" + name
                    + "' is not an initializer or Constant; weights, biases and shapes must be constants");
        }
        return t;
    }

    private static Tensor floatConstant(Path file, Node n, Map<String, Tensor> constants, int index) throws IOException {
        Tensor t = constant(file, n, constants, index);
        if (t.dataType() != FLOAT || t.floats() == null) {
            throw new IOException(file + ": " + n.label() + " tensor '" + t.name() + "' has data type " + t.dataType()
                    + "; only fp32 (1) weights are supported");
        }
        return t;
    }

    private static long attrI(Node n, String name, long fallback) {
        Attribute a = n.attributes().get(name);
        return a != null && a.hasI() ? a.i() : fallback;
    }

    private static float attrF(Node n, String name, float fallback) {
        Attribute a = n.attributes().get(name);
        return a != null && a.hasF() ? a.f() : fallback;
    }

    private static int features(long[] dims) {
        long f = 1;
        for (int i = 1; i < dims.length; i++) {
            if (dims[i] < 1) return -1;
            f *= dims[i];
            if (f > Integer.MAX_VALUE) return -1;
        }
        return (int) f;
    }

    private static String names(List<ValueInfo> values) {
        List<String> names = new ArrayList<>();
        for (ValueInfo v : values) names.add("'" + v.name() + "'");
        return names.toString();
    }
}
