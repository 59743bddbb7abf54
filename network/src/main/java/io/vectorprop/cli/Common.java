package io.vectorprop.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.vectorprop.data.CsvReader;
import io.vectorprop.data.Dataset;
import io.vectorprop.data.IdxReader;
import io.vectorprop.kernel.Kernels;
import picocli.CommandLine.Option;

/** Options every command shares. */
class Common {
    @Option(names = "--json", description = "Make the last line of standard output one JSON object with the results.")
    boolean json;

    @Option(names = "--verbose", description = "Print stack traces with errors.")
    boolean verbose;

    @Option(names = "--threads", description = "Threads for large matrix products (default: ${DEFAULT-VALUE}).",
            defaultValue = "1")
    int threads;

    Kernels kernels() {
        if (threads < 1 || threads > 1024) {
            throw new IllegalArgumentException("--threads " + threads + " must be between 1 and 1024");
        }
        return Kernels.get().withThreads(threads);
    }

    /** Loads (train, test) from --data DIR (IDX) or from CSV files; prefix "train" / "t10k". */
    static Dataset load(Path dataDir, Path csv, String prefix) throws IOException {
        return load(dataDir, csv, prefix, CsvReader.Options.DEFAULT);
    }

    /**
     * The CSV file, else the IDX files in {@code dataDir}, else the full Fashion-MNIST when Debian's package
     * is installed, else the small subset inside the jar, saying so in one line on standard error (once per
     * run), so that the main job works on a fresh machine.
     */
    static Dataset load(Path dataDir, Path csv, String prefix, CsvReader.Options options) throws IOException {
        if (csv != null) return CsvReader.read(csv, options);
        if (dataDir != null || Files.isDirectory(IdxReader.DEFAULT_DIR)) {
            return IdxReader.load(dataDir == null ? IdxReader.DEFAULT_DIR : dataDir, prefix);
        }
        if (!saidSubset) {
            saidSubset = true;
            System.err.println("data: " + IdxReader.DEFAULT_DIR + " not found, using " + IdxReader.SUBSET_DESCRIPTION
                    + "; for the full 70,000 images: apt-get install dataset-fashion-mnist, or --data DIR");
        }
        return IdxReader.loadEmbeddedSubset(prefix);
    }

    private static boolean saidSubset;

    static float positive(String option, float v) {
        if (!Float.isFinite(v) || v <= 0) throw new IllegalArgumentException(option + " " + v + " must be a positive number");
        return v;
    }
}
