package io.vectorprop.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reads a CSV file with a class label (a whole number ≥ 0) in one column, the first by default, and
 * the features in all the others, in their order. A header row is detected (a first line with a cell
 * that is not a number) or declared. Errors name the file, the line and the column (1-based, as a
 * spreadsheet shows them).
 *
 * <p>Stateless: safe to call from any number of threads at once.
 */
public final class CsvReader {
    private CsvReader() {}

    /** Whether the first line is a header. */
    public enum Header {
        /** A header when any cell of the first line is not a number. */
        DETECT,
        /** Always a header (even if it looks numeric). */
        YES,
        /** Never: the first line is data. */
        NO
    }

    /**
     * How to read a file.
     *
     * @param header      whether the first line names the columns
     * @param labelColumn the label's column: a header name, or a 0-based index; null for the first column
     */
    public record Options(Header header, String labelColumn) {
        public static final Options DEFAULT = new Options(Header.DETECT, null);
    }

    /** Reads {@code file} with the label in the first column; every row must have the same number of columns. */
    public static Dataset read(Path file) throws IOException {
        return read(file, Options.DEFAULT);
    }

    /** Reads {@code file} as {@code options} say; every row must have the same number of columns. */
    public static Dataset read(Path file, Options options) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new java.nio.file.NoSuchFileException(file + " (no such CSV file)");
        }
        float[] values = new float[1024];
        int[] labels = new int[64];
        int n = 0, features = -1, maxLabel = 0, labelAt = -1;
        String[] header = null;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            boolean first = true;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String[] cells = line.split(",", -1);
                if (first) {
                    first = false;
                    boolean isHeader = switch (options.header()) {
                        case YES -> true;
                        case NO -> false;
                        case DETECT -> !allNumeric(cells);
                    };
                    if (isHeader) {
                        header = cells;
                        for (int i = 0; i < header.length; i++) header[i] = header[i].trim();
                    }
                    labelAt = labelColumn(file, options.labelColumn(), header, cells.length);
                    if (isHeader) continue;
                }
                if (cells.length < 2) {
                    throw new IOException(file + ":" + lineNo + ": need a label and at least one feature, got '"
                            + abbreviate(line) + "'");
                }
                if (features < 0) features = cells.length - 1;
                if (cells.length - 1 != features) {
                    throw new IOException(file + ":" + lineNo + ": " + cells.length + " columns, but " + (header != null
                            ? "the header has " : "earlier lines have ") + (features + 1));
                }
                if (labelAt >= cells.length) {
                    throw new IOException(file + ":" + lineNo + ": no column " + (labelAt + 1) + " for the label (the line has "
                            + cells.length + ")");
                }
                int label;
                try {
                    label = Integer.parseInt(cells[labelAt].trim());
                } catch (NumberFormatException e) {
                    throw new IOException(file + ":" + lineNo + ": column " + (labelAt + 1) + ": label '" + abbreviate(cells[labelAt].trim())
                            + "' is not a whole number");
                }
                if (label < 0) throw new IOException(file + ":" + lineNo + ": label " + label + " is negative");
                if (n == labels.length) labels = Arrays.copyOf(labels, n * 2);
                labels[n] = label;
                maxLabel = Math.max(maxLabel, label);
                long need = (long) (n + 1) * features;
                if (need > Integer.MAX_VALUE - 8) throw new IOException(file + ": too large for one CSV dataset");
                if (need > values.length) values = Arrays.copyOf(values, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * values.length)));
                for (int c = 0, j = 0; c < cells.length; c++) {
                    if (c == labelAt) continue;
                    String cell = cells[c].trim();
                    float v;
                    try {
                        v = Float.parseFloat(cell);
                    } catch (NumberFormatException e) {
                        throw new IOException(file + ":" + lineNo + ": column " + (c + 1) + columnName(header, c) + " '"
                                + abbreviate(cell) + "' is not a number");
                    }
                    if (!Float.isFinite(v)) {
                        throw new IOException(file + ":" + lineNo + ": column " + (c + 1) + columnName(header, c) + " is " + cell
                                + "; features must be finite");
                    }
                    values[n * features + j++] = v;
                }
                n++;
            }
        }
        if (n == 0) throw new IOException(file + ": no data rows");
        return Dataset.of(Arrays.copyOf(values, n * features), features, Arrays.copyOf(labels, n), maxLabel + 1,
                file.toString());
    }

    /** The label's 0-based column from a header name or an index; the first column when {@code spec} is null. */
    private static int labelColumn(Path file, String spec, String[] header, int columns) throws IOException {
        if (spec == null) return 0;
        String name = spec.trim();
        if (header != null) {
            for (int i = 0; i < header.length; i++) if (header[i].equals(name)) return i;
        }
        try {
            int index = Integer.parseInt(name);
            if (index < 0 || index >= columns) {
                throw new IOException(file + ": label column " + index + " is outside the " + columns + " columns (0-based)");
            }
            return index;
        } catch (NumberFormatException e) {
            throw new IOException(file + ": no column named '" + name + "'" + (header == null ? " (the file has no header row)"
                    : "; the header has " + String.join(", ", header)));
        }
    }

    private static String columnName(String[] header, int c) {
        return header != null && c < header.length ? " (" + header[c] + ")" : "";
    }

    private static boolean allNumeric(String[] cells) {
        for (String c : cells) if (!looksNumeric(c)) return false;
        return true;
    }

    private static boolean looksNumeric(String cell) {
        try {
            Double.parseDouble(cell.trim());
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "…" : s;
    }
}
