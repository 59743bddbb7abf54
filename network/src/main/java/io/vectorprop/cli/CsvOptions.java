package io.vectorprop.cli;

import io.vectorprop.data.CsvReader;
import picocli.CommandLine.Option;

/** How CSV files are read; shared by the commands that read them. */
class CsvOptions {
    @Option(names = "--header", description = "The CSV files' first line is a header (default: detected: a first line with a non-numeric cell).")
    boolean header;
    @Option(names = "--label-column", paramLabel = "NAME|INDEX", description = "The CSV label column: a header name or a 0-based index (default: the first column).")
    String labelColumn;

    CsvReader.Options options() {
        return new CsvReader.Options(header ? CsvReader.Header.YES : CsvReader.Header.DETECT, labelColumn);
    }

    boolean given() { return header || labelColumn != null; }
}
