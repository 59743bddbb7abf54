package io.vectorprop.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.OnnxGraph.Attribute;
import io.vectorprop.model.OnnxGraph.Graph;
import io.vectorprop.model.OnnxGraph.Node;
import io.vectorprop.model.OnnxGraph.Tensor;
import io.vectorprop.model.OnnxGraph.ValueInfo;

/**
 * Reads dense networks from ONNX files ({@code torch.onnx.export}, skl2onnx, tf2onnx): the graph
 * must be a chain from one input to one output of
 * <ul>
 *   <li>dense layers: {@code Gemm} (attributes {@code alpha}, {@code beta}, {@code transB};
 *       {@code transA} must be 0) or {@code MatMul}, with the weights and biases as fp32 (or double)
 *       initializers ({@code raw_data} or {@code float_data}) or {@code Constant} nodes;</li>
 *   <li>per-feature affine steps, folded away at load: {@code Add}, {@code Sub}, {@code Mul},
 *       {@code Div} by a constant (scalar, [n] or [1, n]; a bias {@code Add} is one) and
 *       {@code BatchNormalization} in inference form. Before the first layer they become the input
 *       standardization (or, with a scale ≤ 0, part of the first layer); after a layer's Z they fold
 *       into its W and b, after a layer norm that precedes the activation into γ and β, after an
 *       activation into the next layer's W and b;</li>
 *   <li>after a layer, one activation: {@code Relu}, {@code Sigmoid}, {@code Tanh}, {@code LeakyRelu}
 *       (alpha 0.01, this library's slope), {@code Softmax} (last axis), {@code Gelu} (opset 20), or an
 *       element-wise subgraph that computes one of {@link Activation}'s functions (SiLU as
 *       {@code x·Sigmoid(x)}, GELU's Erf and tanh forms), identified by evaluation;</li>
 *   <li>a layer norm before or after a hidden layer's activation: {@code LayerNormalization} (opset 17)
 *       or the decomposed form of earlier opsets;</li>
 *   <li>anywhere: {@code Identity} and {@code Dropout} (identity at inference), and
 *       {@code Flatten}/{@code Reshape} to {@code [batch, features]}.</li>
 * </ul>
 * Each layer keeps its own activation (none means identity). The output activation sets the loss the
 * architecture records: softmax → softmax cross-entropy, sigmoid → binary cross-entropy, anything else →
 * quadratic. Any other operator or branch fails with one error naming the node and its op type.
 *
 * <p>{@link OnnxGraph} decodes the protobuf (every length checked against the bytes that remain: a
 * truncated or forged file gives an {@link IOException} with the byte offset); this class interprets
 * the decoded graph, whose file name its messages carry.
 *
 * <p>Stateless: safe to call from any number of threads at once.
 */
public final class Onnx {
    private Onnx() {}

    /**
     * One dense layer as read: W out × in (row-major), b, the activation that follows it (null: none
     * yet), and its layer norm (γ, β, ε) if it has one.
     */
    static final class Layer {
        final int in, out;
        final float[] w, b;
        Activation activation;
        LayerNorm norm = LayerNorm.NONE;
        float[] gamma, beta;
        float epsilon;
        String normLabel;

        Layer(int in, int out, float[] w, float[] b) {
            this.in = in;
            this.out = out;
            this.w = w;
            this.b = b;
        }
    }

    /**
     * Reads the dense network in {@code file}: its architecture, parameters and input standardization.
     * Build a network from it with {@code Network.create(description, kernels)}.
     */
    public static ModelDescription read(Path file) throws IOException {
        OnnxGraph.Graph graph = OnnxGraph.read(file);
        Imported imported = interpret(graph);
        List<Layer> layers = imported.layers();
        Architecture arch = architecture(graph.source(), layers);
        java.util.SequencedMap<String, float[]> parameters = new java.util.LinkedHashMap<>();
        for (int l = 0; l < layers.size(); l++) {
            parameters.put("layers." + l + ".weight", layers.get(l).w);
            parameters.put("layers." + l + ".bias", layers.get(l).b);
            if (layers.get(l).norm != LayerNorm.NONE) {
                parameters.put("layers." + l + ".norm.weight", layers.get(l).gamma);
                parameters.put("layers." + l + ".norm.bias", layers.get(l).beta);
            }
        }
        return new ModelDescription(arch, parameters, imported.standardization());
    }

    // ---------------------------------------------------------------- from graph to layers

    /** Where the walk along the chain stands, which decides what a per-feature affine step folds into. */
    private enum At {
        /** The (scaled) input: an affine step becomes the standardization, or folds into the first layer. */
        INPUT,
        /** Z of the last dense layer: folds into its W and b. */
        LINEAR,
        /** LN(Z) before the activation: folds into the norm's γ and β. */
        NORMED,
        /** After the activation, or after a norm that follows it: folds into the next layer's W and b. */
        ACTIVATED, NORMED_AFTER
    }

