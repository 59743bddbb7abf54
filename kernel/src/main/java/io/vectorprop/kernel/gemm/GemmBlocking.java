package io.vectorprop.kernel.gemm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import io.vectorprop.kernel.internal.Lanes;
import io.vectorprop.kernel.internal.Settings;

/**
 * Every tunable of the packed GEMM, in one place, fixed when this class initialises: the micro-tile
 * from the CPU's register budget, the block sizes from the cache sizes the OS reports (Linux:
 * {@code /sys/devices/system/cpu/cpu0/cache}; where a virtual machine hides that directory, glibc's
 * {@code getconf}, which reads them from the CPU itself; else a fallback of 32 KiB L1d and 1 MiB L2).
 * Each can be overridden by a system property (docs/settings.md). getconf is worth a process at
 * start-up: with the fallback, a Zen 5 (48 KiB L1d) in such a VM would run panels of depth 336 instead
 * of 512, and every extra panel is another pass that reads and writes C.
 *
 * <pre>
 * MR × NR   micro-tile: MR rows of C, NR = VECTORS_PER_ROW · lanes columns
 * KC        depth of a packed panel: the A sliver, MR × KC floats, takes a quarter of L1d
 * NC        columns of a packed B panel, KC × NC floats: half of L2
 * MC        rows of a packed A block, MC × KC floats: a quarter of L2
 * </pre>
 *
 * Why these fractions: the macro-kernel holds one A sliver while every B sliver of the panel passes
 * it (ir outer, jr inner), so the A sliver must stay in L1 beside the B lines streaming through, and
 * the whole B panel must stay in L2, where the next A sliver finds it again. The B sliver is the one
 * that streams because it is the wide one (NR = 64 floats against MR = 6 with 512-bit vectors: a KC ×
 * NR sliver would not fit in L1 at a useful depth). A deeper KC means fewer passes that add a tile
 * onto C. The A block is read once per B panel, so its size matters less: a quarter of L2 leaves the
 * panel in place while the next block is packed, and bounds a team member's chunk of rows.
 */
final class GemmBlocking {
    private GemmBlocking() {}

    private static final Path CACHE_DIR = Path.of("/sys/devices/system/cpu/cpu0/cache");

    /** Rows of the micro-tile: broadcasts of A per k step. */
    static final int MR = 6;
    /**
     * Vectors per micro-tile row: 4 where the CPU has 32 vector registers (x86 with AVX-512 — also when
     * {@code vectorprop.vectorBits} picks narrower vectors there, as AVX-512VL keeps 32 registers — and
     * aarch64), 2 where it has 16 (AVX2). {@code vectorprop.gemm.vectorsPerRow} forces 2 or 4.
     */
    static final int VECTORS_PER_ROW = vectorsPerRow(Settings.GEMM_VECTORS_PER_ROW);
    /** Columns of the micro-tile. */
    static final int NR = VECTORS_PER_ROW * Lanes.L;

    /** The sizes /sys reports, 0 where it reports none (read once). */
    private static final long L1D_SYS = cacheBytes(1), L2_SYS = cacheBytes(2);
    private static final boolean FROM_SYS = L1D_SYS > 0 && L2_SYS > 0;
    /** {@code getconf}'s L1d and L2, asked only when /sys has no answer; zeros where it has none either. */
    private static final long[] GETCONF = FROM_SYS ? new long[2] : getconf();
    private static final boolean FROM_GETCONF = !FROM_SYS && GETCONF[0] > 0 && GETCONF[1] > 0;
    static final long L1D = FROM_SYS ? L1D_SYS : FROM_GETCONF ? GETCONF[0] : 32 << 10;
    static final long L2 = FROM_SYS ? L2_SYS : FROM_GETCONF ? GETCONF[1] : 1 << 20;
    /** Where the cache sizes came from, for the one-line report. */
    static final String CACHE_SOURCE = FROM_SYS ? "/sys" : FROM_GETCONF ? "getconf" : "fallback";

    static final int KC = asked("kc", Settings.GEMM_KC) > 0 ? Settings.GEMM_KC : kcFor(L1D);
    static final int NC = roundDown(asked("nc", Settings.GEMM_NC) > 0 ? Settings.GEMM_NC : ncFor(L2, KC, NR), NR);
    static final int MC = roundDown(asked("mc", Settings.GEMM_MC) > 0 ? Settings.GEMM_MC : mcFor(L2, KC), MR);

    /** Depth whose A sliver (MR × KC floats) takes a quarter of L1d, a multiple of 16, within [64, 1024]. */
    static int kcFor(long l1d) {
        return roundDown(clamp(l1d / 4 / ((long) MR * Float.BYTES), 64, 1024), 16);
    }

    /** Columns whose B panel (KC × NC floats) takes half of L2, within [NR, 8192]. */
    static int ncFor(long l2, int kc, int nr) {
        return clamp(l2 / 2 / ((long) kc * Float.BYTES), nr, 8192);
    }

    /** Rows whose A block (MC × KC floats) takes a quarter of L2, within [MR, 4096]. */
    static int mcFor(long l2, int kc) {
        return clamp(l2 / 4 / ((long) kc * Float.BYTES), MR, 4096);
    }

