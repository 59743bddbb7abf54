/**
 * Model files: safetensors ({@link io.vectorprop.model.SafeTensors}, the library's own format and
 * PyTorch's), ONNX dense networks ({@link io.vectorprop.model.Onnx}, including BatchNorm, LayerNorm, GELU,
 * SiLU and input scaling, folded or mapped at load), and {@link io.vectorprop.model.ModelFiles}, which
 * picks the reader by extension. Loading builds a new {@link io.vectorprop.network.Network}; the classes
 * hold no state and are safe to use from any thread.
 */
package io.vectorprop.model;
