package io.vectorprop.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadersTest {
    @TempDir Path dir;

    static byte[] images(int n, int rows, int cols, int declaredN) {
        ByteBuffer b = ByteBuffer.allocate(16 + n * rows * cols);
        b.putInt(0x803).putInt(declaredN).putInt(rows).putInt(cols);
        for (int i = 0; i < n * rows * cols; i++) b.put((byte) (i % 256));
        return b.array();
    }

    static byte[] labels(int n) {
        ByteBuffer b = ByteBuffer.allocate(8 + n);
        b.putInt(0x801).putInt(n);
        for (int i = 0; i < n; i++) b.put((byte) (i % 10));
        return b.array();
    }

    @Test
    void readsPlainAndGzipIdx() throws IOException {
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(3, 2, 2, 3));
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train-labels-idx1-ubyte.gz")))) {
            o.write(labels(3));
        }
        try (Dataset d = IdxReader.load(dir, "train")) {
            assertEquals(3, d.size());
            assertEquals(4, d.featureCount());
            assertEquals(2, d.label(2));
            assertEquals(5 / 255f, d.features().get(1, 1), 1e-7f);          // byte 5 of the pixel data
        }
    }

    /** Counts and pixel sums as numpy reads the embedded gzip files (make_fashion_mnist_subset.py's output). */
    @Test
    void embeddedSubsetIsTheBalancedDrawTheScriptWrote() throws IOException {
        record Expected(String prefix, int size, int[] firstLabels, long firstPixelSum, long lastPixelSum) {}
        for (Expected e : new Expected[] {new Expected("train", 3000, new int[] {8, 6, 3, 2, 4}, 78179, 19139),
                                          new Expected("t10k", 1000, new int[] {5, 1, 5, 6, 2}, 10246, 41203)}) {
            try (Dataset d = IdxReader.loadEmbeddedSubset(e.prefix())) {
                assertEquals(e.size(), d.size(), e.prefix());
                assertEquals(784, d.featureCount());
                assertEquals(10, d.classes());
                int[] perClass = new int[10];
                for (int i = 0; i < d.size(); i++) perClass[d.label(i)]++;
                for (int c = 0; c < 10; c++) assertEquals(e.size() / 10, perClass[c], e.prefix() + " class " + c);
                for (int i = 0; i < 5; i++) assertEquals(e.firstLabels()[i], d.label(i), e.prefix() + " label " + i);
                assertEquals(e.firstPixelSum(), pixelSum(d, 0), e.prefix() + " first image");
                assertEquals(e.lastPixelSum(), pixelSum(d, d.size() - 1), e.prefix() + " last image");
            }
        }
        assertThrows(IllegalArgumentException.class, () -> IdxReader.loadEmbeddedSubset("test"));
    }

    private static long pixelSum(Dataset d, int row) {
        long sum = 0;
        for (int j = 0; j < d.featureCount(); j++) sum += Math.round(d.features().get(row, j) * 255f);
        return sum;
    }

    /**
     * The limits of the plain (uncompressed) IDX checks, each on both sides: 1×1 images and a 4096×4096
     * image are plausible, 0 rows and 4097×4096 are not; a file one byte short or long is refused with
     * the lengths in the message; labels up to 12 give 13 classes; the dataset names its file, and
     * closing it (twice) frees its memory.
     */
    @Test
    void plainIdxLimitsAndLengthsOnBothSides() throws IOException {
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(2));
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(2, 1, 1, 2));
        Dataset tiny = IdxReader.load(dir, "train");
        assertEquals(1, tiny.featureCount());
        assertTrue(tiny.source().endsWith("train-images-idx3-ubyte"), tiny.source());
        tiny.close();
        tiny.close();
        assertTrue(!tiny.features().isAlive(), "closing frees the memory");
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(1));
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(1, 4096, 4096, 1));
        try (Dataset large = IdxReader.load(dir, "train")) {
            assertEquals(4096 * 4096, large.featureCount(), "the largest plausible image");
        }
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(0, 4097, 4096, 0));
        var e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("implausible dimensions 0x4097x4096"), e.getMessage());
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(0, 0, 3, 0));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("implausible dimensions 0x0x3"), e.getMessage());
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(0, 3, 0, 0));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("implausible dimensions 0x3x0"), e.getMessage());

        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(3));
        byte[] ok = images(3, 2, 2, 3);
        Files.write(dir.resolve("train-images-idx3-ubyte"), java.util.Arrays.copyOf(ok, ok.length - 1));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("(28 bytes) but the file has 27 bytes"), e.getMessage());
        assertTrue(e.getMessage().startsWith(dir.resolve("train-images-idx3-ubyte").toString() + ": "), e.getMessage());
        Files.write(dir.resolve("train-images-idx3-ubyte"), java.util.Arrays.copyOf(ok, ok.length + 1));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("(28 bytes) but the file has 29 bytes"), e.getMessage());
        Files.write(dir.resolve("train-images-idx3-ubyte"), ok);
        byte[] labelsOk = labels(3);
        Files.write(dir.resolve("train-labels-idx1-ubyte"), java.util.Arrays.copyOf(labelsOk, labelsOk.length - 1));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("header says 3 labels but the file has 10 bytes (expected 11)"), e.getMessage());
        Files.write(dir.resolve("train-labels-idx1-ubyte"), java.util.Arrays.copyOf(labelsOk, labelsOk.length + 1));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("but the file has 12 bytes (expected 11)"), e.getMessage());

        ByteBuffer many = ByteBuffer.allocate(8 + 13).putInt(0x801).putInt(13);
        for (int i = 0; i < 13; i++) many.put((byte) i);
        Files.write(dir.resolve("train-labels-idx1-ubyte"), many.array());
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(13, 1, 2, 13));
        try (Dataset d = IdxReader.load(dir, "train")) {
            assertEquals(13, d.classes(), "labels 0 … 12 make 13 classes (at least 10 always)");
        }
    }

    /** A gzip file shorter than its header announces: the message gives how far it got and what was announced. */
    @Test
    void gzipCutShortSaysWhereItEnded() throws IOException {
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(3, 2, 2, 3));
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train-labels-idx1-ubyte.gz")))) {
            o.write(ByteBuffer.allocate(8 + 5).putInt(0x801).putInt(7).put(new byte[5]).array());
        }
        var e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("ends after 13 bytes; the header announces 15"), e.getMessage());
    }

    @Test
    void datasetOfRefusesLabelsOutsideItsClasses() {
        for (int bad : new int[] {-1, 3}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Dataset.of(new float[] {1, 2}, 1, new int[] {0, bad}, 3, "given"));
            assertTrue(e.getMessage().contains("label " + bad + " of sample 1 is outside [0, 3)"), e.getMessage());
        }
        try (Dataset d = Dataset.of(new float[] {1, 2}, 1, new int[] {0, 2}, 3, "given")) {
            assertEquals(2, d.label(1), "the largest label inside its classes");
            assertEquals("given", d.source());
        }
    }

    @Test
    void forgedIdxHeadersAreRejectedBeforeAllocating() throws IOException {
        Files.write(dir.resolve("train-labels-idx1-ubyte"), labels(3));
        Files.write(dir.resolve("train-images-idx3-ubyte"), images(3, 2, 2, 2_000_000_000));
        var e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("2000000000"), e.getMessage());
        Files.write(dir.resolve("train-images-idx3-ubyte"), new byte[] {0, 0, 8, 1, 0, 0, 0, 1});
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
        // gzip: the length cannot be known up front, so a forged count must fail at the end of the data
        Files.delete(dir.resolve("train-images-idx3-ubyte"));
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train-images-idx3-ubyte.gz")))) {
            o.write(images(3, 2, 2, 3));
        }
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(dir.resolve("train-labels-idx1-ubyte.gz")))) {
            o.write(ByteBuffer.allocate(9).putInt(0x801).putInt(Integer.MAX_VALUE).put((byte) 1).array());
        }
        Files.delete(dir.resolve("train-labels-idx1-ubyte"));
        e = assertThrows(IOException.class, () -> IdxReader.load(dir, "train"));
        assertTrue(e.getMessage().contains("ends after"), e.getMessage());
    }

    @Test
    void csvWithHeaderAndErrorsWithLineNumbers() throws IOException {
        Path ok = dir.resolve("ok.csv");
        Files.writeString(ok, "label,x,y\n1,0.5,2\n0,-1,3e-2\n");
        try (Dataset d = CsvReader.read(ok)) {
            assertEquals(2, d.size());
            assertEquals(2, d.featureCount());
            assertEquals(0.03f, d.features().get(1, 1), 1e-9f);
        }
        Path ragged = dir.resolve("ragged.csv");
        Files.writeString(ragged, "1,0.5,2\n0,1\n");
        var e = assertThrows(IOException.class, () -> CsvReader.read(ragged));
        assertTrue(e.getMessage().contains("ragged.csv:2"), e.getMessage());
        Path nonNumeric = dir.resolve("nn.csv");
        Files.writeString(nonNumeric, "1,0.5,2\n0,1,abc\n");
        e = assertThrows(IOException.class, () -> CsvReader.read(nonNumeric));
        assertTrue(e.getMessage().contains("nn.csv:2") && e.getMessage().contains("abc"), e.getMessage());
    }

    /**
     * A file written here from known values, with the label in a middle column (by name and by index,
     * under every header setting) and more rows and values than the reader's first buffers hold: every
     * feature and label read back exactly, in column order without the label.
     */
    @Test
    void csvLabelColumnAnywhereAndEveryHeaderSetting() throws IOException {
        int rows = 300, columns = 5, labelAt = 2;                   // 300 × 4 features > the first 1,024 values, > 64 labels
        StringBuilder body = new StringBuilder();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                if (c > 0) body.append(',');
                body.append(c == labelAt ? String.valueOf(r % 7) : String.valueOf(r * 0.25f - c));
            }
            body.append(r % 50 == 0 ? "\n\n" : "\n");             // blank lines are skipped
        }
        Path named = dir.resolve("named.csv"), bare = dir.resolve("bare.csv");
        Files.writeString(named, "a,b,class,d,e\n" + body);
        Files.writeString(bare, body.toString());
        for (CsvReader.Header h : CsvReader.Header.values()) {
            Path file = h == CsvReader.Header.NO ? bare : named;
            for (String spec : h == CsvReader.Header.NO ? new String[] {"2"} : new String[] {"class", " 2 "}) {
                try (Dataset d = CsvReader.read(file, new CsvReader.Options(h, spec))) {
                    assertEquals(rows, d.size(), h + " " + spec);
                    assertEquals(columns - 1, d.featureCount());
                    assertEquals(7, d.classes());
                    for (int r = 0; r < rows; r++) {
                        assertEquals(r % 7, d.label(r));
                        for (int c = 0, j = 0; c < columns; c++) {
                            if (c != labelAt) assertEquals(r * 0.25f - c, d.features().get(r, j++), h + " row " + r + " column " + c);
                        }
                    }
                }
            }
        }
        // DETECT on the bare file sees numbers: no header, so the first line is data
        try (Dataset d = CsvReader.read(bare, new CsvReader.Options(CsvReader.Header.DETECT, "2"))) {
            assertEquals(rows, d.size());
        }
        // YES on the bare file takes its first line as the header: one row fewer
        try (Dataset d = CsvReader.read(bare, new CsvReader.Options(CsvReader.Header.YES, "2"))) {
            assertEquals(rows - 1, d.size());
        }
        Path last = dir.resolve("last.csv");                       // the last column is a valid label column
        Files.writeString(last, "0.5,-2,3\n1.5,4,0\n");
        try (Dataset d = CsvReader.read(last, new CsvReader.Options(CsvReader.Header.NO, "2"))) {
            assertEquals(3, d.label(0));
            assertEquals(0, d.label(1));
            assertEquals(-2f, d.features().get(0, 1));
            assertEquals(1.5f, d.features().get(1, 0));
        }
    }

    @Test
    void csvRefusalsNameFileLineAndColumn() throws IOException {
        record Case(String text, CsvReader.Options options, String message) {}
        CsvReader.Options byIndex5 = new CsvReader.Options(CsvReader.Header.NO, "5"),
                byIndexNegative = new CsvReader.Options(CsvReader.Header.NO, "-1"),
                byName = new CsvReader.Options(CsvReader.Header.DETECT, "klass"),
                byNameNoHeader = new CsvReader.Options(CsvReader.Header.NO, "klass");
        String long41 = "x".repeat(41), long40 = "y".repeat(40);
        Case[] cases = {
            new Case("1,2,3,4,5\n", byIndex5, "bad.csv: label column 5 is outside the 5 columns (0-based)"),
            new Case("1,2,3,4,5\n", byIndexNegative, "bad.csv: label column -1 is outside the 5 columns"),
            new Case("label,a\n1,2\n", byName, "bad.csv: no column named 'klass'; the header has label, a"),
            new Case("1,2\n", byNameNoHeader, "bad.csv: no column named 'klass' (the file has no header row)"),
            new Case("label,a,b\n1,2,3\n0,1\n", CsvReader.Options.DEFAULT, "bad.csv:3: 2 columns, but the header has 3"),
            new Case("1,2,3\n0,1,2,3\n", CsvReader.Options.DEFAULT, "bad.csv:2: 4 columns, but earlier lines have 3"),
            new Case("1,2\n7\n", CsvReader.Options.DEFAULT, "bad.csv:2: need a label and at least one feature, got '7'"),
            new Case("1,2\n-1,2\n", CsvReader.Options.DEFAULT, "bad.csv:2: label -1 is negative"),
            new Case("1,2\n1.5,2\n", CsvReader.Options.DEFAULT, "bad.csv:2: column 1: label '1.5' is not a whole number"),
            new Case("l,a,b\n1,2,NaN\n", CsvReader.Options.DEFAULT, "bad.csv:2: column 3 (b) is NaN; features must be finite"),
            new Case("1,2,Infinity\n", new CsvReader.Options(CsvReader.Header.NO, null), "bad.csv:1: column 3 is Infinity; features must be finite"),
            new Case("1,2\n0," + long41 + "\n", CsvReader.Options.DEFAULT, "column 2 '" + "x".repeat(40) + "…' is not a number"),
            new Case("1,2\n0," + long40 + "\n", CsvReader.Options.DEFAULT, "column 2 '" + long40 + "' is not a number"),
            new Case("\n\n", CsvReader.Options.DEFAULT, "bad.csv: no data rows"),
        };
        Path bad = dir.resolve("bad.csv");
        for (Case c : cases) {
            Files.writeString(bad, c.text());
            IOException e = assertThrows(IOException.class, () -> CsvReader.read(bad, c.options()), c.text());
            assertTrue(e.getMessage().contains(c.message()), e.getMessage() + " should contain " + c.message());
        }
    }
}
