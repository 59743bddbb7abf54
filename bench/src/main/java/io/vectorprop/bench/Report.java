package io.vectorprop.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * The quick benchmark profile (about 9 minutes on 2 cores): GEMM against OpenBLAS and the scalar
 * reference, training steps and prediction latency, then the PyTorch peer script when
 * {@code /usr/bin/python3} can import torch. Writes {@code bench/results/<date>.json},
 * {@code <date>.md} (the tables docs/performance.md shows) and {@code <date>-gemm.png}.
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *      -cp bench/target/benchmarks.jar io.vectorprop.bench.Report [--out bench/results] [--no-peer]</pre>
 */
public final class Report {
    record Row(String benchmark, Map<String, String> params, double score, double error, String unit,
               Map<String, Double> extra) {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of("bench/results");
        boolean peer = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--no-peer" -> peer = false;
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (expected --out DIR, --no-peer)");
            }
        }
        Files.createDirectories(out);
        List<Row> rows = new ArrayList<>();
        String[] square = {"128x128x128", "256x256x256", "512x512x512", "1024x1024x1024"};
        rows.addAll(run(GemmBench.class, "gemm", Map.of("impl", "scalar,simd,openblas", "shape", "128x128x128,256x256x256",
                "trans", "NN", "threads", "1")));
        rows.addAll(run(GemmBench.class, "gemm", Map.of("impl", "simd,openblas", "shape", "512x512x512,1024x1024x1024",
                "trans", "NN", "threads", "1")));
        for (String trans : new String[] {"NT", "NN", "TN"}) {
            String shapes = switch (trans) {
                case "NT" -> "1x256x784,64x256x784,256x256x784";
                case "NN" -> "1x784x256,64x784x256,256x784x256";
                default -> "256x784x1,256x784x64,256x784x256";
            };
            rows.addAll(run(GemmBench.class, "gemm", Map.of("impl", "simd,openblas", "shape", shapes, "trans", trans,
                    "threads", "1")));
        }
        rows.addAll(run(GemmBench.class, "gemm", Map.of("impl", "simd,openblas", "shape", "1024x1024x1024,256x256x784",
                "trans", "NT", "threads", "2")));
        rows.addAll(run(TrainStepBench.class, "step$", Map.of("batch", "1,10,64,256", "threads", "1,2", "optimizer", "sgd")));
        rows.addAll(run(InferenceBench.class, "predictOne$|predictOneTwoThreads|predictOneVirtualThreads|predictOneBf16", Map.of()));
        rows.addAll(run(FmaPeakBench.class, "fmaChains", Map.of()));
        String peerJson = peer ? runPeer() : null;

        String date = LocalDate.now().toString();
        Files.writeString(out.resolve(date + ".json"), json(rows, peerJson), StandardCharsets.UTF_8);
        String md = markdown(rows, peerJson, date);
        Files.writeString(out.resolve(date + ".md"), md, StandardCharsets.UTF_8);
        chart(rows, square, out.resolve(date + "-gemm"));
        System.out.println(md);
        System.out.println("wrote " + out.resolve(date + ".json") + ", " + out.resolve(date + ".md") + ", "
                + out.resolve(date + "-gemm.png"));
    }

    static List<Row> run(Class<?> bench, String method, Map<String, String> params) throws RunnerException {
        ChainedOptionsBuilder b = new OptionsBuilder().include(bench.getSimpleName() + "\\.(" + method + ")")
                // 6 s of warm-up: with 3 s, C2 had sometimes not finished with the vector code when
                // measurement began, which showed as KB/op of boxed vectors and huge error bars.
                .forks(1).warmupIterations(3).warmupTime(TimeValue.seconds(2)).measurementIterations(4)
                .measurementTime(TimeValue.seconds(1)).addProfiler("gc").shouldFailOnError(false);
        for (var e : params.entrySet()) b.param(e.getKey(), e.getValue().split(","));
        Collection<RunResult> results = new Runner(b.build()).run();
        List<Row> rows = new ArrayList<>();
        for (RunResult r : results) {
            Map<String, String> p = new TreeMap<>();
            for (String key : r.getParams().getParamsKeys()) p.put(key, r.getParams().getParam(key));
            var primary = r.getPrimaryResult();
            Map<String, Double> extra = new LinkedHashMap<>();
            var secondary = r.getSecondaryResults();
            if (secondary.containsKey("gc.alloc.rate.norm")) extra.put("bytesPerOp", secondary.get("gc.alloc.rate.norm").getScore());
            if (primary.getStatistics().getN() > 0 && r.getParams().getMode() == org.openjdk.jmh.annotations.Mode.SampleTime) {
                extra.put("p50", primary.getStatistics().getPercentile(50));
                extra.put("p99", primary.getStatistics().getPercentile(99));
            } else if (primary.getStatistics().getN() > 0) {
                // Per-iteration statistics: this machine slows down in phases of tens of seconds, so the
                // mean of one impl and the mean of another, measured a minute apart, can differ by the
                // phase alone; the median and the best iteration say more about the code.
                extra.put("median", primary.getStatistics().getPercentile(50));
                extra.put("best", primary.getStatistics().getMax());
            }
            rows.add(new Row(r.getParams().getBenchmark().replaceAll(".*\\.(\\w+\\.\\w+)$", "$1"), p, primary.getScore(),
                    primary.getScoreError(), primary.getScoreUnit(), extra));
        }
        return rows;
    }

    static String runPeer() {
        try {
            Path script = Path.of("bench/peers/pytorch_mlp.py");
            if (!Files.isRegularFile(script) || !Files.isExecutable(Path.of("/usr/bin/python3"))) return null;
            Process probe = new ProcessBuilder("/usr/bin/python3", "-c", "import torch").redirectErrorStream(true).start();
            probe.getInputStream().readAllBytes();
            if (probe.waitFor() != 0) {
                System.err.println("PyTorch peer skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)");
                return null;
            }
            Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), "--threads", "1,2", "--repeats", "5")
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String json = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            return p.waitFor(15, TimeUnit.MINUTES) && p.exitValue() == 0 ? json : null;
        } catch (IOException | InterruptedException e) {
            System.err.println("PyTorch peer failed: " + e);
            return null;
        }
    }

    // ---------------------------------------------------------------- output

    static double gflops(Row r) {
        return gflops(r, r.score());
    }

    /** GFLOP/s of a GemmBench row at the given ops/s. */
    static double gflops(Row r, double opsPerSecond) {
        String[] mnk = r.params().get("shape").split("x");
        return 2.0 * Long.parseLong(mnk[0]) * Long.parseLong(mnk[1]) * Long.parseLong(mnk[2]) * opsPerSecond / 1e9;
    }

    /** The row's per-iteration statistic (median, best), or NaN. */
    static double stat(Row r, String key) {
        return r == null ? Double.NaN : r.extra().getOrDefault(key, Double.NaN);
    }

    static Row find(List<Row> rows, String bench, String... kv) {
        outer:
        for (Row r : rows) {
            if (!r.benchmark().equals(bench)) continue;
            for (int i = 0; i < kv.length; i += 2) {
                if (!kv[i + 1].equals(r.params().get(kv[i]))) continue outer;
            }
            return r;
        }
        return null;
    }

    /** Samples/s of PyTorch for (threads, batch) from the peer JSON, or NaN. */
    static double torchRate(String peerJson, int threads, int batch) {
        if (peerJson == null) return Double.NaN;
        var m = java.util.regex.Pattern.compile("\\{\"threads\": " + threads + ", \"batch\": " + batch
                + ", \"samplesPerSecond\": ([0-9.eE+-]+)").matcher(peerJson);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    static double torchLatency(String peerJson, int threads, String key) {
        if (peerJson == null) return Double.NaN;
        var m = java.util.regex.Pattern.compile("\\{\"threads\": " + threads + ", \"medianMicros\": ([0-9.eE+-]+), \"p99Micros\": ([0-9.eE+-]+)")
                .matcher(peerJson);
        return m.find() ? Double.parseDouble(m.group(key.equals("median") ? 1 : 2)) : Double.NaN;
    }

    /** Vendor, family, model and name from /proc/cpuinfo (Linux), as lscpu shows them. */
    static String cpu() {
        try {
            Map<String, String> info = new LinkedHashMap<>();
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                int colon = line.indexOf(':');
                if (colon < 0) {
                    if (!info.isEmpty()) break;                   // the first processor is enough
                    continue;
                }
                info.putIfAbsent(line.substring(0, colon).trim(), line.substring(colon + 1).trim());
            }
            return info.getOrDefault("vendor_id", "?") + " family " + info.getOrDefault("cpu family", "?") + " model "
                    + info.getOrDefault("model", "?") + " (" + info.getOrDefault("model name", "?") + ")";
        } catch (IOException | RuntimeException e) {
            return System.getProperty("os.arch") + " (no /proc/cpuinfo)";
        }
    }

    static String f(String fmt, double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, fmt, v);
    }

    static String markdown(List<Row> rows, String peerJson, String date) {
        StringBuilder s = new StringBuilder();
        Row fma = find(rows, "FmaPeakBench.fmaChains");
        double peak = fma == null ? Double.NaN : FmaPeakBench.gflops(fma.score());
        s.append("Benchmark report ").append(date).append(" (").append(System.getProperty("os.arch")).append(", ")
                .append(Runtime.getRuntime().availableProcessors()).append(" cores, JDK ").append(Runtime.version())
                .append(", default JVM flags; JMH 1 fork, 3×2 s warm-up, 4×1 s measurement)\n\n");
        s.append("CPU: ").append(cpu()).append("; Java FMA peak (FmaPeakBench, same run, one core): ").append(f("%.1f", peak))
                .append(" GFLOP/s; OpenBLAS core: ").append(OpenBlas.coreName())
                .append(" (OPENBLAS_CORETYPE=").append(System.getenv().getOrDefault("OPENBLAS_CORETYPE", "unset"))
                .append("), ").append(OpenBlas.checkAgainstScalar()).append("\n\n");
        s.append("| GEMM shape | trans | threads | simd GFLOP/s | openblas GFLOP/s | scalar GFLOP/s | simd/openblas | simd/openblas, best iterations | simd/scalar | simd / (peak × threads) |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|\n");
        List<String> seen = new ArrayList<>();
        for (Row r : rows) {
            if (!r.benchmark().equals("GemmBench.gemm")) continue;
            String key = r.params().get("shape") + r.params().get("trans") + r.params().get("threads");
            if (seen.contains(key)) continue;
            seen.add(key);
            String[] kv = {"shape", r.params().get("shape"), "trans", r.params().get("trans"), "threads", r.params().get("threads")};
            Row simd = find(rows, "GemmBench.gemm", with(kv, "impl", "simd"));
            Row blas = find(rows, "GemmBench.gemm", with(kv, "impl", "openblas"));
            Row scalar = find(rows, "GemmBench.gemm", with(kv, "impl", "scalar"));
            double gs = simd == null ? Double.NaN : gflops(simd), gb = blas == null ? Double.NaN : gflops(blas);
            double gc = scalar == null ? Double.NaN : gflops(scalar);
            String err = simd == null ? "" : " ± " + f("%.1f", gflops(simd) * simd.error() / simd.score());
            s.append("| ").append(kv[1]).append(" | ").append(kv[3]).append(" | ").append(kv[5]).append(" | ")
                    .append(f("%.1f", gs)).append(err).append(" | ").append(f("%.1f", gb)).append(" | ").append(f("%.2f", gc))
                    .append(" | ").append(f("%.2f", gs / gb)).append(" | ").append(f("%.2f", stat(simd, "best") / stat(blas, "best")))
                    .append(" | ").append(f("%.1f", gs / gc)).append(" | ")
                    .append(f("%.2f", gs / (peak * Integer.parseInt(kv[5])))).append(" |\n");
        }
        s.append("\n| training 784-256-128-10, SGD | threads | vectorprop samples/s | vectorprop median | B/op | PyTorch samples/s (median) | ours/PyTorch | ours/PyTorch, medians |\n");
        s.append("|---|---|---|---|---|---|---|---|\n");
        for (String t : new String[] {"1", "2"}) {
            for (String b : new String[] {"1", "10", "64", "256"}) {
                Row r = find(rows, "TrainStepBench.step", "batch", b, "threads", t);
                if (r == null) continue;
                double ours = r.score() * Integer.parseInt(b), torch = torchRate(peerJson, Integer.parseInt(t), Integer.parseInt(b));
                double oursMedian = stat(r, "median") * Integer.parseInt(b);
                s.append("| batch ").append(b).append(" | ").append(t).append(" | ").append(f("%,.0f", ours)).append(" ± ")
                        .append(f("%,.0f", r.error() * Integer.parseInt(b))).append(" | ").append(f("%,.0f", oursMedian)).append(" | ")
                        .append(f("%.1f", r.extra().getOrDefault("bytesPerOp", Double.NaN))).append(" | ")
                        .append(f("%,.0f", torch)).append(" | ").append(f("%.2f", ours / torch)).append(" | ")
                        .append(f("%.2f", oursMedian / torch)).append(" |\n");
            }
        }
        s.append("\n| prediction, batch 1 | median µs | p99 µs | B/op | PyTorch median µs | PyTorch p99 µs |\n|---|---|---|---|---|---|\n");
        for (String m : new String[] {"predictOne", "predictOneTwoThreads", "predictOneVirtualThreads", "predictOneBf16"}) {
            Row r = find(rows, "InferenceBench." + m);
            if (r == null) continue;
            int t = m.equals("predictOneTwoThreads") ? 2 : 1;           // PyTorch's column: same thread count, fp32
            s.append("| ").append(m).append(" | ").append(f("%.1f", r.extra().getOrDefault("p50", Double.NaN))).append(" | ")
                    .append(f("%.1f", r.extra().getOrDefault("p99", Double.NaN))).append(" | ")
                    .append(f("%.1f", r.extra().getOrDefault("bytesPerOp", Double.NaN))).append(" | ")
                    .append(f("%.1f", torchLatency(peerJson, t, "median"))).append(" | ")
                    .append(f("%.1f", torchLatency(peerJson, t, "p99"))).append(" |\n");
        }
        return s.toString();
    }

    private static String[] with(String[] kv, String k, String v) {
        String[] out = java.util.Arrays.copyOf(kv, kv.length + 2);
        out[kv.length] = k;
        out[kv.length + 1] = v;
        return out;
    }

    static String json(List<Row> rows, String peerJson) {
        StringBuilder s = new StringBuilder("{\"date\":\"").append(LocalDateTime.now()).append("\",\"results\":[");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            s.append(i == 0 ? "" : ",").append("{\"benchmark\":\"").append(r.benchmark()).append("\",\"params\":{");
            int j = 0;
            for (var e : r.params().entrySet()) {
                s.append(j++ == 0 ? "" : ",").append('"').append(e.getKey()).append("\":\"").append(e.getValue()).append('"');
            }
            s.append("},\"score\":").append(num(r.score())).append(",\"error\":").append(num(r.error()))
                    .append(",\"unit\":\"").append(r.unit()).append('"');
            if (r.benchmark().equals("GemmBench.gemm")) s.append(",\"gflops\":").append(num(gflops(r)));
            for (var e : r.extra().entrySet()) s.append(",\"").append(e.getKey()).append("\":").append(num(e.getValue()));
            s.append('}');
        }
        s.append("],\"pytorch\":").append(peerJson == null ? "null" : peerJson).append("}\n");
        return s.toString();
    }

    private static String num(double v) {
        return Double.isFinite(v) ? Double.toString(v) : "null";
    }

    static void chart(List<Row> rows, String[] square, Path base) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(900).height(500).title("SGEMM NN, 1 thread").xAxisTitle("n (n×n×n)")
                .yAxisTitle("GFLOP/s").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        for (String impl : new String[] {"simd", "openblas", "scalar"}) {
            List<Double> x = new ArrayList<>(), y = new ArrayList<>();
            for (String sh : square) {
                Row r = find(rows, "GemmBench.gemm", "impl", impl, "shape", sh, "trans", "NN", "threads", "1");
                if (r != null) {
                    x.add(Double.parseDouble(sh.split("x")[0]));
                    y.add(gflops(r));
                }
            }
            if (!x.isEmpty()) chart.addSeries(impl, x, y);
        }
        BitmapEncoder.saveBitmap(chart, base.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
