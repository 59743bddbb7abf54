package io.vectorprop.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

import io.vectorprop.kernel.Matrix;

/**
 * Reads the IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed): a big-endian magic
 * {@code 0x00000803} (unsigned bytes, 3 dimensions) for images and {@code 0x00000801} for labels,
 * the dimensions, then the bytes. The header is checked against the file's real length before
 * anything is allocated, so a forged header gives an error, not an OutOfMemoryError. Pixels are
 * scaled to [0, 1].
 *
 * <p>Stateless: safe to call from any number of threads at once.
 */
public final class IdxReader {
    /** The Debian package {@code dataset-fashion-mnist} puts the files here. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    /** Where the embedded subset lies inside the jar (written by {@code network/src/build/make_fashion_mnist_subset.py}). */
    private static final String SUBSET = "fashion-mnist-subset/";

    /** What the embedded subset is, for the one line that says which data a command used. */
    public static final String SUBSET_DESCRIPTION = "the Fashion-MNIST subset inside vectorprop.jar (3,000 training and 1,000 test"
            + " images, 300 and 100 per class, a fixed seeded draw; Fashion-MNIST is (c) Zalando SE, MIT licence)";

    private IdxReader() {}

    /** One IDX file: its name for messages, how to open it, its length when known (−1 for gzip). */
    private record Part(String name, Opener opener, long length) {
        interface Opener { InputStream open() throws IOException; }

        static Part of(Path file) throws IOException {
            boolean gz = file.getFileName().toString().endsWith(".gz");
            return new Part(file.toString(), () -> Files.newInputStream(file), gz ? -1 : Files.size(file));
        }

        static Part resource(String name) throws NoSuchFileException {
            if (IdxReader.class.getResource(SUBSET + name) == null) {
                throw new NoSuchFileException(SUBSET + name + " (missing from the jar's io/vectorprop/data)");
            }
            return new Part("embedded " + SUBSET + name, () -> IdxReader.class.getResourceAsStream(SUBSET + name), -1);
        }

        @Override
        public String toString() { return name; }

        /** The content, decompressed when the name ends in .gz. */
        InputStream content() throws IOException {
            InputStream in = new BufferedInputStream(opener.open(), 1 << 16);
            return name.endsWith(".gz") ? new GZIPInputStream(in, 1 << 16) : in;
        }
    }

    /** Loads {@code train} or {@code t10k} images and labels from a directory. */
    public static Dataset load(Path dir, String prefix) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir + " (no such directory; install Debian's dataset-fashion-mnist package"
                    + " with 'apt-get install dataset-fashion-mnist' or pass --data DIR with the IDX files)");
        }
        Path images = find(dir, prefix + "-images-idx3-ubyte");
        Path labels = find(dir, prefix + "-labels-idx1-ubyte");
        return readImages(Part.of(images), readLabels(Part.of(labels)));
    }

    /**
     * Loads {@code train} or {@code t10k} of the small Fashion-MNIST subset embedded in this jar
     * ({@link #SUBSET_DESCRIPTION}): what the command line trains on when no data is named and
     * {@link #DEFAULT_DIR} does not exist, so that it works on a fresh machine.
     */
    public static Dataset loadEmbeddedSubset(String prefix) throws IOException {
        if (!prefix.equals("train") && !prefix.equals("t10k")) {
            throw new IllegalArgumentException("loadEmbeddedSubset: prefix '" + prefix + "' must be train or t10k");
        }
        return readImages(Part.resource(prefix + "-images-idx3-ubyte.gz"), readLabels(Part.resource(prefix + "-labels-idx1-ubyte.gz")));
    }

    private static Path find(Path dir, String base) throws NoSuchFileException {
        for (String name : new String[] {base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        throw new NoSuchFileException(dir.resolve(base) + "[.gz] (missing; install Debian's dataset-fashion-mnist"
                + " package or pass --data DIR with the IDX files)");
    }

    private static int[] readLabels(Part file) throws IOException {
        try (DataInputStream in = new DataInputStream(file.content())) {
            int magic = in.readInt();
            if (magic != 0x00000801) {
                throw new IOException(file + ": magic number 0x" + Integer.toHexString(magic)
                        + " is not an IDX label file (expected 0x00000801)");
            }
            int n = in.readInt();
            long length = file.length();
            if (n < 0 || (length >= 0 && length != 8L + n)) {
                throw new IOException(file + ": header says " + n + " labels but the file has " + length + " bytes (expected "
                        + (8L + n) + ")");
            }
            byte[] bytes = readExactly(in, n, file, 8);
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) labels[i] = bytes[i] & 0xff;
            return labels;
        }
    }

    private static Dataset readImages(Part file, int[] labels) throws IOException {
        try (DataInputStream in = new DataInputStream(file.content())) {
            int magic = in.readInt();
            if (magic != 0x00000803) {
                throw new IOException(file + ": magic number 0x" + Integer.toHexString(magic)
                        + " is not an IDX image file (expected 0x00000803)");
            }
            int n = in.readInt(), rows = in.readInt(), cols = in.readInt();
            if (n < 0 || rows < 1 || cols < 1 || (long) rows * cols > 1 << 24) {
                throw new IOException(file + ": implausible dimensions " + n + "x" + rows + "x" + cols);
            }
            long pixels = (long) n * rows * cols;
            long length = file.length();
            if (length >= 0 && length != 16 + pixels) {
                throw new IOException(file + ": header says " + n + " images of " + rows + "x" + cols + " (" + (16 + pixels)
                        + " bytes) but the file has " + length + " bytes");
            }
            if (n != labels.length) {
                throw new IOException(file + ": " + n + " images but the label file has " + labels.length + " labels");
            }
            int d = rows * cols;
            Arena arena = Arena.ofShared();
            try {
                Matrix features = Matrix.allocate(arena, Math.max(n, 1), d);
                byte[] row = new byte[d];
                float[] scaled = new float[d];
                for (int i = 0; i < n; i++) {
                    if (in.readNBytes(row, 0, d) != d) {
                        throw new EOFException(file + ": ends inside image " + i + " of " + n);
                    }
                    for (int j = 0; j < d; j++) scaled[j] = (row[j] & 0xff) / 255f;
                    features.rows(i, i + 1).copyFrom(scaled);
                }
                if (in.read() != -1) {
                    throw new IOException(file + ": data continues after the " + n + " images the header announces");
                }
                int classes = 0;
                for (int l : labels) classes = Math.max(classes, l + 1);
                return new Dataset(arena, features, labels, Math.max(classes, 10), file.name());
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }
    }

    /** Reads exactly n bytes in chunks, so a forged count fails at the end of the data rather than allocating it. */
    private static byte[] readExactly(InputStream in, int n, Part file, long headerBytes) throws IOException {
        var out = new java.io.ByteArrayOutputStream(Math.min(n, 1 << 20));
        byte[] chunk = new byte[1 << 16];
        long left = n;
        while (left > 0) {
            int got = in.read(chunk, 0, (int) Math.min(chunk.length, left));
            if (got < 0) {
                throw new EOFException(file + ": ends after " + (headerBytes + n - left) + " bytes; the header announces "
                        + (headerBytes + n));
            }
            out.write(chunk, 0, got);
            left -= got;
        }
        if (in.read() != -1) {
            throw new IOException(file + ": data continues after the " + n + " entries the header announces");
        }
        return out.toByteArray();
    }
}
