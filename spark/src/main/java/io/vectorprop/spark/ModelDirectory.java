package io.vectorprop.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.apache.spark.sql.SparkSession;

/**
 * The on-disk layout of a saved estimator or model, in Spark ML's own form so that {@code Pipeline}
 * and {@code PipelineModel} can save and load stages of ours: {@code <path>/metadata/part-00000}, one
 * line of JSON with {@code class}, {@code timestamp}, {@code sparkVersion}, {@code uid}, {@code paramMap}
 * (params set by the user) and {@code defaultParamMap}, each value in the param's JSON encoding; a model
 * adds {@code <path>/data/model.safetensors}, the vectorprop model file a service loads with
 * {@code Predictor.load}. Paths go through Hadoop's file systems (local, HDFS, S3…).
 */
final class ModelDirectory {
    static final String MODEL_FILE = "data/model.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelDirectory() {}

    /** The metadata of a saved instance: its uid and the params the user had set. */
    record Metadata(String className, String uid, JsonNode paramMap, String path) {
        /** Sets every param of the file on {@code instance}, decoded by the param itself; an unknown name fails. */
        @SuppressWarnings({"unchecked", "rawtypes"})
        void applyTo(Params instance) {
            Iterator<Map.Entry<String, JsonNode>> it = paramMap.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!instance.hasParam(e.getKey())) {
                    throw new IllegalArgumentException(path + ": param '" + e.getKey() + "' is not a param of " + className);
                }
                Param p = instance.getParam(e.getKey());
                instance.set(p, p.jsonDecode(e.getValue().toString()));
            }
        }
    }

    /** The writer of an estimator (no model file) or a model ({@code modelFile}: the safetensors bytes). */
    static org.apache.spark.ml.util.MLWriter writer(Params instance, byte[] modelFile) {
        return new org.apache.spark.ml.util.MLWriter() {
            @Override
            public void saveImpl(String path) {
                try {
                    writeMetadata(instance, path, sparkSession());
                    if (modelFile != null) write(sparkSession(), path, MODEL_FILE, modelFile);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(instance.getClass().getSimpleName() + ": saving to " + path, e);
                }
            }
        };
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static void writeMetadata(Params instance, String path, SparkSession spark) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("class", instance.getClass().getName());
        root.put("timestamp", System.currentTimeMillis());
        root.put("sparkVersion", spark.version());
        root.put("uid", instance.uid());
        ObjectNode set = root.putObject("paramMap"), defaults = root.putObject("defaultParamMap");
        for (Param p : instance.params()) {
            if (instance.isSet(p)) set.set(p.name(), JSON.readTree(p.jsonEncode(instance.get(p).get())));
            else if (instance.hasDefault(p)) defaults.set(p.name(), JSON.readTree(p.jsonEncode(instance.getDefault(p).get())));
        }
        write(spark, path, "metadata/part-00000", (JSON.writeValueAsString(root) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    static Metadata readMetadata(String path, SparkSession spark, Class<?> expected) throws IOException {
        String text = new String(read(spark, path, "metadata/part-00000"), StandardCharsets.UTF_8).strip();
        JsonNode root = JSON.readTree(text);
        String cls = root.path("class").asText();
        if (!cls.equals(expected.getName())) {
            throw new IllegalArgumentException(path + ": holds a " + (cls.isEmpty() ? "directory without a class" : cls)
                    + ", not a " + expected.getName());
        }
        return new Metadata(cls, root.path("uid").asText(), root.path("paramMap"), path);
    }

    static void write(SparkSession spark, String dir, String name, byte[] bytes) throws IOException {
        Path p = new Path(dir, name);
        FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
        try (OutputStream out = fs.create(p, true)) {
            out.write(bytes);
        }
    }

    static byte[] read(SparkSession spark, String dir, String name) throws IOException {
        Path p = new Path(dir, name);
        FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
        if (!fs.exists(p)) throw new java.io.FileNotFoundException(p + " (not a saved vectorprop stage, or incomplete)");
        try (FSDataInputStream in = fs.open(p)) {
            return ((InputStream) in).readAllBytes();
        }
    }
}
