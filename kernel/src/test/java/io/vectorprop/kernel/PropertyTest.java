package io.vectorprop.kernel;

import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * Generated cases: shapes, transposes, α/β, strides and data drawn from a seeded {@link Random}, so CI
 * sees the same cases every run and a failure names the case number that reproduces it. Several
 * hundred cases per operation. (The GEMM's generated cases: gemm.GemmMatchesScalarTest.)
 */
class PropertyTest {
    @Test
    void elementwiseMatchesReference() {
        Random draw = new Random(20261129);
        SimdMatchesScalarTest.Op[] ops = SimdMatchesScalarTest.Op.values();
        for (int tries = 0; tries < 400; tries++) {
            SimdMatchesScalarTest.Op op = ops[draw.nextInt(ops.length)];
            SimdMatchesScalarTest.checkOp(op, 1 + draw.nextInt(5), 1 + draw.nextInt(300), draw.nextBoolean(), draw.nextLong());
        }
    }

    /** Several hundred cases for each operation individually, not just across all of them. */
    @Test
    void eachOperationGetsHundredsOfCases() {
        Random draw = new Random(20261130);
        for (SimdMatchesScalarTest.Op op : SimdMatchesScalarTest.Op.values()) {
            for (int tries = 0; tries < 300; tries++) {
                SimdMatchesScalarTest.checkOp(op, 1 + draw.nextInt(4), 1 + draw.nextInt(130), draw.nextBoolean(), draw.nextLong());
            }
        }
    }
}
