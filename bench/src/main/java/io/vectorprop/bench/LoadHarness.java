package io.vectorprop.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import io.vectorprop.network.BatchingPredictor;
import io.vectorprop.network.Predictor;

/**
 * Latency under a sustained arrival rate, measured open loop: request i is due at {@code t0 + i/rate}
 * (or at Poisson arrival times), runs on a virtual thread of its own as in a thread-per-request server,
 * and its latency is taken from the instant it was due, not from when it got started, so time spent
 * waiting for a core, for the scheduler or in a queue counts (no coordinated omission). The launcher
 * parks until the next request is due and then starts every request whose time has come, so it costs
 * little CPU even at high rates. HdrHistogram records the latencies.
 *
 * <p>For each engine: a step at a low rate (its unloaded latency), a sweep over the offered rates,
 * stopped after two steps that achieve under 80 % of what was offered (or when more than
 * {@code --max-in-flight} requests are outstanding: the rest of that step is not launched and counted
 * as dropped), and a step at half of its saturation rate (the most it achieved in the sweep). Then, as
 * a closed loop, {@code --closed} virtual threads calling in a loop (calls/s and latency per call).
 *
 * <p>Engines: {@code predictor} ({@link Predictor#predict(float[], float[])}), {@code batching}
 * ({@link BatchingPredictor}, maxBatch 64, a batch per core), {@code ort} (ONNX Runtime Java on the
 * same file, {@link OrtPeer}), {@code http} (POST /predict of the example service at {@code --url}),
 * {@code noop} (no work: the harness's own cost per request, the floor under the others' latencies).
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *     io.vectorprop.bench.LoadHarness [--engines predictor,batching,ort[,noop]] [--rates 20000,50000,...] [--seconds 2]
 *     [--arrivals fixed|poisson] [--closed 64] [--model FILE.onnx] [--url http://127.0.0.1:8080] [--out bench/results]
 *     [--tag NAME]   (files bench/results/DATE-load[-NAME].md, .json, .png)</pre>
 */
public final class LoadHarness {
    private LoadHarness() {}

    /**
     * A park oversleeps by up to this much (Linux timer slack, scheduler): at rates of at most one
     * request per {@link #SPIN_BELOW_GAP_NANOS} the launcher parks until this long before a request is
     * due and spins the rest, so an unloaded step measures the engine rather than the launcher's
     * lateness. At higher rates spinning would take a core from the engines, so the launcher parks and
     * starts whatever is due when it wakes; its lateness then counts in the latencies, as it should.
     */
    static final long PARK_SLACK_NANOS = 200_000, SPIN_BELOW_GAP_NANOS = 500_000;

    /** One way of computing a prediction; safe to call from any number of threads. */
    interface Engine extends AutoCloseable {
        String name();

        void predict(float[] in, float[] out) throws Exception;
    }

    /** One measured step: offered and achieved rates, latency percentiles in microseconds. */
    record Step(String engine, String kind, double offered, double achieved, long requests, long dropped, long failed,
                double p50, double p99, double p999, double max) {}

