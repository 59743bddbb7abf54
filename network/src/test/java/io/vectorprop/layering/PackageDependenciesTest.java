package io.vectorprop.layering;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The layering, read from the sources of every module (imports, fully qualified names and Javadoc
 * links): no two packages depend on each other, directly or through others, and the kernel's contract
 * package has at most seven public types.
 */
class PackageDependenciesTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern PACKAGE = Pattern.compile("^package ([\\w.]+);", Pattern.MULTILINE);
    private static final Pattern QUALIFIED = Pattern.compile("\\b(io\\.vectorprop(?:\\.[a-z]\\w*)+)\\.[A-Z]");
    private static final Pattern LINK = Pattern.compile("\\{@link(?:plain)?\\s+([^}\\s]+)");

    /** Every main source file of the repository's modules. */
    private static List<Path> sources() {
        try (Stream<Path> files = Files.walk(ROOT)) {
            return files.filter(p -> p.toString().endsWith(".java") && p.toString().contains("/src/main/java/")
                    && !p.toString().contains("/target/") && !p.getFileName().toString().equals("module-info.java")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Package → the packages it refers to. */
    static Map<String, Set<String>> dependencies(List<Path> sources) throws IOException {
        Map<String, Set<String>> deps = new TreeMap<>();
        for (Path p : sources) {
            String s = Files.readString(p);
            Matcher pkg = PACKAGE.matcher(s);
            if (!pkg.find()) continue;
            String from = pkg.group(1);
            StringBuilder refs = new StringBuilder(s.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "")
                    .replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\""));
            for (Matcher link = LINK.matcher(s); link.find(); ) refs.append(' ').append(link.group(1));
            Set<String> to = deps.computeIfAbsent(from, k -> new TreeSet<>());
            for (Matcher q = QUALIFIED.matcher(refs); q.find(); ) {
                if (!q.group(1).equals(from)) to.add(q.group(1));
            }
        }
        return deps;
    }

    @Test
    void noPackageDependsOnItselfThroughOthers() throws IOException {
        List<Path> sources = sources();
        assertTrue(sources.size() > 50, "found only " + sources.size() + " sources under " + ROOT);
        Map<String, Set<String>> deps = dependencies(sources);
        List<String> cycles = new ArrayList<>();
        for (String a : deps.keySet()) {
            for (String b : deps.get(a)) {
                if (reaches(deps, b, a, new TreeSet<>())) cycles.add(a + " -> " + b);
            }
        }
        assertEquals(List.of(), cycles, "package dependencies that close a cycle; all: " + deps);
    }

    private static boolean reaches(Map<String, Set<String>> deps, String from, String target, Set<String> seen) {
        if (from.equals(target)) return true;
        if (!seen.add(from)) return false;
        for (String next : deps.getOrDefault(from, Set.of())) if (reaches(deps, next, target, seen)) return true;
        return false;
    }

    @Test
    void theKernelContractHasAtMostSevenPublicTypesAndNoProtectedMembers() throws IOException {
        Path dir = ROOT.resolve("kernel/src/main/java/io/vectorprop/kernel");
        List<String> publicTypes = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                if (Pattern.compile("^public ", Pattern.MULTILINE).matcher(Files.readString(p)).find()) {
                    publicTypes.add(p.getFileName().toString());
                }
            }
        }
        assertTrue(publicTypes.size() <= 7, "public types of io.vectorprop.kernel: " + publicTypes);
        String kernels = Files.readString(dir.resolve("Kernels.java"));
        assertTrue(!kernels.contains("protected "), "Kernels has protected members");
    }
}
