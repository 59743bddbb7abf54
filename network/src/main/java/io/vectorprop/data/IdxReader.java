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
 */
public final class IdxReader {
    /** The Debian package {@code dataset-fashion-mnist} puts the files here. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    private IdxReader() {}

    /** Loads {@code train} or {@code t10k} images and labels from a directory. */
    public static Dataset load(Path dir, String prefix) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir + " (no such directory; install Debian's dataset-fashion-mnist package"
                    + " with 'apt-get install dataset-fashion-mnist' or pass --data DIR with the IDX files)");
        }
        Path images = find(dir, prefix + "-images-idx3-ubyte");
        Path labels = find(dir, prefix + "-labels-idx1-ubyte");
        int[] labelArray = readLabels(labels);
        return readImages(images, labelArray);
    }

    private static Path find(Path dir, String base) throws NoSuchFileException {
        for (String name : new String[] {base, base + ".gz", base.replace("-idx", ".idx"), base.replace("-idx", ".idx") + ".gz"}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        throw new NoSuchFileException(dir.resolve(base) + "[.gz] (missing; install Debian's dataset-fashion-mnist"
                + " package or pass --data DIR with the IDX files)");
    }

    private static InputStream open(Path file) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        if (file.getFileName().toString().endsWith(".gz")) {
            in = new GZIPInputStream(in, 1 << 16);
        }
        return in;
    }

    /** Uncompressed length of the file's content: the file size, or for .gz the trailer's ISIZE is not trusted, so -1. */
    private static long knownLength(Path file) throws IOException {
        return file.getFileName().toString().endsWith(".gz") ? -1 : Files.size(file);
    }

    static int[] readLabels(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(open(file))) {
            int magic = in.readInt();
            if (magic != 0x00000801) {
                throw new IOException(file + ": magic number 0x" + Integer.toHexString(magic)
                        + " is not an IDX label file (expected 0x00000801)");
            }
            int n = in.readInt();
            long length = knownLength(file);
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

    static Dataset readImages(Path file, int[] labels) throws IOException {
        try (DataInputStream in = new DataInputStream(open(file))) {
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
            long length = knownLength(file);
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
                return new Dataset(arena, features, labels, Math.max(classes, 10), file.toString());
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        }
    }

    /** Reads exactly n bytes in chunks, so a forged count fails at the end of the data rather than allocating it. */
    private static byte[] readExactly(InputStream in, int n, Path file, long headerBytes) throws IOException {
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
