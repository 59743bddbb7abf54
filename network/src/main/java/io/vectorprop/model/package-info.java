/**
 * What a model is and how files hold it, independent of training: {@link io.vectorprop.model.Architecture}
 * (layer sizes, activations, layer norms, loss), {@link io.vectorprop.model.Standardization} of the inputs,
 * and {@link io.vectorprop.model.ModelDescription} (both, with the parameters by name), which the formats
 * read and write: safetensors ({@link io.vectorprop.model.SafeTensors}, the library's own format and
 * PyTorch's; paths, channels or byte arrays), ONNX dense networks ({@link io.vectorprop.model.Onnx},
 * including BatchNorm, LayerNorm, GELU, SiLU and input scaling, folded or mapped at load), and
 * {@link io.vectorprop.model.ModelFiles}, which picks the reader by extension. The network package builds
 * networks from descriptions and depends on this one, never the other way round. Every class here is
 * immutable or stateless and safe to use from any thread.
 */
package io.vectorprop.model;
