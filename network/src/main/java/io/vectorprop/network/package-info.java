/**
 * Dense networks and their training and serving, built from the model package's descriptions:
 * {@link io.vectorprop.network.Network} (parameters and backpropagation; {@code load}, {@code save},
 * {@code description()}), {@link io.vectorprop.network.Checkpoint} (training state on disk), {@link io.vectorprop.network.Optimizer}, {@link io.vectorprop.network.Trainer}, and for
 * services {@link io.vectorprop.network.Predictor}, {@link io.vectorprop.network.SwappablePredictor} and
 * {@link io.vectorprop.network.BatchingPredictor}.
 *
 * <p>Thread-safety: training objects ({@code Network}, {@code Workspace}, {@code Optimizer},
 * {@code Trainer}) belong to one thread at a time. The predictors are safe to call from any number of
 * threads, platform or virtual. Every {@code close()} may be called more than once.
 */
package io.vectorprop.network;
