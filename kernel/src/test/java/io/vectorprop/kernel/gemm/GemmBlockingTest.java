package io.vectorprop.kernel.gemm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The blocking rules of the packed GEMM against the cache sizes of real CPUs (the values Linux reports
 * in /sys for them), and the even split of k into panels. The GEMM's results are checked against the
 * scalar reference in {@link SimdMatchesScalarTest}; these pin down the sizes it is fed.
 */
class GemmBlockingTest {
    @Test
    void parsesTheCacheSizesLinuxReports() {
        assertEquals(48 << 10, GemmBlocking.parseSize("48K"));
        assertEquals(2048L << 10, GemmBlocking.parseSize("2048K"));
        assertEquals(32L << 20, GemmBlocking.parseSize("32M"));
        assertEquals(1L << 30, GemmBlocking.parseSize("1G"));
        assertEquals(512, GemmBlocking.parseSize("512"));
        assertEquals(0, GemmBlocking.parseSize("garbage"));
        assertEquals(0, GemmBlocking.parseSize(""));
        assertEquals(0, GemmBlocking.parseSize(null));
    }

    @Test
    void readsL1dAndL2FromGetconf() {
        // Lines as glibc's getconf -a prints them on a Zen 5 (values empty where the CPU reports none).
        String zen5 = "LEVEL1_ICACHE_SIZE                 32768\nLEVEL1_DCACHE_SIZE                 49152\n"
                + "LEVEL1_DCACHE_ASSOC                12\nLEVEL2_CACHE_SIZE                  1048576\n"
                + "LEVEL3_CACHE_SIZE                  532676608\nLEVEL4_CACHE_SIZE                  \n";
        assertArrayEquals(new long[] {48 << 10, 1 << 20}, GemmBlocking.parseGetconf(zen5));
        assertArrayEquals(new long[] {0, 0}, GemmBlocking.parseGetconf("LEVEL1_DCACHE_SIZE\nLEVEL2_CACHE_SIZE 0\n"));
        assertArrayEquals(new long[] {0, 0}, GemmBlocking.parseGetconf("getconf: invalid option -- 'a'"));
    }

    @Test
    void blocksFitTheCachesOfKnownCpus() {
        // L1d, L2 per core, and the KC / NC / MC expected with 16-float vectors and the 6x4 tile (NR = 64):
        // AMD Zen 4 (32 KiB, 1 MiB), AMD Zen 5 (48 KiB, 1 MiB), Intel Sapphire Rapids (48 KiB, 2 MiB).
        long[][] cpus = {{32 << 10, 1 << 20, 336, 390, 195}, {48 << 10, 1 << 20, 512, 256, 128},
                {48 << 10, 2 << 20, 512, 512, 256}};
        for (long[] cpu : cpus) {
            int kc = GemmBlocking.kcFor(cpu[0]);
            assertEquals(cpu[2], kc, "KC for L1d " + cpu[0]);
            assertTrue((long) GemmBlocking.MR * kc * Float.BYTES <= cpu[0] / 4, "the A sliver takes at most a quarter of L1d");
            assertEquals(cpu[3], GemmBlocking.ncFor(cpu[1], kc, 64), "NC for L2 " + cpu[1]);
            assertEquals(cpu[4], GemmBlocking.mcFor(cpu[1], kc), "MC for L2 " + cpu[1]);
        }
        assertEquals(64, GemmBlocking.kcFor(1 << 10), "a tiny L1 still gets a useful depth");
        assertEquals(1024, GemmBlocking.kcFor(1 << 20), "and a huge one a bounded depth");
    }

    @Test
    void theBlockingInUseIsConsistent() {
        assertEquals(0, GemmBlocking.MC % GemmBlocking.MR, "MC is whole micro-tiles");
        assertEquals(0, GemmBlocking.NC % GemmBlocking.NR, "NC is whole slivers");
        assertTrue(GemmBlocking.describe().contains("KC " + GemmBlocking.KC), GemmBlocking.describe());
    }

    @Test
    void kPanelsAreEvenAndAsFewAsKcAllows() {
        for (int k = 1; k <= 5000; k++) {
            int depth = GemmBlocking.panelDepth(k);
            int panels = (k + depth - 1) / depth;
            assertTrue(depth >= 1 && depth <= GemmBlocking.KC, "k " + k + ": depth " + depth);
            assertEquals((k + GemmBlocking.KC - 1) / GemmBlocking.KC, panels, "k " + k + ": as many panels as KC needs");
            int last = k - (panels - 1) * depth;
            assertTrue(last >= 1 && depth - last < Math.max(16, panels * 16), "k " + k + ": last panel " + last + " of " + depth);
        }
        if (GemmBlocking.KC == 336) assertEquals(256, GemmBlocking.panelDepth(1024));
    }
}