    public static void main(String[] args) throws Exception {
        Path model = OrtPeer.MODEL, out = Path.of("bench/results");
        String engines = "predictor,batching,ort", url = "http://127.0.0.1:8080", arrivals = "poisson", tag = "";
        double seconds = 2;
        int closedThreads = 64, maxInFlight = 100_000;
        double[] rates = {20_000, 50_000, 100_000, 150_000, 200_000, 300_000, 400_000, 600_000, 800_000};
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) throw new IllegalArgumentException("LoadHarness: " + a + " needs a value");
            String v = args[++i];
            switch (a) {
                case "--engines" -> engines = v;
                case "--rates" -> rates = java.util.Arrays.stream(v.split(",")).mapToDouble(Double::parseDouble).toArray();
                case "--seconds" -> seconds = Double.parseDouble(v);
                case "--arrivals" -> arrivals = v;
                case "--closed" -> closedThreads = Integer.parseInt(v);
                case "--max-in-flight" -> maxInFlight = Integer.parseInt(v);
                case "--model" -> model = Path.of(v);
                case "--url" -> url = v;
                case "--out" -> out = Path.of(v);
                case "--tag" -> tag = "-" + v;
                default -> throw new IllegalArgumentException("LoadHarness: unknown option " + a
                        + " (--engines, --rates, --seconds, --arrivals, --closed, --max-in-flight, --model, --url, --out, --tag)");
            }
        }
        if (!arrivals.equals("fixed") && !arrivals.equals("poisson")) {
            throw new IllegalArgumentException("LoadHarness: --arrivals " + arrivals + ": expected fixed or poisson");
        }
        float[][] inputs = inputs(256, 784);
        List<Step> steps = new ArrayList<>();
        String cpu = Report.cpu();
        System.out.println("CPU: " + cpu + "; " + Runtime.getRuntime().availableProcessors() + " processors; arrivals " + arrivals);
        for (String name : engines.split(",")) {
            try (Engine engine = open(name.trim(), model, url)) {
                warmUp(engine, inputs);
                steps.add(openLoop(engine, "unloaded", 1_000, seconds, arrivals, inputs, maxInFlight));
                double saturation = 0;
                int short2 = 0;
                for (double rate : rates) {
                    Step s = openLoop(engine, "sweep", rate, seconds, arrivals, inputs, maxInFlight);
                    steps.add(s);
                    saturation = Math.max(saturation, s.achieved());
                    short2 = s.achieved() < 0.8 * rate ? short2 + 1 : 0;
                    if (short2 == 2) break;
                }
                steps.add(openLoop(engine, "half saturation", saturation / 2, seconds, arrivals, inputs, maxInFlight));
                Step closed = closedLoop(engine, closedThreads, seconds, inputs);
                print(closed);
                steps.add(closed);
            }
        }
        write(steps, out, tag, cpu, arrivals, seconds, closedThreads);
    }

    static Engine open(String name, Path model, String url) throws Exception {
        return switch (name) {
            case "predictor" -> {
                Predictor p = Predictor.load(model);
                yield engine(name, p::predict, p);
            }
            case "batching" -> {
                Predictor p = Predictor.load(model);
                BatchingPredictor b = new BatchingPredictor(p, 64);
                yield engine(name, b::predict, () -> {
                    b.close();
                    p.close();
                });
            }
            case "ort" -> {
                OrtPeer o = new OrtPeer(model, 1, 784, 10);
                yield engine(name, o::predict, o);
            }
            case "http" -> new HttpEngine(url);
            // No work: what the harness itself adds to every request (a virtual thread started, scheduled
            // on a carrier that may have to be woken, run, recorded) — the floor under every engine's figures.
            case "noop" -> engine(name, (in, out) -> { }, () -> { });
            default -> throw new IllegalArgumentException("LoadHarness: unknown engine " + name + " (predictor, batching, ort, http, noop)");
        };
    }

    interface Call {
        void predict(float[] in, float[] out) throws Exception;
    }

    static Engine engine(String name, Call call, AutoCloseable resource) {
        return new Engine() {
            @Override public String name() { return name; }

            @Override public void predict(float[] in, float[] out) throws Exception { call.predict(in, out); }

            @Override public void close() throws Exception { resource.close(); }
        };
    }

    /** POST /predict of the example service with one row, the answer parsed back. */
    static final class HttpEngine implements Engine {
        private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        private final URI predict;

        HttpEngine(String url) {
            predict = URI.create(url + "/predict");
        }

        @Override public String name() { return "http"; }

        @Override
        public void predict(float[] in, float[] out) throws Exception {
            StringBuilder body = new StringBuilder(in.length * 12).append("{\"rows\":[[");
            for (int i = 0; i < in.length; i++) body.append(i == 0 ? "" : ",").append(in[i]);
            body.append("]]}");
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(predict).POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                    .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) throw new IOException("HTTP " + r.statusCode() + ": " + r.body());
            String s = r.body();
            int at = s.indexOf("[[") + 2;
            for (int j = 0; j < out.length; j++) {
                int end = j + 1 < out.length ? s.indexOf(',', at) : s.indexOf(']', at);
                out[j] = Float.parseFloat(s.substring(at, end).trim());
                at = end + 1;
            }
        }

        @Override public void close() { client.close(); }
    }

    static float[][] inputs(int count, int features) {
        Random rnd = new Random(3);
        float[][] x = new float[count][features];
        for (float[] row : x) for (int i = 0; i < features; i++) row[i] = rnd.nextFloat();
        return x;
    }

    /** 8 virtual threads in a loop for 3 seconds: the JIT compiles what the steps will run. */
    static void warmUp(Engine engine, float[][] inputs) throws InterruptedException {
        Step s = closedLoop(engine, 8, 3, inputs);
        System.out.printf(Locale.ROOT, "%s: warmed up, %.0f calls/s with 8 callers%n", engine.name(), s.achieved());
    }

    /** Requests due at {@code rate} per second for {@code seconds}, each on its own virtual thread. */
    static Step openLoop(Engine engine, String kind, double rate, double seconds, String arrivals, float[][] inputs,
                         int maxInFlight) throws InterruptedException {
        int n = (int) Math.max(1, Math.round(rate * seconds));
        Recorder recorder = new Recorder(3);
        AtomicInteger finished = new AtomicInteger(), failed = new AtomicInteger();
        AtomicLong lastEnd = new AtomicLong();
        Random gaps = new Random(42);
        double meanGapNanos = 1e9 / rate;
        long t0 = System.nanoTime() + 2_000_000, due = t0;
        int launched = 0;
        long dropped = 0;
        for (int i = 0; i < n; i++) {
            if (i > 0) {
                due += arrivals.equals("fixed") ? (long) meanGapNanos : (long) (-Math.log(1 - gaps.nextDouble()) * meanGapNanos);
            }
            long wait = due - System.nanoTime();
            if (meanGapNanos >= SPIN_BELOW_GAP_NANOS) {           // low rates: park, then spin the last stretch
                if (wait > PARK_SLACK_NANOS) LockSupport.parkNanos(wait - PARK_SLACK_NANOS);
                while (System.nanoTime() < due) Thread.onSpinWait();
            } else if (wait > 0) {
                LockSupport.parkNanos(wait);                      // then start whatever is due (bursts at high rates)
            }
            if (launched - finished.get() > maxInFlight) {
                dropped = n - i;
                break;
            }
            final long dueAt = due;
            final float[] in = inputs[i % inputs.length];
            launched++;
            Thread.ofVirtual().start(() -> {
                float[] out = new float[10];
                try {
                    engine.predict(in, out);
                    long end = System.nanoTime();
                    recorder.recordValue(Math.max(1, end - dueAt));
                    lastEnd.accumulateAndGet(end, Math::max);
                } catch (Exception | Error e) {
                    if (failed.getAndIncrement() == 0) System.err.println(engine.name() + ": " + e);
                } finally {
                    finished.incrementAndGet();
                }
            });
        }
        long deadline = System.nanoTime() + (long) (seconds * 1e9) * 5 + 10_000_000_000L;
        while (finished.get() < launched && System.nanoTime() < deadline) LockSupport.parkNanos(1_000_000);
        Histogram h = recorder.getIntervalHistogram();
        long ok = h.getTotalCount();
        double span = Math.max(1, lastEnd.get() - t0) / 1e9;
        Step s = new Step(engine.name(), kind, rate, ok / span, launched, dropped, failed.get(),
                h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3,
                h.getMaxValue() / 1e3);
        print(s);
        return s;
    }

    /** {@code threads} virtual threads calling in a loop for {@code seconds}: calls/s and latency per call. */
    static Step closedLoop(Engine engine, int threads, double seconds, float[][] inputs) throws InterruptedException {
        Recorder recorder = new Recorder(3);
        AtomicLong calls = new AtomicLong();
        AtomicInteger failed = new AtomicInteger();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        List<Thread> running = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int id = t;
            running.add(Thread.ofVirtual().start(() -> {
                float[] out = new float[10];
                for (int i = id; System.nanoTime() < end; i += threads) {
                    long t1 = System.nanoTime();
                    try {
                        engine.predict(inputs[i % inputs.length], out);
                        recorder.recordValue(Math.max(1, System.nanoTime() - t1));
                        calls.incrementAndGet();
                    } catch (Exception e) {
                        if (failed.getAndIncrement() == 0) System.err.println(engine.name() + ": " + e);
                    }
                }
            }));
        }
        for (Thread t : running) t.join();
        double span = (System.nanoTime() - start) / 1e9;
        Histogram h = recorder.getIntervalHistogram();
        Step s = new Step(engine.name(), "closed loop, " + threads + " virtual threads", Double.NaN, calls.get() / span,
                calls.get(), 0, failed.get(), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(99) / 1e3,
                h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
        return s;
    }

    static void print(Step s) {
        System.out.printf(Locale.ROOT, "%-9s %-34s offered %9s/s achieved %9.0f/s  p50 %9.1f us  p99 %9.1f us  p99.9 %9.1f us%s%n",
                s.engine(), s.kind(), Double.isNaN(s.offered()) ? "-" : String.format(Locale.ROOT, "%.0f", s.offered()),
                s.achieved(), s.p50(), s.p99(), s.p999(),
                s.dropped() + s.failed() > 0 ? "  (dropped " + s.dropped() + ", failed " + s.failed() + ")" : "");
    }

    static void write(List<Step> steps, Path dir, String tag, String cpu, String arrivals, double seconds, int closed)
            throws IOException {
        Files.createDirectories(dir);
        String base = LocalDate.now() + "-load" + tag;
        StringBuilder md = new StringBuilder("Open-loop load, " + LocalDate.now() + ": " + cpu + ", "
                + Runtime.getRuntime().availableProcessors() + " processors, JDK " + Runtime.version() + "; "
                + arrivals + " arrivals, " + seconds + " s per step, one virtual thread per request, latency from each request's"
                + " intended start (HdrHistogram). Closed loop: " + closed + " virtual threads calling in a loop.\n\n"
                + "| engine | step | offered /s | achieved /s | p50 µs | p99 µs | p99.9 µs | max µs | dropped | failed |\n"
                + "|---|---|---|---|---|---|---|---|---|---|\n");
        StringBuilder json = new StringBuilder("{\"cpu\":\"" + cpu + "\",\"arrivals\":\"" + arrivals + "\",\"seconds\":" + seconds
                + ",\"steps\":[");
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            md.append(String.format(Locale.ROOT, "| %s | %s | %s | %,.0f | %.1f | %.1f | %.1f | %.1f | %d | %d |%n", s.engine(),
                    s.kind(), Double.isNaN(s.offered()) ? "—" : String.format(Locale.ROOT, "%,.0f", s.offered()), s.achieved(),
                    s.p50(), s.p99(), s.p999(), s.max(), s.dropped(), s.failed()));
            json.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT,
                    "{\"engine\":\"%s\",\"step\":\"%s\",\"offered\":%s,\"achieved\":%.1f,\"requests\":%d,\"dropped\":%d,\"failed\":%d,"
                            + "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f}",
                    s.engine(), s.kind(), Double.isNaN(s.offered()) ? "null" : String.format(Locale.ROOT, "%.1f", s.offered()),
                    s.achieved(), s.requests(), s.dropped(), s.failed(), s.p50(), s.p99(), s.p999(), s.max()));
        }
        json.append("]}\n");
        Files.writeString(dir.resolve(base + ".md"), md, StandardCharsets.UTF_8);
        Files.writeString(dir.resolve(base + ".json"), json, StandardCharsets.UTF_8);
        chart(steps, dir.resolve(base));
        System.out.println("wrote " + dir.resolve(base + ".md") + ", .json, .png");
    }

    /** p50 and p99 against the offered rate, one pair of lines per engine, log latency axis. */
    static void chart(List<Step> steps, Path base) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(1000).height(560).title("Latency under an open-loop arrival rate")
                .xAxisTitle("offered rate (thousand requests/s)").yAxisTitle("latency from intended start (µs)").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        chart.getStyler().setYAxisLogarithmic(true);
        List<String> engines = steps.stream().map(Step::engine).distinct().toList();
        for (String e : engines) {
            for (String pct : new String[] {"p50", "p99"}) {
                List<Double> x = new ArrayList<>(), y = new ArrayList<>();
                steps.stream().filter(s -> s.engine().equals(e) && !Double.isNaN(s.offered()) && !s.kind().equals("unloaded"))
                        .sorted(java.util.Comparator.comparingDouble(Step::offered)).forEach(s -> {
                            x.add(s.offered() / 1e3);
                            y.add(Math.max(0.1, pct.equals("p50") ? s.p50() : s.p99()));
                        });
                if (!x.isEmpty()) chart.addSeries(e + " " + pct, x, y).setMarker(SeriesMarkers.CIRCLE);
            }
        }
        BitmapEncoder.saveBitmap(chart, base.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
