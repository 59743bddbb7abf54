package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The layering the modules promise, checked on the sources: the kernel imports nothing of the
 * network module, and the command line ({@code io.vectorprop.cli}) is used by nothing else in the
 * library (JPMS already keeps it from other modules: it is not exported).
 */
class LayeringTest {
    static List<String> offenders(Path root, java.util.function.Predicate<Path> which, String... forbidden) throws IOException {
        List<String> bad = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).filter(which).toList()) {
                for (String line : Files.readAllLines(f)) {
                    for (String pkg : forbidden) {
                        if (line.startsWith("import " + pkg) || line.startsWith("import static " + pkg)) bad.add(f + ": " + line);
                    }
                }
            }
        }
        return bad;
    }

    @Test
    void theKernelDependsOnNothingOfTheNetworkModule() throws IOException {
        Path kernel = Path.of("../kernel/src/main/java");
        assertTrue(Files.isDirectory(kernel), "run from the network module's directory: " + kernel.toAbsolutePath());
        List<String> bad = offenders(kernel, p -> true, "io.vectorprop.network", "io.vectorprop.model", "io.vectorprop.data",
                "io.vectorprop.cli", "io.vectorprop.verify");
        assertTrue(bad.isEmpty(), "kernel imports the network module: " + bad);
    }

    @Test
    void nothingButTheCommandLineUsesIt() throws IOException {
        Path main = Path.of("src/main/java");
        List<String> bad = offenders(main, p -> !p.toString().contains("/io/vectorprop/cli/"), "io.vectorprop.cli",
                "picocli", "me.tongfei", "org.knowm");
        assertTrue(bad.isEmpty(), "the library uses the command line or its dependencies: " + bad);
    }
}