    /** {@code x ↦ a ⊙ x + c}, per feature; a and c have one entry (broadcast) or one per feature. */
    record Affine(double[] a, double[] c) {
        static Affine of(double a, double c) { return new Affine(new double[] {a}, new double[] {c}); }

        /** First this, then {@code next}. */
        Affine then(Affine next) {
            int n = Math.max(Math.max(a.length, next.a.length), Math.max(c.length, next.c.length));
            double[] a2 = new double[n], c2 = new double[n];
            for (int i = 0; i < n; i++) {
                double na = at(next.a, i);
                a2[i] = na * at(a, i);
                c2[i] = na * at(c, i) + at(next.c, i);
            }
            return new Affine(a2, c2);
        }

        int width() { return Math.max(a.length, c.length); }

        static double at(double[] v, int i) { return v.length == 1 ? v[0] : v[i]; }
    }

    /** What a file describes: the dense layers and the input standardization (null: none). */
    record Imported(List<Layer> layers, Standardization standardization) {}

    /** The walk's state: the layers read so far and what a per-feature affine step would fold into. */
    private static final class Walk {
        final String file;
        final Map<String, Tensor> constants;
        final Map<String, List<Node>> consumers = new HashMap<>();
        final Set<Node> used = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        final Map<Node, Integer> order = new java.util.IdentityHashMap<>();
        final List<Layer> layers = new ArrayList<>();
        final String output;
        At at = At.INPUT;
        int width;
        boolean flat;
        Affine inputAffine, pending;
        String pendingFrom;
        Standardization standardization;

        Walk(Graph g, String output) {
            this.file = g.source();
            this.constants = new HashMap<>(g.initializers());
            this.output = output;
        }

        Layer last() { return layers.get(layers.size() - 1); }

        /** The consumers of {@code value} not yet taken into a layer. */
        List<Node> open(String value) {
            List<Node> out = new ArrayList<>();
            for (Node n : consumers.getOrDefault(value, List.of())) if (!used.contains(n)) out.add(n);
            return out;
        }

        IOException error(Node n, String message) {
            return new IOException(file + ": " + n.label() + " " + message);
        }
    }

