package io.vectorprop.kernel;

import static io.vectorprop.kernel.TestData.ODD_SIZES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** bfloat16 weights: rounding against hand-worked values, the scalar kernel against double sums, SIMD against scalar. */
class Bf16Test {
    @Test
    void roundingIsToNearestEvenOnTheUpperSixteenBits() {
        assertEquals(0x3F80, Bf16Weights.toBf16(1f));
        assertEquals(0x3F80, Bf16Weights.toBf16(1f + 0x1p-8f), "a tie rounds to the even mantissa (down)");
        assertEquals(0x3F82, Bf16Weights.toBf16(1f + 3 * 0x1p-8f), "a tie rounds to the even mantissa (up)");
        assertEquals(0x3F81, Bf16Weights.toBf16(1f + 0x1p-8f + 0x1p-20f), "above the tie rounds up");
        assertEquals(0xBF80, Bf16Weights.toBf16(-1f));
        assertEquals(0x8000, Bf16Weights.toBf16(-0f));
        assertEquals(0x7F80, Bf16Weights.toBf16(Float.POSITIVE_INFINITY));
        assertEquals(0x7F80, Bf16Weights.toBf16(Float.MAX_VALUE), "the largest float rounds to infinity");
        assertTrue(Float.isNaN(Bf16Weights.roundToBf16(Float.NaN)));
        assertTrue(Float.isNaN(Bf16Weights.roundToBf16(Float.intBitsToFloat(0x7F800001))), "a NaN with low payload stays NaN");
        assertEquals(3.140625f, Bf16Weights.roundToBf16((float) Math.PI));
    }

    @Test
    void storedWeightsAreTheRoundedWeights() {
        try (Arena arena = Arena.ofConfined()) {
            for (int out : new int[] {1, 15, 16, 17, 31, 32, 33, 64, 100, 128, 129, 160, 200, 300}) {   // one sliver, several, a narrow last one
                Matrix w = TestData.random(arena, new Random(out), out, 7, true);
                Bf16Weights b = Bf16Weights.of(arena, w);
                for (int j = 0; j < out; j++) {
                    for (int k = 0; k < 7; k++) assertEquals(Bf16Weights.roundToBf16(w.get(j, k)), b.get(j, k), "W[" + j + "," + k + "]");
                }
                assertEquals((out + 31) / 32 * 32 * 7 * 2L, b.byteSize());
            }
        }
    }

    /** Scalar kernel against a double-precision sum over the rounded weights; SIMD against scalar, bit for bit. */
    @Test
    void simdMatchesScalarBitForBitAndScalarMatchesADoubleSum() {
        int cases = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < ODD_SIZES.length; i++) {
                int out = ODD_SIZES[i], in = ODD_SIZES[(i + 7) % ODD_SIZES.length];
                for (int extra : new int[] {0, 256}) {
                    out += extra;
                    Random rnd = new Random(out * 31L + in);
                    Matrix w = TestData.random(arena, rnd, out, in, false), x = TestData.random(arena, rnd, 1, in, true);
                    Bf16Weights b = Bf16Weights.of(arena, w);
                    Matrix scalar = Matrix.allocate(arena, 1, out), simd = Matrix.allocate(arena, 3, out + 5).view(1, 2, 1, out);
                    simd.fill(Float.NaN);
                    Kernels.scalar().vecMatBf16(x, b, scalar);
                    Kernels.get().vecMatBf16(x, b, simd);
                    assertArrayEquals(scalar.toArray(), simd.toArray(), "simd vs scalar " + out + "x" + in);
                    for (int j = 0; j < out; j++) {
                        double sum = 0;
                        for (int k = 0; k < in; k++) sum += (double) x.get(0, k) * Bf16Weights.roundToBf16(w.get(j, k));
                        assertEquals(sum, scalar.get(0, j), 1e-6 * in, "scalar output " + j + " of " + out + "x" + in);
                    }
                    cases++;
                }
            }
        }
        assertEquals(2 * ODD_SIZES.length, cases);
    }

    @Test
    void shapesAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Bf16Weights b = Bf16Weights.of(arena, Matrix.allocate(arena, 40, 9));
            for (Kernels k : new Kernels[] {Kernels.get(), Kernels.scalar()}) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> k.vecMatBf16(Matrix.allocate(arena, 1, 8), b, Matrix.allocate(arena, 1, 40)));
                assertTrue(e.getMessage().contains("1x8") && e.getMessage().contains("40x9"), e.getMessage());
                assertThrows(IllegalArgumentException.class,
                        () -> k.vecMatBf16(Matrix.allocate(arena, 1, 9), b, Matrix.allocate(arena, 2, 40)));
            }
        }
    }
}
