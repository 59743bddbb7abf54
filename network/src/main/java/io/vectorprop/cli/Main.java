package io.vectorprop.cli;

import java.io.PrintWriter;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code java --add-modules jdk.incubator.vector -jar network/target/vectorprop.jar <command>}.
 * Bad input exits with status 2 (usage) or 1 (a file or the data) and one line on standard error;
 * {@code --verbose} adds the stack trace.
 */
@Command(name = "vectorprop", mixinStandardHelpOptions = true, version = "vectorprop 0.1.0",
        description = "Trains and runs dense neural networks by backpropagation (Java Vector API kernels).",
        subcommands = {TrainCommand.class, EvaluateCommand.class, MazurCommand.class, GradcheckCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs a command line; returns the exit status. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        System.setProperty("java.awt.headless", "true");
        // The commands print the kernels they use themselves; the library's start-up log line would repeat it.
        if (System.getProperty("vectorprop.quiet") == null) System.setProperty("vectorprop.quiet", "true");
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("vectorprop: " + ex.getMessage() + " (see --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            boolean verbose = parseResult.subcommand() != null && parseResult.subcommand().hasMatchedOption("--verbose");
            if (ex instanceof IllegalArgumentException) {
                err.println("vectorprop: " + ex.getMessage());
                if (verbose) ex.printStackTrace(err);
                return 2;
            }
            String message = ex.getMessage() == null ? ex.toString() : ex.getMessage();
            if (ex instanceof java.nio.file.NoSuchFileException) message = "no such file: " + message;
            err.println("vectorprop: " + message);
            if (verbose) ex.printStackTrace(err);
            return 1;
        });
        return cl.execute(args);
    }
}