    /** A blocking property's value: 0 (derive it) or positive; anything else is refused by name. */
    private static int asked(String name, int value) {
        if (value < 0 || value > 1 << 16) {
            throw new IllegalArgumentException("system property vectorprop.gemm." + name + "=" + value
                    + ": expected 0 (from the cache sizes) or a size from 1 to 65536");
        }
        return value;
    }

    /**
     * The depth of each k panel of a product with this k: KC, or less so that the panels come out even
     * (k = 1024 with KC = 336: four panels of 256, not three of 336 and one of 16, whose pass would
     * read and write all of C for 16 steps of work), a multiple of 16 where it can be (whole 16×16
     * transposes when packing).
     */
    static int panelDepth(int k) {
        int panels = (k + KC - 1) / KC;
        int depth = (k + panels - 1) / panels;
        return Math.min(KC, (depth + 15) / 16 * 16);
    }

    /** The widest B panel {@link #panelWidth} gives: the bound of buffers sized by a panel's columns. */
    static final int MAX_PANEL_WIDTH = 4 * NC;

    /**
     * Columns of a B panel of this depth: NC at depth KC, wider for shallower panels so that a panel
     * takes the same bytes of L2 (up to {@link #MAX_PANEL_WIDTH}), a multiple of NR. A weight gradient
     * (k = batch) has shallow panels; with NC columns its A block, which is transposed while packed,
     * would be packed once per NC columns of C — four times for a 784-input layer — instead of twice.
     */
    static int panelWidth(int depth) {
        return (int) Math.max(NR, Math.min(MAX_PANEL_WIDTH, (long) KC * NC / Math.max(1, depth) / NR * NR));
    }

    /** The tile and block sizes, and the caches they came from, for the kernels' description. */
    static String describe() {
        return String.format(Locale.ROOT, "GEMM tile %dx%d, KC %d, MC %d, NC %d (L1d %d KiB, L2 %d KiB, %s), %s",
                MR, NR, KC, MC, NC, L1D >> 10, L2 >> 10, CACHE_SOURCE, PanelBuffers.describe());
    }

    private static int vectorsPerRow(int asked) {
        if (asked == 2 || asked == 4) return asked;
        if (asked != 0) {
            throw new IllegalArgumentException("system property vectorprop.gemm.vectorsPerRow=" + asked + ": expected 2 or 4");
        }
        String arch = System.getProperty("os.arch", "");
        boolean registers32 = arch.equals("aarch64") || arch.equals("arm64")
                || jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512;
        return registers32 ? 4 : 2;
    }

    private static int clamp(long v, int lo, int hi) {
        return (int) Math.max(lo, Math.min(hi, v));
    }

    private static int roundDown(int v, int unit) {
        return Math.max(unit, v / unit * unit);
    }

    /** The data (or unified) cache of this level, in bytes, from sysfs; 0 if not found. */
    private static long cacheBytes(int level) {
        for (int i = 0; i < 8; i++) {
            Path index = CACHE_DIR.resolve("index" + i);
            String lvl = read(index.resolve("level")), type = read(index.resolve("type")), size = read(index.resolve("size"));
            if (lvl == null) break;
            if (lvl.equals(Integer.toString(level)) && type != null && !type.equals("Instruction")) {
                long bytes = parseSize(size);
                if (bytes > 0) return bytes;
            }
        }
        return 0;
    }

    /**
     * L1d and L2 sizes in bytes from {@code getconf -a} (glibc asks the CPU through CPUID), zeros when
     * it is missing, fails or takes over two seconds.
     */
    private static long[] getconf() {
        try {
            Process p = new ProcessBuilder("getconf", "-a").redirectErrorStream(true).start();
            String text;
            try (var in = p.getInputStream()) {
                text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            }
            if (!p.waitFor(2, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new long[2];
            }
            return parseGetconf(text);
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return new long[2];
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new long[2];
        }
    }

    /** {@code LEVEL1_DCACHE_SIZE} and {@code LEVEL2_CACHE_SIZE} (bytes) from {@code getconf -a}'s output; 0 where absent. */
    static long[] parseGetconf(String text) {
        long[] sizes = new long[2];
        for (String line : text.split("\n")) {
            String[] kv = line.trim().split("\s+");
            if (kv.length != 2) continue;
            int at = switch (kv[0]) {
                case "LEVEL1_DCACHE_SIZE" -> 0;
                case "LEVEL2_CACHE_SIZE" -> 1;
                default -> -1;
            };
            if (at >= 0) sizes[at] = parseSize(kv[1]);
        }
        return sizes;
    }

    /** "48K" → 49152, "2048K", "32M"; 0 when unreadable. */
    static long parseSize(String s) {
        if (s == null || s.isEmpty()) return 0;
        long unit = switch (Character.toUpperCase(s.charAt(s.length() - 1))) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        String digits = unit == 1 ? s : s.substring(0, s.length() - 1);
        try {
            return Long.parseLong(digits.trim()) * unit;
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p).trim();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
