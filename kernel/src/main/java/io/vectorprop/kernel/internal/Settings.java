package io.vectorprop.kernel.internal;

import java.util.Locale;

/**
 * Every system property the library reads, in one place, read once when this class initialises
 * (docs/settings.md lists them). The GEMM ones are tuning knobs for measurements; the
 * defaults are what the benchmarks report.
 *
 * <p>Read once at class initialisation, then immutable.
 */
public final class Settings {
    private Settings() {}

    /** {@code vectorprop.kernels}: {@code scalar} or {@code simd} forces an implementation; empty picks. */
    public static final String KERNELS = System.getProperty("vectorprop.kernels", "").trim().toLowerCase(Locale.ROOT);
    /**
     * {@code vectorprop.vectorBits}: 128, 256 or 512 picks the species of every SIMD kernel (at most the
     * CPU's widest); 0, the default, the preferred species. Lets one machine run the code paths of AVX2
     * (256) and NEON (128) machines.
     */
    public static final int VECTOR_BITS = Integer.getInteger("vectorprop.vectorBits", 0);
    /** {@code vectorprop.quiet}: true drops the INFO line naming the kernels at start-up (the WARNING stays). */
    public static final boolean QUIET = Boolean.getBoolean("vectorprop.quiet");
    /** {@code vectorprop.threads}: threads of the GEMM pool (products and the activation passes after them), the caller included (default: available processors). */
    public static final int THREADS = Math.max(1, Integer.getInteger("vectorprop.threads", Runtime.getRuntime().availableProcessors()));
    /** {@code vectorprop.gemm.minWorkPerThread}: multiply-adds a thread must get before a product is split (512 Ki). */
    public static final long GEMM_MIN_WORK_PER_THREAD = Long.getLong("vectorprop.gemm.minWorkPerThread", 1L << 19);
    /**
     * {@code vectorprop.gemm.kc}, {@code .mc}, {@code .nc}: the packed GEMM's blocking (depth, rows of A,
     * columns of B); 0, the default, derives each from the cache sizes ({@code io.vectorprop.kernel.gemm.GemmBlocking}).
     */
    public static final int GEMM_KC = Integer.getInteger("vectorprop.gemm.kc", 0),
            GEMM_MC = Integer.getInteger("vectorprop.gemm.mc", 0),
            GEMM_NC = Integer.getInteger("vectorprop.gemm.nc", 0);
    /** {@code vectorprop.gemm.vectorsPerRow}: 2 or 4 vectors per micro-tile row; 0, the default, from the register count. */
    public static final int GEMM_VECTORS_PER_ROW = Integer.getInteger("vectorprop.gemm.vectorsPerRow", 0);
    /** {@code vectorprop.gemm.dotMaxM}, {@code .dotDeepMaxM}: most rows of A·Bᵀ for the dot-product path (k < 512, k ≥ 512). */
    public static final int GEMM_DOT_MAX_M = Integer.getInteger("vectorprop.gemm.dotMaxM", 16),
            GEMM_DOT_DEEP_MAX_M = Integer.getInteger("vectorprop.gemm.dotDeepMaxM", 32);
    /**
     * {@code vectorprop.gemm.alignPanels}: false keeps the packed B panels where the JVM puts them instead of
     * on 64-byte lines ({@code io.vectorprop.kernel.gemm.PanelBuffers}); true, the default, aligns them where
     * the JVM's flags say how.
     */
    public static final boolean GEMM_ALIGN_PANELS = Boolean.parseBoolean(System.getProperty("vectorprop.gemm.alignPanels", "true"));
    /**
     * {@code vectorprop.gemm.rowsMaxM}, {@code .rowsMaxK}, {@code .rowsMaxKOverwrite}: the row path's limits (few
     * rows of C; or a small k, when C is updated (β ≠ 0), and when it is only written (β = 0)).
     */
    public static final int GEMM_ROWS_MAX_M = Integer.getInteger("vectorprop.gemm.rowsMaxM", 16),
            GEMM_ROWS_MAX_K = Integer.getInteger("vectorprop.gemm.rowsMaxK", 16),
            GEMM_ROWS_MAX_K_OVERWRITE = Integer.getInteger("vectorprop.gemm.rowsMaxKOverwrite", 2);
}
