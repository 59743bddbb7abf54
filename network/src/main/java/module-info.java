/**
 * Dense networks: training ({@code io.vectorprop.network}: Architecture, Network, Optimizer,
 * Trainer), serving (Predictor, SwappablePredictor), model files ({@code io.vectorprop.model}:
 * safetensors and ONNX) and data sets ({@code io.vectorprop.data}).
 *
 * <p>The command line ({@code io.vectorprop.cli}) and the gradient check ({@code io.vectorprop.verify})
 * are not exported. Their libraries (picocli, progressbar, XChart) are optional dependencies, read here
 * with {@code requires static}: a service that depends on this artifact gets the kernel and
 * jackson-core only. The executable jar {@code network/target/vectorprop.jar} bundles them.
 */
module io.vectorprop.network {
    requires transitive io.vectorprop.kernel;
    requires com.fasterxml.jackson.core;
    requires static info.picocli;
    requires static me.tongfei.progressbar;
    requires static org.knowm.xchart;
    requires static java.desktop;

    exports io.vectorprop.network;
    exports io.vectorprop.model;
    exports io.vectorprop.data;

    opens io.vectorprop.cli to info.picocli;
}
