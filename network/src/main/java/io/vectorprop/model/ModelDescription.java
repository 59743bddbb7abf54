package io.vectorprop.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.SequencedMap;

/**
 * A model as its files hold it, independent of any kernels or training state: the {@link Architecture},
 * its parameters by name ({@link Architecture#parameterShapes()}: exactly those names, in that order,
 * each a row-major array of rows × cols floats) and the input {@link Standardization}, or null when the
 * model takes its inputs as they are. What {@link SafeTensors} and {@link Onnx} read and write;
 * {@code Network.create(ModelDescription, Kernels)} builds a network from it and
 * {@code Network.description()} describes one. The arrays are not copied: the description holds the
 * caller's arrays and must not be changed while it is used.
 *
 * @throws IllegalArgumentException naming the tensor when a parameter is missing, extra or of the wrong size
 *
 * <p>Immutable as long as the caller leaves the arrays alone: safe to share between threads.
 */
public record ModelDescription(Architecture architecture, SequencedMap<String, float[]> parameters,
                               Standardization standardization) {
    public ModelDescription {
        SequencedMap<String, int[]> shapes = architecture.parameterShapes();
        SequencedMap<String, float[]> ordered = new LinkedHashMap<>();
        for (var e : shapes.entrySet()) {
            float[] v = parameters.get(e.getKey());
            long expected = (long) e.getValue()[0] * e.getValue()[1];
            if (v == null || v.length != expected) {
                throw new IllegalArgumentException("tensor " + e.getKey() + (v == null ? " is missing" : " has " + v.length + " values")
                        + "; the architecture " + architecture + " needs " + expected);
            }
            ordered.put(e.getKey(), v);
        }
        for (String name : parameters.keySet()) {
            if (!shapes.containsKey(name)) {
                throw new IllegalArgumentException("tensor " + name + " has no place in the architecture " + architecture
                        + (name.contains(".norm.") ? " (a layer norm the architecture does not name?)" : ""));
            }
        }
        if (standardization != null && standardization.features() != architecture.inputs()) {
            throw new IllegalArgumentException("standardization of " + standardization.features() + " features for a model with "
                    + architecture.inputs() + " inputs");
        }
        parameters = Collections.unmodifiableSequencedMap(ordered);
    }
}
