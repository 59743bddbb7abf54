package io.vectorprop.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Shape errors, aliasing, use after close, NaN propagation, and the provider's fallback. */
class ErrorsAndNaNTest {

    static Kernels impl(String name) {
        return name.equals("scalar") ? Kernels.scalar() : Kernels.get();
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "simd"})
    void shapeErrorsNameTheOperationAndShapes(String name) {
        Kernels k = impl(name);
        try (Arena arena = Arena.ofConfined()) {
            Matrix a = Matrix.allocate(arena, 2, 3), b = Matrix.allocate(arena, 4, 5), c = Matrix.allocate(arena, 2, 5);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> k.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, c));
            assertTrue(e.getMessage().contains("gemm") && e.getMessage().contains("2x3") && e.getMessage().contains("4x5"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.hadamard(a, c, a));
            assertTrue(e.getMessage().contains("hadamard") && e.getMessage().contains("2x5"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.addBias(a, Matrix.allocate(arena, 1, 4)));
            assertTrue(e.getMessage().contains("addBias") && e.getMessage().contains("1x4"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.columnSums(1f, a, 0f, Matrix.allocate(arena, 1, 2)));
            assertTrue(e.getMessage().contains("columnSums"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.argmax(a, new int[3]));
            assertTrue(e.getMessage().contains("argmax"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> k.outputDelta(Loss.SOFTMAX_CROSS_ENTROPY, Activation.SIGMOID, a, a, a, Matrix.allocate(arena, 2, 3)));
            assertTrue(e.getMessage().contains("SOFTMAX"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.activationBackward(Activation.SOFTMAX, a, a, a));
            assertTrue(e.getMessage().contains("softmax"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.scale(Float.NaN, a));
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "simd"})
    void unsafeAliasingIsRejected(String name) {
        Kernels k = impl(name);
        try (Arena arena = Arena.ofConfined()) {
            Matrix big = Matrix.allocate(arena, 4, 4);
            Matrix a = big.view(0, 0, 2, 2), shifted = big.view(0, 1, 2, 2), b = Matrix.allocate(arena, 2, 2);
            var e = assertThrows(IllegalArgumentException.class, () -> k.gemm(Transpose.N, Transpose.N, 1f, a, b, 0f, a));
            assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> k.hadamard(a, b, shifted));
            assertTrue(e.getMessage().contains("partly overlaps"), e.getMessage());
            k.hadamard(a, b, a);                              // the very same view is fine for element-wise ops
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "simd"})
    void useAfterCloseIsAClearError(String name) {
        Kernels k = impl(name);
        Arena arena = Arena.ofConfined();
        Matrix a = Matrix.allocate(arena, 3, 3);
        arena.close();
        var e = assertThrows(IllegalStateException.class, () -> k.scale(2f, a));
        assertTrue(e.getMessage().contains("Arena is closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> k.gemm(Transpose.N, Transpose.N, 1f, a, a, 0f, a));
        assertThrows(IllegalStateException.class, () -> a.get(0, 0));
    }

    @Test
    void matrixViewsAndBounds() {
        try (Arena arena = Arena.ofConfined()) {
            Matrix m = Matrix.of(arena, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
            assertEquals(6f, m.view(1, 1, 2, 2).get(0, 1));
            assertEquals(8f, m.rows(2, 3).get(0, 0));
            assertEquals(0L, m.segment().address() % Matrix.ALIGNMENT);
            assertThrows(IndexOutOfBoundsException.class, () -> m.get(3, 0));
            var e = assertThrows(IllegalArgumentException.class, () -> m.view(2, 2, 2, 2));
            assertTrue(e.getMessage().contains("3x4"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Matrix.wrap(m.segment(), 10, 1, 4, 4));
            assertThrows(IllegalArgumentException.class, () -> m.copyFrom(new float[5]));
            // A strided view copied from and to the middle of an array: its rows, in order, no more.
            Matrix block = m.view(1, 1, 2, 2);
            float[] out = {-1, -1, -1, -1, -1, -1};
            block.copyTo(out, 1);
            assertArrayEquals(new float[] {-1, 5, 6, 9, 10, -1}, out);
            block.copyFrom(new float[] {0, 0, 50, 60, 90, 100}, 2);
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 50, 60, 7, 8, 90, 100, 11}, m.toArray());
            e = assertThrows(IllegalArgumentException.class, () -> block.copyFrom(new float[6], 3));
            assertEquals("Matrix.copyFrom: 4 values from index 3 of an array of 6 for a 2x2 (stride 4) matrix", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> block.copyTo(new float[6], -1));
            assertEquals("Matrix.copyTo: 4 elements of a 2x2 (stride 4) matrix to index -1 of an array of 6", e.getMessage());
        }
    }

    /** A NaN in any input element must reach the output, in both implementations, on vector bodies and tails. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "simd"})
    void nanPropagates(String name) {
        Kernels k = impl(name);
        try (Arena arena = Arena.ofConfined()) {
            int n = 37;                                       // vector body and scalar tail
            for (int pos : new int[] {0, 5, 20, 36}) {
                Matrix z = Matrix.allocate(arena, 1, n), g = Matrix.allocate(arena, 1, n), out = Matrix.allocate(arena, 1, n);
                z.fill(0.5f);
                g.fill(1f);
                z.set(0, pos, Float.NaN);
                for (Activation f : SimdMatchesScalarTest.ELEMENTWISE) {
                    k.activate(f, z, out);
                    assertTrue(Float.isNaN(out.get(0, pos)), name + " activate " + f + " lost NaN at " + pos);
                    k.activationBackward(f, z, g, out);
                    if (f != Activation.IDENTITY) {          // identity's derivative is 1 whatever z is
                        assertTrue(Float.isNaN(out.get(0, pos)), name + " backward " + f + " lost NaN in z at " + pos);
                    }
                    k.activationBackward(f, g, z, out);
                    assertTrue(Float.isNaN(out.get(0, pos)), name + " backward " + f + " lost NaN in g at " + pos);
                }
                k.softmax(z, out);
                assertTrue(Float.isNaN(out.get(0, (pos + 1) % n)), name + " softmax: NaN must spoil the row");
                k.hadamard(z, g, out);
                assertTrue(Float.isNaN(out.get(0, pos)));
                int[] idx = new int[1];
                k.argmax(z, idx);
                assertEquals(pos, idx[0], name + " argmax must point at the NaN");
                for (Loss loss : Loss.values()) {
                    assertTrue(Double.isNaN(k.loss(loss, z, g)), name + " " + loss + " lost NaN");
                }
                Matrix sums = Matrix.allocate(arena, 1, n);
                k.columnSums(1f, z, 0f, sums);
                assertTrue(Float.isNaN(sums.get(0, pos)));
                Matrix w = Matrix.allocate(arena, n, 3);
                w.fill(1f);
                Matrix c = Matrix.allocate(arena, 1, 3);
                k.gemm(Transpose.N, Transpose.N, 1f, z, w, 0f, c);
                assertTrue(Float.isNaN(c.get(0, 2)), name + " gemm lost NaN");
            }
        }
    }

    /** Without the incubator module the library still loads, warns once, and runs scalar. */
    @Test
    void fallsBackToScalarWithoutTheVectorModule() throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", classPath(),
                "io.vectorprop.kernel.ProviderProbe"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        assertTrue(out.contains("--add-modules jdk.incubator.vector"), out);
        assertTrue(out.contains("impl=scalar"), out);
        assertTrue(out.contains("result=12.0"), out);
        assertTrue(out.contains("full=false"), "scalar kernels are not full speed: " + out);
    }

    /** The status a service checks: SIMD with C2 is full speed; the same kernels with C1 only are not. */
    @Test
    void statusTellsSimdAndAMissingOptimizingJitApart() throws IOException, InterruptedException {
        String withC2 = probe("--add-modules", "jdk.incubator.vector");
        assertTrue(withC2.contains("impl=simd") && withC2.contains("full=true") && withC2.contains("bits="
                + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize()), withC2);
        String c1Only = probe("--add-modules", "jdk.incubator.vector", "-XX:TieredStopAtLevel=1");
        assertTrue(c1Only.contains("impl=simd") && c1Only.contains("optimizing=false") && c1Only.contains("C1 only"), c1Only);
        String interpreted = probe("-Xint", "-Dvectorprop.kernels=scalar");
        assertTrue(interpreted.contains("optimizing=false") && interpreted.contains("-Xint"), interpreted);
    }

    private static String probe(String... flags) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java));
        cmd.addAll(List.of(flags));
        cmd.addAll(List.of("-cp", classPath(), "io.vectorprop.kernel.ProviderProbe"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    /** The test JVM's class path plus its module path (surefire puts the module under test there), for a child on the class path. */
    private static String classPath() {
        String modules = System.getProperty("jdk.module.path", "");
        return modules.isEmpty() ? System.getProperty("java.class.path")
                : modules + java.io.File.pathSeparator + System.getProperty("java.class.path");
    }
}
