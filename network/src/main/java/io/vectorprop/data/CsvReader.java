package io.vectorprop.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reads a CSV file with the class label (a whole number ≥ 0) in the first column and the features
 * after it. A first line whose first cell is not a number is taken as a header. Errors name the file,
 * the line and the cell.
 */
public final class CsvReader {
    private CsvReader() {}

    /** Reads {@code file}; every row must have the same number of features. */
    public static Dataset read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new java.nio.file.NoSuchFileException(file + " (no such CSV file)");
        }
        float[] values = new float[1024];
        int[] labels = new int[64];
        int n = 0, features = -1, maxLabel = 0;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = r.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String[] cells = line.split(",", -1);
                if (lineNo == 1 && !looksNumeric(cells[0])) continue;   // header
                if (cells.length < 2) {
                    throw new IOException(file + ":" + lineNo + ": need a label and at least one feature, got '"
                            + abbreviate(line) + "'");
                }
                if (features < 0) features = cells.length - 1;
                if (cells.length - 1 != features) {
                    throw new IOException(file + ":" + lineNo + ": " + (cells.length - 1) + " features, but earlier lines have "
                            + features);
                }
                int label;
                try {
                    label = Integer.parseInt(cells[0].trim());
                } catch (NumberFormatException e) {
                    throw new IOException(file + ":" + lineNo + ": label '" + cells[0].trim() + "' is not a whole number");
                }
                if (label < 0) throw new IOException(file + ":" + lineNo + ": label " + label + " is negative");
                if (n == labels.length) labels = Arrays.copyOf(labels, n * 2);
                labels[n] = label;
                maxLabel = Math.max(maxLabel, label);
                long need = (long) (n + 1) * features;
                if (need > Integer.MAX_VALUE - 8) throw new IOException(file + ": too large for one CSV dataset");
                if (need > values.length) values = Arrays.copyOf(values, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * values.length)));
                for (int j = 0; j < features; j++) {
                    String cell = cells[j + 1].trim();
                    float v;
                    try {
                        v = Float.parseFloat(cell);
                    } catch (NumberFormatException e) {
                        throw new IOException(file + ":" + lineNo + ": column " + (j + 2) + " '" + abbreviate(cell)
                                + "' is not a number");
                    }
                    if (!Float.isFinite(v)) {
                        throw new IOException(file + ":" + lineNo + ": column " + (j + 2) + " is " + cell + "; features must be finite");
                    }
                    values[n * features + j] = v;
                }
                n++;
            }
        }
        if (n == 0) throw new IOException(file + ": no data rows");
        return Dataset.of(Arrays.copyOf(values, n * features), features, Arrays.copyOf(labels, n), maxLabel + 1,
                file.toString());
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
