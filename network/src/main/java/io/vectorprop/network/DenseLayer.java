package io.vectorprop.network;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Matrix;
import io.vectorprop.kernel.Transpose;
import io.vectorprop.model.LayerNorm;

/**
 * One dense layer, {@code out × in}, with its forward and backward passes side by side.
 * Weights {@code W} are stored out × in (PyTorch's nn.Linear, Nielsen's wˡⱼₖ), the bias {@code b}
 * as a 1 × out row. All matrices here are views into the network's parameter and gradient blocks.
 * A hidden layer may have a {@link LayerNorm layer normalization} with its scale γ and shift β
 * (1 × out each; null without one).
 */
final class DenseLayer {
    final Matrix weight, bias, weightGrad, biasGrad;
    final Activation activation;
    final LayerNorm norm;
    final Matrix normScale, normShift, normScaleGrad, normShiftGrad;

    DenseLayer(Matrix weight, Matrix bias, Matrix weightGrad, Matrix biasGrad, Activation activation, LayerNorm norm,
               Matrix normScale, Matrix normShift, Matrix normScaleGrad, Matrix normShiftGrad) {
        this.weight = weight;
        this.bias = bias;
        this.weightGrad = weightGrad;
        this.biasGrad = biasGrad;
        this.activation = activation;
        this.norm = norm;
        this.normScale = normScale;
        this.normShift = normShift;
        this.normScaleGrad = normScaleGrad;
        this.normShiftGrad = normShiftGrad;
    }

    int in() { return weight.cols(); }

    int out() { return weight.rows(); }

    /**
     * Forward: {@code Z = A_prev·Wᵀ + 1·bᵀ}, {@code A = f(Z)}.
     *
     * @param aPrev B × in, the previous layer's activations (or the inputs)
     * @param z     B × out, receives the weighted inputs
     * @param a     B × out, receives the activations; may be the same view as {@code z} (inference)
     */
    void forward(Kernels k, Matrix aPrev, Matrix z, Matrix a) {
        linear(k, aPrev, z);
        k.activate(activation, z, a);
    }

    /** {@code Z = A_prev·Wᵀ + 1·bᵀ} (the bias in the GEMM's accumulators where the kernels can). */
    void linear(Kernels k, Matrix aPrev, Matrix z) {
        k.linear(aPrev, weight, bias, z);
    }

    /**
     * Backward, given this layer's error {@code delta} (B × out, per sample):
     * BP3 {@code ∇b = Σ_rows Δ / B}, BP4 {@code ∇W = Δᵀ·A_prev / B}, and, when {@code gradPrev} is not
     * null, the first half of BP2 for the layer below: {@code ∂C/∂A_prev = Δ·W} (the caller multiplies
     * by the layer below's derivative, through its layer norm if it has one).
     */
    void backward(Kernels k, Matrix aPrev, Matrix delta, Matrix gradPrev) {
        float invBatch = 1f / delta.rows();
        k.columnSums(invBatch, delta, 0f, biasGrad);                                // BP3
        k.gemm(Transpose.T, Transpose.N, invBatch, delta, aPrev, 0f, weightGrad);   // BP4
        errorBelow(k, delta, gradPrev);                                             // BP2, Δ·W
    }

    /** {@code ∂C/∂A_prev = Δ·W} for the layer below, when there is one. */
    private void errorBelow(Kernels k, Matrix delta, Matrix gradPrev) {
        if (gradPrev != null) k.gemm(Transpose.N, Transpose.N, 1f, delta, weight, 0f, gradPrev);
    }

    /**
     * Backward fused with plain SGD, {@code θ ← θ − η·(∇θ + λ·θ)}, for when the gradients themselves are
     * not wanted: BP2 runs first, as it needs the old {@code W}; then BP4 and BP3 write the step straight
     * into the parameters, {@code W ← (1 − ηλ)·W − (η/B)·Δᵀ·A_prev} (one GEMM with β = 1 − ηλ) and
     * {@code b ← b − (η/B)·Σ_rows Δ} (no decay on biases). This saves writing the gradient block and a
     * separate pass that reads it back with the parameters.
     */
    void backwardSgd(Kernels k, Matrix aPrev, Matrix delta, Matrix gradPrev, float learningRate, float weightDecay) {
        errorBelow(k, delta, gradPrev);                                             // BP2, with the old W
        float step = -learningRate / delta.rows();
        k.gemm(Transpose.T, Transpose.N, step, delta, aPrev, 1f - learningRate * weightDecay, weight);   // BP4 + update
        k.columnSums(step, delta, 1f, bias);                                                          // BP3 + update
    }
}
