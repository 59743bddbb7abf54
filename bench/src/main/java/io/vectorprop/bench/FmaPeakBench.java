package io.vectorprop.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Java FMA peak of one core: 16 independent chains of {@code FloatVector.fma} in the preferred
 * species, enough to cover FMA latency × ports on current x86 and ARM cores. Score: FMA instructions
 * per microsecond; GFLOP/s = score × 2 × lanes / 1000 (printed by {@link #gflops}). Figures elsewhere
 * are quoted as a fraction of this, measured in the same session, because the CPU under the
 * benchmarks changes (half-rate 512-bit FMA on Zen 4, full rate on Zen 5 and Intel server cores).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Dvectorprop.quiet=true"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class FmaPeakBench {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int STEPS = 4096, CHAINS = 16;
    float a = 1.0000001f, b = 0.9999999f;

    /** GFLOP/s for a score of {@code fmasPerMicrosecond}. */
    public static double gflops(double fmasPerMicrosecond) {
        return fmasPerMicrosecond * 2 * S.length() / 1000;
    }

    @Benchmark
    @OperationsPerInvocation(STEPS * CHAINS)
    public float fmaChains() {
        FloatVector va = FloatVector.broadcast(S, a), vb = FloatVector.broadcast(S, b);
        FloatVector c0 = FloatVector.broadcast(S, 0.1f), c1 = c0.add(1), c2 = c0.add(2), c3 = c0.add(3), c4 = c0.add(4),
                c5 = c0.add(5), c6 = c0.add(6), c7 = c0.add(7), c8 = c0.add(8), c9 = c0.add(9), c10 = c0.add(10),
                c11 = c0.add(11), c12 = c0.add(12), c13 = c0.add(13), c14 = c0.add(14), c15 = c0.add(15);
        for (int i = 0; i < STEPS; i++) {
            c0 = c0.fma(va, vb); c1 = c1.fma(va, vb); c2 = c2.fma(va, vb); c3 = c3.fma(va, vb);
            c4 = c4.fma(va, vb); c5 = c5.fma(va, vb); c6 = c6.fma(va, vb); c7 = c7.fma(va, vb);
            c8 = c8.fma(va, vb); c9 = c9.fma(va, vb); c10 = c10.fma(va, vb); c11 = c11.fma(va, vb);
            c12 = c12.fma(va, vb); c13 = c13.fma(va, vb); c14 = c14.fma(va, vb); c15 = c15.fma(va, vb);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .add(c12).add(c13).add(c14).add(c15).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }
}