    /**
     * Walks the chain from the graph's input to its output, collecting dense layers with their
     * activations and layer norms, and folding per-feature affine steps (BatchNormalization in inference
     * form, Add/Sub/Mul/Div by constants) into the standardization, a layer's W and b, or a norm's γ and β.
     * Where the chain branches, the branch must be a decomposed LayerNormalization or an element-wise
     * subgraph that computes one of the activations (SiLU's {@code x·Sigmoid(x)}, GELU's Erf and tanh forms).
     */
    static Imported interpret(Graph g) throws IOException {
        String file = g.source();
        if (g.outputs().size() != 1) {
            throw new IOException(file + ": the graph has " + g.outputs().size() + " outputs " + names(g.outputs())
                    + "; a dense network has exactly one");
        }
        Walk w = new Walk(g, g.outputs().get(0).name());
        Set<String> produced = new HashSet<>();
        for (Node n : g.nodes()) {
            w.order.put(n, w.order.size());
            if (!n.domain().isEmpty() && !n.domain().equals("ai.onnx")) {
                throw w.error(n, "is from operator domain '" + n.domain() + "', not supported; only standard ONNX operators of dense networks are");
            }
            if (n.outputs().isEmpty()) throw w.error(n, "has no output");
            for (String o : n.outputs()) if (!o.isEmpty() && !produced.add(o)) throw w.error(n, "writes '" + o + "' again");
            if (n.opType().equals("Constant")) {
                Attribute value = n.attributes().get("value");
                if (value == null || value.t() == null) throw w.error(n, "has no tensor 'value'; only tensor constants are supported");
                w.constants.put(n.outputs().get(0), value.t());
                w.used.add(n);
            } else if (n.opType().equals("Identity") && w.constants.containsKey(n.inputs().get(0))) {
                w.constants.put(n.outputs().get(0), w.constants.get(n.inputs().get(0)));   // an exporter's alias of a weight
                w.used.add(n);
            } else {
                for (String in : n.inputs()) if (!in.isEmpty()) w.consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        List<ValueInfo> dataInputs = new ArrayList<>();
        for (ValueInfo v : g.inputs()) if (!w.constants.containsKey(v.name())) dataInputs.add(v);
        if (dataInputs.size() != 1) {
            throw new IOException(file + ": the graph has " + dataInputs.size() + " inputs besides its initializers "
                    + names(dataInputs) + "; a dense network has exactly one");
        }
        ValueInfo input = dataInputs.get(0);
        long[] dims = input.dims();
        w.flat = dims == null || dims.length == 2;
        w.width = dims != null && dims.length >= 2 ? features(dims) : -1;
        String current = input.name();
        while (!current.equals(w.output)) {
            List<Node> next = w.open(current);
            if (next.isEmpty()) {
                throw new IOException(file + ": nothing reads '" + current + "', but the graph's output is '" + w.output + "'");
            }
            if (next.size() == 1 && step(w, next.get(0), current)) {
                w.used.add(next.get(0));
                current = next.get(0).outputs().get(0);
                continue;
            }
            String after = decomposedLayerNorm(w, current, next);
            if (after == null) after = elementwiseActivation(w, current, next);
            if (after == null) {
                StringBuilder ops = new StringBuilder();
                for (Node n : next) ops.append(ops.isEmpty() ? "" : ", ").append(n.label());
                throw new IOException(file + ": '" + current + "' is read by " + ops + ", which is not supported: a dense"
                        + " network is a chain of layers, branching only inside a decomposed LayerNormalization or an activation"
                        + " written out as element-wise operators; it is read from Gemm, MatMul, Add, Sub, Mul, Div, BatchNormalization, LayerNormalization"
                        + " (or its decomposed form), Relu, Sigmoid, Tanh, LeakyRelu, Gelu (or its Erf or tanh form), SiLU"
                        + " (x·Sigmoid(x)), Softmax, Identity, Dropout, Flatten, Reshape and Constant");
            }
            current = after;
        }
        for (Node n : g.nodes()) {
            if (!w.used.contains(n)) throw w.error(n, "is not on the chain from the input to the output; branches are not supported");
        }
        if (w.layers.isEmpty()) throw new IOException(file + ": the graph has no dense layer (Gemm or MatMul)");
        if (w.pending != null) {
            throw new IOException(file + ": " + w.pendingFrom + " scales the network's output; a per-feature affine step after"
                    + " the output layer's activation is not supported (there is no later layer to fold it into)");
        }
        if (dims != null && dims.length >= 2 && features(dims) > 0 && features(dims) != w.layers.get(0).in) {
            throw new IOException(file + ": input '" + input.name() + "' has " + features(dims) + " features but the first layer takes "
                    + w.layers.get(0).in);
        }
        return new Imported(w.layers, w.standardization);
    }

    /** One node that alone reads the current value; false when it is none of the single-node steps. */
    private static boolean step(Walk w, Node n, String current) throws IOException {
        String file = w.file;
        switch (n.opType()) {
            case "Identity", "Dropout" -> {
                reads(w, n, current, 0);
                if (n.opType().equals("Dropout") && n.inputs().size() >= 3 && !n.inputs().get(2).isEmpty()) {
                    Tensor mode = constant(w, n, 2);
                    if (mode.longs() != null && mode.longs().length > 0 && mode.longs()[0] != 0) {
                        throw w.error(n, "is in training mode; export the model in eval mode");
                    }
                }
                unusedExtraOutputs(w, n);
            }
            case "Flatten" -> {
                reads(w, n, current, 0);
                long axis = attrI(n, "axis", 1);
                if (axis != 1) throw w.error(n, "flattens from axis " + axis + "; only axis 1 (keep the batch) is supported");
                w.flat = true;
            }
            case "Reshape" -> {
                reads(w, n, current, 0);
                Tensor shape = constant(w, n, 1);
                long[] s = shape.longs();
                int width = w.width;
                if (s == null || s.length != 2 || s[1] < 1 || (width > 0 && s[1] != width) || !(s[0] == -1 || s[0] == 0 || s[0] > 0)) {
                    throw w.error(n, "reshapes to " + (s == null ? "a non-int64 shape" : Arrays.toString(s))
                            + "; only [batch, " + (width > 0 ? width : "features") + "] (a flat input) is supported");
                }
                if (width < 0) w.width = (int) s[1];
                w.flat = true;
            }
            case "Gemm" -> {
                reads(w, n, current, 0);
                flatInput(w, n);
                if (attrI(n, "transA", 0) != 0) throw w.error(n, "has transA = 1; only transA = 0 is supported");
                boolean transB = attrI(n, "transB", 0) != 0;
                float alpha = attrF(n, "alpha", 1f), beta = attrF(n, "beta", 1f);
                Layer layer = dense(w, n, floatConstant(w, n, 1), transB, alpha);
                if (n.inputs().size() >= 3 && !n.inputs().get(2).isEmpty()) {
                    addBias(w, n, layer, floatConstant(w, n, 2), beta);
                }
                addLayer(w, n, layer);
            }
            case "MatMul" -> {
                reads(w, n, current, 0);
                flatInput(w, n);
                addLayer(w, n, dense(w, n, floatConstant(w, n, 1), false, 1f));
            }
            case "Add", "Sub", "Mul", "Div" -> {
                if (n.inputs().size() != 2) throw w.error(n, "needs two inputs");
                int data = n.inputs().get(0).equals(current) ? 0 : 1;
                if (!n.inputs().get(data).equals(current) || !w.constants.containsKey(n.inputs().get(1 - data))) return false;
                affine(w, n, constantAffine(w, n, floatConstant(w, n, 1 - data), data));
            }
            case "BatchNormalization" -> {
                reads(w, n, current, 0);
                if (attrI(n, "training_mode", 0) != 0) throw w.error(n, "is in training mode; export the model in eval mode");
                unusedExtraOutputs(w, n);
                float[] scale = features(w, n, 1), shift = features(w, n, 2), mean = features(w, n, 3), var = features(w, n, 4);
                double eps = attrF(n, "epsilon", 1e-5f);
                double[] a = new double[scale.length], c = new double[scale.length];
                for (int i = 0; i < a.length; i++) {                    // y = (x − mean)/√(var + ε)·scale + shift
                    a[i] = scale[i] / Math.sqrt((double) var[i] + eps);
                    c[i] = shift[i] - mean[i] * a[i];
                }
                affine(w, n, new Affine(a, c));
            }
            case "LayerNormalization" -> {
                reads(w, n, current, 0);
                long axis = attrI(n, "axis", -1);
                if (axis != -1 && axis != 1) throw w.error(n, "normalizes from axis " + axis + "; only the feature axis (-1) is supported");
                unusedExtraOutputs(w, n);
                float[] gamma = features(w, n, 1);
                float[] beta = n.inputs().size() >= 3 && !n.inputs().get(2).isEmpty() ? features(w, n, 2) : new float[gamma.length];
                layerNorm(w, n, gamma, beta, attrF(n, "epsilon", 1e-5f));
            }
            case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Softmax", "Gelu" -> {
                reads(w, n, current, 0);
                activate(w, n, activation(w, n));
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    private static void addLayer(Walk w, Node n, Layer layer) throws IOException {
        if (w.at == At.INPUT && w.inputAffine != null) {
            Affine f = expand(w, n, w.inputAffine, layer.in);
            boolean positive = true;
            for (double a : f.a()) positive &= a > 0 && Double.isFinite(a) && (float) a > 0;
            if (positive) {                                              // x·a + c = (x − (−c/a))·a
                float[] mean = new float[layer.in], scale = new float[layer.in];
                for (int k = 0; k < layer.in; k++) {
                    scale[k] = (float) f.a()[k];
                    mean[k] = (float) (-f.c()[k] / f.a()[k]);
                }
                w.standardization = new Standardization(mean, scale);
            } else {
                foldIntoInput(layer, f);
            }
            w.inputAffine = null;
        }
        if (w.pending != null) {
            foldIntoInput(layer, expand(w, n, w.pending, layer.in));
            w.pending = null;
        }
        w.layers.add(layer);
        w.width = layer.out;
        w.at = At.LINEAR;
    }

    /** A layer reading {@code a ⊙ x + c} instead of x: {@code W' = W·diag(a)}, {@code b' = b + W·c}. */
    private static void foldIntoInput(Layer layer, Affine f) {
        for (int j = 0; j < layer.out; j++) {
            double shift = 0;
            for (int k = 0; k < layer.in; k++) {
                shift += (double) layer.w[j * layer.in + k] * f.c()[k];
                layer.w[j * layer.in + k] = (float) (layer.w[j * layer.in + k] * f.a()[k]);
            }
            layer.b[j] = (float) (layer.b[j] + shift);
        }
    }

    private static Affine expand(Walk w, Node n, Affine f, int width) throws IOException {
        if (f.width() != 1 && f.width() != width) {
            throw w.error(n, "reads " + width + " features, but a per-feature step before it has " + f.width());
        }
        double[] a = new double[width], c = new double[width];
        for (int i = 0; i < width; i++) {
            a[i] = Affine.at(f.a(), i);
            c[i] = Affine.at(f.c(), i);
        }
        return new Affine(a, c);
    }

    /** A per-feature affine step on the current value, folded into what comes before it or kept for the next layer. */
    private static void affine(Walk w, Node n, Affine f) throws IOException {
        if (f.width() != 1 && w.width > 0 && f.width() != w.width) {
            throw w.error(n, "has " + f.width() + " values per feature for " + w.width + " features");
        }
        switch (w.at) {
            case INPUT -> w.inputAffine = w.inputAffine == null ? f : w.inputAffine.then(f);
            case LINEAR -> {                                             // a ⊙ (x·Wᵀ + b) + c
                Layer l = w.last();
                for (int j = 0; j < l.out; j++) {
                    double a = Affine.at(f.a(), j);
                    for (int k = 0; k < l.in; k++) l.w[j * l.in + k] = (float) (l.w[j * l.in + k] * a);
                    l.b[j] = (float) (a * l.b[j] + Affine.at(f.c(), j));
                }
            }
            case NORMED -> {                                             // a ⊙ (x̂ ⊙ γ + β) + c
                Layer l = w.last();
                for (int j = 0; j < l.out; j++) {
                    double a = Affine.at(f.a(), j);
                    l.gamma[j] = (float) (a * l.gamma[j]);
                    l.beta[j] = (float) (a * l.beta[j] + Affine.at(f.c(), j));
                }
            }
            case ACTIVATED, NORMED_AFTER -> {
                if (w.pending == null) w.pendingFrom = n.label();
                w.pending = w.pending == null ? f : w.pending.then(f);
            }
        }
    }

    /** x + c, x − c, c − x, x·c, x/c; the constant is a scalar, [n] or [1, n]. */
    private static Affine constantAffine(Walk w, Node n, Tensor t, int dataIndex) throws IOException {
        long[] d = t.dims();
        boolean row = d.length <= 1 || (d.length == 2 && d[0] == 1);
        if (!row) throw w.error(n, "has constant '" + t.name() + "' of shape " + Arrays.toString(d) + "; per-feature steps need a scalar, [n] or [1, n]");
        float[] v = t.floats();
        if (n.opType().equals("Div")) {
            if (dataIndex != 0) throw w.error(n, "divides a constant by the data; only division by a constant is supported");
            for (float x : v) if (x == 0) throw w.error(n, "divides by a constant that has a zero");
        }
        double[] a = new double[v.length], c = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            switch (n.opType()) {
                case "Add" -> { a[i] = 1; c[i] = v[i]; }                            // x + v
                case "Sub" -> { a[i] = dataIndex == 0 ? 1 : -1; c[i] = dataIndex == 0 ? -v[i] : v[i]; }   // x − v, v − x
                case "Mul" -> a[i] = v[i];                                          // x·v
                case "Div" -> a[i] = 1.0 / v[i];                                    // x / v
                default -> throw new AssertionError(n.opType());
            }
        }
        return new Affine(a, c);
    }

    private static void activate(Walk w, Node n, Activation f) throws IOException {
        switch (w.at) {
            case INPUT -> throw w.error(n, "comes before the first dense layer; a dense network starts with Gemm or MatMul");
            case LINEAR, NORMED -> {
                w.last().activation = f;
                w.at = At.ACTIVATED;
            }
            case ACTIVATED, NORMED_AFTER -> throw w.error(n, "follows another activation (" + w.last().activation.id()
                    + (w.pending != null ? ", and a per-feature step" : "") + "); one activation per layer is supported");
        }
    }

    private static void layerNorm(Walk w, Node n, float[] gamma, float[] beta, float epsilon) throws IOException {
        if (gamma.length != beta.length || (w.width > 0 && gamma.length != w.width)) {
            throw w.error(n, "has " + gamma.length + " scales and " + beta.length + " shifts for " + w.width + " features");
        }
        switch (w.at) {
            case LINEAR -> {
                w.last().norm = LayerNorm.BEFORE_ACTIVATION;
                w.at = At.NORMED;
            }
            case ACTIVATED -> {
                if (w.pending != null) {
                    throw w.error(n, "follows a per-feature step (" + w.pendingFrom + ") after an activation; a layer norm goes"
                            + " right after a dense layer or right after its activation");
                }
                if (w.last().activation == Activation.SOFTMAX) throw w.error(n, "follows softmax, the output's activation");
                w.last().norm = LayerNorm.AFTER_ACTIVATION;
                w.at = At.NORMED_AFTER;
            }
            case INPUT, NORMED, NORMED_AFTER -> throw w.error(n, "is not right after a dense layer or its activation; a layer"
                    + " norm is supported there only (one per layer)");
        }
        Layer l = w.last();
        l.gamma = gamma.clone();
        l.beta = beta.clone();
        l.epsilon = epsilon;
        l.normLabel = n.label();
    }

    /** Input {@code index} of a per-feature operator: a constant of one value per feature. */
    private static float[] features(Walk w, Node n, int index) throws IOException {
        Tensor t = floatConstant(w, n, index);
        if (t.dims().length != 1 || (w.width > 0 && t.dims()[0] != w.width)) {
            throw w.error(n, "input " + index + " '" + t.name() + "' has shape " + Arrays.toString(t.dims()) + "; expected ["
                    + (w.width > 0 ? w.width : "features") + "]");
        }
        return t.floats();
    }

    private static void unusedExtraOutputs(Walk w, Node n) throws IOException {
        for (int i = 1; i < n.outputs().size(); i++) {
            String o = n.outputs().get(i);
            if (!o.isEmpty() && (!w.consumers.getOrDefault(o, List.of()).isEmpty() || o.equals(w.output))) {
                throw w.error(n, "output " + i + " '" + o + "' is used; only the first output of " + n.opType() + " is supported");
            }
        }
    }

    /**
     * The decomposed LayerNormalization older exporters write, read from {@code x}:
     * {@code d = x − ReduceMean(x)}, {@code y = d / Sqrt(ReduceMean(Pow(d, 2)) + ε)}, then optionally
     * {@code Mul} by γ and {@code Add} of β. Returns the value after it, or null when the branch is not this.
     */
    private static String decomposedLayerNorm(Walk w, String x, List<Node> next) throws IOException {
        if (next.size() != 2) return null;
        Node mean = only(next, "ReduceMean"), sub = only(next, "Sub");
        if (mean == null || sub == null || !lastAxis(w, mean) || !sub.inputs().equals(List.of(x, mean.outputs().get(0)))) return null;
        String d = sub.outputs().get(0);
        List<Node> dUses = w.open(d);
        if (dUses.size() != 2) return null;
        Node square = null, div = null;
        for (Node n : dUses) {
            if (n.opType().equals("Pow") && n.inputs().get(0).equals(d) && scalar(w, n.inputs().get(1)) == 2.0) square = n;
            else if (n.opType().equals("Mul") && n.inputs().get(0).equals(d) && n.inputs().get(1).equals(d)) square = n;
            else if (n.opType().equals("Div") && n.inputs().get(0).equals(d)) div = n;
        }
        if (square == null || div == null) return null;
        Node var = single(w, square, "ReduceMean");
        if (var == null || !lastAxis(w, var)) return null;
        Node plusEps = single(w, var, "Add");
        if (plusEps == null) return null;
        int epsIndex = plusEps.inputs().get(0).equals(var.outputs().get(0)) ? 1 : 0;
        double eps = scalar(w, plusEps.inputs().get(epsIndex));
        if (!(eps > 0)) return null;
        Node sqrt = single(w, plusEps, "Sqrt");
        if (sqrt == null || !div.inputs().get(1).equals(sqrt.outputs().get(0)) || w.open(sqrt.outputs().get(0)).size() != 1) return null;
        List<Node> nodes = new ArrayList<>(List.of(mean, sub, square, var, plusEps, sqrt, div));
        String out = div.outputs().get(0);
        int width = w.width;
        float[] gamma = null, beta = null;
        Node mul = single(w, div, "Mul");
        gamma = mul == null ? null : featureConstant(w, mul, out);
        if (gamma != null) {
            nodes.add(mul);
            out = mul.outputs().get(0);
            Node add = single(w, mul, "Add");
            beta = add == null ? null : featureConstant(w, add, out);
            if (beta != null) {
                nodes.add(add);
                out = add.outputs().get(0);
            }
        }
        int n = gamma != null ? gamma.length : width;
        if (n < 1) throw w.error(mean, "starts a layer norm of unknown width; give the input a fixed feature count");
        if (gamma == null) {
            gamma = new float[n];
            Arrays.fill(gamma, 1f);
        }
        if (beta == null) beta = new float[n];
        layerNorm(w, mean, gamma, beta, (float) eps);
        w.used.addAll(nodes);
        return out;
    }

    /** The per-feature constant the binary node combines {@code value} with, or null. */
    private static float[] featureConstant(Walk w, Node n, String value) {
        if (n.inputs().size() != 2) return null;
        int other = n.inputs().get(0).equals(value) ? 1 : n.inputs().get(1).equals(value) ? 0 : -1;
        if (other < 0) return null;
        Tensor t = w.constants.get(n.inputs().get(other));
        if (t == null || t.floats() == null || t.dims().length != 1 || (w.width > 0 && t.dims()[0] != w.width)) return null;
        return t.floats();
    }

    private static Node only(List<Node> nodes, String op) {
        Node found = null;
        for (Node n : nodes) {
            if (n.opType().equals(op)) {
                if (found != null) return null;
                found = n;
            }
        }
        return found;
    }

    /** The one open consumer of n's output, when it has op type {@code op}. */
    private static Node single(Walk w, Node n, String op) {
        List<Node> uses = w.open(n.outputs().get(0));
        return uses.size() == 1 && uses.get(0).opType().equals(op) ? uses.get(0) : null;
    }

    /** A scalar constant's value, or NaN. */
    private static double scalar(Walk w, String name) {
        Tensor t = w.constants.get(name);
        return t != null && t.floats() != null && t.floats().length == 1 ? t.floats()[0] : Double.NaN;
    }

    /** ReduceMean over the last axis only, keeping it (attribute axes, or the axes input of opset 18). */
    private static boolean lastAxis(Walk w, Node mean) {
        long[] axes = mean.attributes().containsKey("axes") ? mean.attributes().get("axes").ints() : null;
        if (axes == null && mean.inputs().size() >= 2) {
            Tensor t = w.constants.get(mean.inputs().get(1));
            axes = t == null ? null : t.longs();
        }
        return axes != null && axes.length == 1 && (axes[0] == -1 || axes[0] == 1) && attrI(mean, "keepdims", 1) == 1;
    }

    /** Element-wise operators the importer can evaluate when it identifies an activation written out as a subgraph. */
    private static final Set<String> ELEMENTWISE = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Tanh", "Sigmoid",
            "Exp", "Neg", "Reciprocal", "Identity");
    /** Points at which a subgraph is compared with each activation, in double precision. */
    private static final double[] PROBES;

    static {
        PROBES = new double[97];
        for (int i = 0; i < PROBES.length; i++) PROBES[i] = -6 + i * 0.125;
    }

    /**
     * An activation written out as element-wise operators on scalars (SiLU as {@code x·Sigmoid(x)}, GELU
     * as {@code 0.5·x·(1 + Erf(x/√2))} or its tanh form): grows the subgraph from {@code x} until exactly
     * one of its values is read outside it, evaluates it at {@link #PROBES} in double precision, and
     * compares it with every element-wise activation; a match within {@code 1e-5·(1 + |f|)} at every probe
     * (GELU and its tanh form differ by up to 5e-4) identifies it. Returns the value after it, or null.
     */
    private static String elementwiseActivation(Walk w, String x, List<Node> next) throws IOException {
        List<Node> region = new ArrayList<>();
        for (Node n : next) if (!ELEMENTWISE.contains(n.opType())) return null;
        region.addAll(next);
        for (int grow = 0; grow < 64; grow++) {
            region.sort(java.util.Comparator.comparing(w.order::get));
            List<String> open = new ArrayList<>();
            for (Node n : region) {
                String v = n.outputs().get(0);
                boolean outside = v.equals(w.output);
                for (Node u : w.open(v)) outside |= !region.contains(u);
                if (outside) open.add(v);
            }
            for (Node u : w.open(x)) if (!region.contains(u)) return null;
            if (open.size() == 1) {
                Activation f = identify(w, x, region, open.get(0));
                if (f != null) {
                    activate(w, region.get(0), f);
                    w.used.addAll(region);
                    return open.get(0);
                }
            }
            if (open.isEmpty()) return null;
            List<Node> more = w.open(open.get(0));          // the earliest open value: extend the region by its readers
            if (more.isEmpty()) return null;
            for (Node n : more) {
                if (!ELEMENTWISE.contains(n.opType())) return null;
                if (!region.contains(n)) region.add(n);
            }
        }
        return null;
    }

    /** The activation the region computes from x to y, or null. */
    private static Activation identify(Walk w, String x, List<Node> region, String y) {
        double[] g = new double[PROBES.length];
        for (int p = 0; p < PROBES.length; p++) {
            Map<String, Double> v = new HashMap<>();
            v.put(x, PROBES[p]);
            for (Node n : region) {
                double[] in = new double[n.inputs().size()];
                for (int i = 0; i < in.length; i++) {
                    String name = n.inputs().get(i);
                    Double known = v.get(name);
                    if (known == null) {
                        double c = scalar(w, name);
                        if (Double.isNaN(c)) return null;              // only scalar constants: a function of x alone
                        known = c;
                    }
                    in[i] = known;
                }
                double r = switch (n.opType()) {
                    case "Add" -> in[0] + in[1];
                    case "Sub" -> in[0] - in[1];
                    case "Mul" -> in[0] * in[1];
                    case "Div" -> in[0] / in[1];
                    case "Pow" -> Math.pow(in[0], in[1]);
                    case "Sqrt" -> Math.sqrt(in[0]);
                    case "Erf" -> DoubleActivations.erf(in[0]);
                    case "Tanh" -> Math.tanh(in[0]);
                    case "Sigmoid" -> 1 / (1 + Math.exp(-in[0]));
                    case "Exp" -> Math.exp(in[0]);
                    case "Neg" -> -in[0];
                    case "Reciprocal" -> 1 / in[0];
                    case "Identity" -> in[0];
                    default -> Double.NaN;
                };
                v.put(n.outputs().get(0), r);
            }
            g[p] = v.getOrDefault(y, Double.NaN);
        }
        for (Activation f : Activation.values()) {
            if (!f.isElementwise()) continue;
            boolean match = true;
            for (int p = 0; p < PROBES.length && match; p++) {
                double e = DoubleActivations.apply(f, PROBES[p]);
                match = Math.abs(g[p] - e) <= 1e-5 * (1 + Math.abs(e));
            }
            if (match) return f;
        }
        return null;
    }

    private static Architecture architecture(String file, List<Layer> layers) throws IOException {
        int count = layers.size();
        int[] sizes = new int[count + 1];
        sizes[0] = layers.get(0).in;
        Activation[] activations = new Activation[count];
        LayerNorm[] norms = new LayerNorm[count];
        float epsilon = Float.NaN;
        String epsilonFrom = null;
        for (int l = 0; l < count; l++) {
            Layer layer = layers.get(l);
            sizes[l + 1] = layer.out;
            activations[l] = layer.activation == null ? Activation.IDENTITY : layer.activation;
            norms[l] = layer.norm;
            if (l < count - 1 && !activations[l].isElementwise()) {
                throw new IOException(file + ": hidden layer " + (l + 1) + " uses softmax; only the output may");
            }
            if (layer.norm == LayerNorm.NONE) continue;
            if (l == count - 1) {
                throw new IOException(file + ": " + layer.normLabel + " normalizes the output layer; layer norms are supported"
                        + " after hidden layers only");
            }
            if (epsilonFrom != null && layer.epsilon != epsilon) {
                throw new IOException(file + ": " + layer.normLabel + " has epsilon " + layer.epsilon + " but " + epsilonFrom
                        + " has " + epsilon + "; the layer norms of one network share one epsilon");
            }
            epsilon = layer.epsilon;
            epsilonFrom = layer.normLabel;
        }
        Activation output = activations[count - 1];
        Loss loss = switch (output) {
            case SOFTMAX -> Loss.SOFTMAX_CROSS_ENTROPY;
            case SIGMOID -> Loss.BINARY_CROSS_ENTROPY;
            case IDENTITY, TANH, RELU, LEAKY_RELU, GELU, GELU_TANH, SILU -> Loss.QUADRATIC;
        };
        return new Architecture(sizes, activations, norms, epsilonFrom == null ? Architecture.DEFAULT_LAYER_NORM_EPSILON : epsilon, loss);
    }

    private static Activation activation(Walk w, Node n) throws IOException {
        return switch (n.opType()) {
            case "Relu" -> Activation.RELU;
            case "Sigmoid" -> Activation.SIGMOID;
            case "Tanh" -> Activation.TANH;
            case "LeakyRelu" -> {
                float alpha = attrF(n, "alpha", 0.01f);
                if (Math.abs(alpha - Activation.LEAKY_SLOPE) > 1e-6f) {
                    throw w.error(n, "has alpha " + alpha + "; vectorprop's leaky ReLU has slope "
                            + Activation.LEAKY_SLOPE);
                }
                yield Activation.LEAKY_RELU;
            }
            case "Softmax" -> {
                long axis = attrI(n, "axis", -1);
                if (axis != -1 && axis != 1) throw w.error(n, "has axis " + axis + "; only the feature axis (1 or -1) is supported");
                yield Activation.SOFTMAX;
            }
            case "Gelu" -> {
                Attribute a = n.attributes().get("approximate");
                String approximate = a == null || a.s() == null ? "none" : a.s();
                yield switch (approximate) {
                    case "none" -> Activation.GELU;
                    case "tanh" -> Activation.GELU_TANH;
                    default -> throw w.error(n, "has approximate '" + approximate
                            + "'; expected none or tanh");
                };
            }
            default -> throw w.error(n, "is not an activation");
        };
    }

    /** A dense layer from B: [out, in] when transposed, else [in, out]; W = α·op(B)ᵀ stored out × in. */
    private static Layer dense(Walk w, Node n, Tensor b, boolean transB, float alpha) throws IOException {
        if (b.dims().length != 2) {
            throw w.error(n, "has weights '" + b.name() + "' of shape " + Arrays.toString(b.dims())
                    + "; a dense layer needs a 2-D matrix");
        }
        int in = (int) (transB ? b.dims()[1] : b.dims()[0]), out = (int) (transB ? b.dims()[0] : b.dims()[1]);
        if (in < 1 || out < 1) throw w.error(n, "has an empty weight matrix " + Arrays.toString(b.dims()));
        if (w.width > 0 && in != w.width) {
            throw w.error(n, "takes " + in + " inputs (weights '" + b.name() + "' "
                    + Arrays.toString(b.dims()) + (transB ? ", transB" : "") + ") but receives " + w.width);
        }
        float[] weights = new float[in * out];
        for (int j = 0; j < out; j++) {
            for (int k = 0; k < in; k++) weights[j * in + k] = alpha * (transB ? b.floats()[j * in + k] : b.floats()[k * out + j]);
        }
        return new Layer(in, out, weights, new float[out]);
    }

    /** Adds β·c to the layer's bias; c is a scalar, [out] or [1, out]. */
    private static void addBias(Walk w, Node n, Layer layer, Tensor c, float beta) throws IOException {
        long elements = c.elements();
        boolean rowShape = c.dims().length <= 1 || (c.dims().length == 2 && c.dims()[0] == 1);
        if (!rowShape || (elements != layer.out && elements != 1)) {
            throw w.error(n, "has bias '" + c.name() + "' of shape " + Arrays.toString(c.dims())
                    + "; a layer with " + layer.out + " outputs needs [" + layer.out + "], [1, " + layer.out + "] or a scalar");
        }
        for (int j = 0; j < layer.out; j++) layer.b[j] += beta * c.floats()[elements == 1 ? 0 : j];
    }

    private static void reads(Walk w, Node n, String current, int index) throws IOException {
        if (n.inputs().size() <= index || !n.inputs().get(index).equals(current)) {
            throw w.error(n, "reads " + n.inputs() + ", not the output '" + current
                    + "' of the node before it; only a chain of layers (no branches) is supported");
        }
    }

    private static void flatInput(Walk w, Node n) throws IOException {
        if (!w.flat) throw w.error(n, "gets an input of more than 2 dimensions; flatten it first");
    }

    private static Tensor constant(Walk w, Node n, int index) throws IOException {
        String name = n.inputs().size() > index ? n.inputs().get(index) : "";
        Tensor t = w.constants.get(name);
        if (t == null) {
            throw w.error(n, "input " + index + " '" + name
                    + "' is not an initializer or Constant; weights, biases and shapes must be constants");
        }
        return t;
    }

    private static Tensor floatConstant(Walk w, Node n, int index) throws IOException {
        Tensor t = constant(w, n, index);
        if (t.dataType() != OnnxGraph.FLOAT || t.floats() == null) {
            throw w.error(n, "tensor '" + t.name() + "' has data type " + t.dataType()
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
