/**
 * Dense networks and their training and serving: {@link io.vectorprop.network.Architecture} (layer sizes,
 * activations, layer norms, loss), {@link io.vectorprop.network.Network} (parameters and
 * backpropagation), {@link io.vectorprop.network.Optimizer}, {@link io.vectorprop.network.Trainer}, and for
 * services {@link io.vectorprop.network.Predictor}, {@link io.vectorprop.network.SwappablePredictor} and
 * {@link io.vectorprop.network.BatchingPredictor}.
 *
 * <p>Thread-safety: training objects ({@code Network}, {@code Workspace}, {@code Optimizer},
 * {@code Trainer}) belong to one thread at a time. The predictors are safe to call from any number of
 * threads, platform or virtual. Every {@code close()} may be called more than once.
 */
package io.vectorprop.network;
