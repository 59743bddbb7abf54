package io.vectorprop.kernel.gemm;

import io.vectorprop.kernel.internal.HotSpotFlags;
import io.vectorprop.kernel.internal.Settings;

/**
 * Heap buffers for packed B panels whose vectors start on 64-byte cache lines, where the JVM lets us
 * know where that is.
 *
 * <p>Why: per k step the micro-kernel loads NR floats of a B sliver as NR/L vector loads, and the packed
 * copies are heap {@code float[]}s (see {@link GemmMicroKernel}). The JVM places an array's data only 8
 * bytes aligned, so a 64-byte load from a panel usually spans two cache lines, which slows the GEMM
 * measurably on an Intel Xeon with AVX-512 (docs/performance.md, "On an Intel Xeon"). Java exposes no array
 * address, but G1 puts an object larger than half a heap region (a humongous object) at the start of a
 * region and keeps it region-aligned, so its data starts at the array base offset, 16 bytes with HotSpot's
 * default headers (compressed class pointers, no compact headers). Under exactly those flags a panel
 * buffer is allocated just over half a region long (if half a region is at most {@link #MAX_GROWTH} times
 * the GEMM's KC × NC panel) and panels start at float {@link #START} = 12 (16 + 48 = 64 bytes). Elsewhere
 * — another collector, other headers, a JVM that does not report these flags, a region too large, or
 * {@code vectorprop.gemm.alignPanels=false} — buffers are as long as needed and START is 0. A panel's
 * floats are the same either way, only shifted, so results are the same bits.
 */
final class PanelBuffers {
    private PanelBuffers() {}

    /** A humongous buffer may be at most this many times the floats it needs (bounds the memory spent). */
    static final int MAX_GROWTH = 4;
    /** HotSpot's float[] base offset with compressed class pointers and without compact object headers. */
    private static final int BASE_OFFSET_BYTES = 16, LINE_BYTES = 64;

    /** G1's region size in bytes where the flags above hold and alignment is asked for; else 0. */
    private static final long REGION = regionIfAligning();
    /** The smallest humongous float[] under that region size: data strictly longer than half a region. */
    private static final long HUMONGOUS_FLOATS = REGION / 2 / Float.BYTES + 1;
    /** The largest panel (floats) this class is asked for: the GEMM's KC × NC buffers. */
    private static final long PANEL_FLOATS = (long) GemmBlocking.KC * GemmBlocking.NC;

    /** The first float on a 64-byte line in a region-aligned float[]: 12. */
    private static final int LINE_START = (LINE_BYTES - BASE_OFFSET_BYTES) / Float.BYTES;

    /** Index of a panel's first float in a buffer from {@link #allocate}: 12 when aligning, else 0. */
    static final int START = alignedStart(PANEL_FLOATS);

    /** A buffer for panels of up to {@code floats} floats, used from index {@link #START}. */
    static float[] allocate(int floats) {
        return allocate(floats, START);
    }

    /**
     * Where weights packed once start in a buffer from {@link #allocateWeights}{@code (floats)}, and panels
     * of at most {@code floats} floats in general: 12 when aligning and half a region is at most
     * {@link #MAX_GROWTH} times {@code floats}, else 0. The packed layers of a predictor go into one such
     * buffer, so a network of 1 MB of weights costs one 2 MiB buffer (with 4 MiB regions) rather than 2 MiB
     * per layer, and layers too small to pay for it stay unaligned.
     */
    static int alignedStart(long floats) {
        return REGION > 0 && REGION / 2 <= MAX_GROWTH * floats * Float.BYTES ? LINE_START : 0;
    }

    /** A buffer for {@code floats} floats of packed weights, used from {@link #alignedStart}{@code (floats)}. */
    static float[] allocateWeights(long floats) {
        return allocate(floats, alignedStart(floats));
    }

    /** {@code floats} floats from {@code start}: as long as needed when start is 0, else humongous. */
    private static float[] allocate(long floats, int start) {
        long length = start == 0 ? floats : Math.max(floats + start, HUMONGOUS_FLOATS);
        return new float[Math.toIntExact(length)];
    }

    /** Whether panels are being aligned, for the one-line report. */
    static String describe() {
        return START == 0 ? "panels as allocated" : "panels 64-byte aligned (G1 region " + (REGION >> 20) + " MiB)";
    }

    private static long regionIfAligning() {
        String region = HotSpotFlags.value("G1HeapRegionSize"), compactHeaders = HotSpotFlags.value("UseCompactObjectHeaders");
        boolean known = Settings.GEMM_ALIGN_PANELS && region != null && compactHeaders != null;   // else: not HotSpot, or another version
        return known && HotSpotFlags.isOn("UseG1GC") && HotSpotFlags.isOn("UseCompressedClassPointers")
                && !Boolean.parseBoolean(compactHeaders) ? Long.parseLong(region) : 0;
    }
}
