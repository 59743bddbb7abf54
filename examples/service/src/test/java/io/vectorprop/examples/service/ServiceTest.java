package io.vectorprop.examples.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.vectorprop.network.Predictor;

/**
 * The example service as a client sees it: started on a free port from the PyTorch export the network
 * tests read, health before and after warm-up, answers compared with {@link Predictor} and with
 * PyTorch's own outputs, every kind of bad request answered with a 4xx and one error line while the
 * service keeps answering, concurrent clients, a reload, and a stop.
 */
class ServiceTest {
    static final Path DIR = Path.of("../../network/src/test/resources/onnx");
    static final Path MODEL = DIR.resolve("mlp_784_256_128_10.onnx");
    static Service service;
    static Predictor reference;
    static float[][] inputs, pytorch;
    static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void start() throws IOException {
        service = Service.start(new Service.Options(MODEL, "127.0.0.1", 0, 64, 16, 256 << 10));
        service.warmUp();
        reference = Predictor.load(MODEL);
        inputs = rows(DIR.resolve("mlp_784_256_128_10.inputs.f32"), 784);
        pytorch = rows(DIR.resolve("mlp_784_256_128_10.expected.f32"), 10);
    }

    @AfterAll
    static void stop() {
        service.close();
        reference.close();
    }

    static float[][] rows(Path file, int cols) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[][] r = new float[b.remaining() / 4 / cols][cols];
        for (float[] row : r) for (int j = 0; j < cols; j++) row[j] = b.getFloat();
        return r;
    }

    static HttpResponse<String> send(String method, String path, String body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.port() + path));
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String body(float[]... rows) {
        StringBuilder s = new StringBuilder("{\"rows\": [");
        for (int r = 0; r < rows.length; r++) {
            s.append(r == 0 ? "[" : ", [");
            for (int j = 0; j < rows[r].length; j++) s.append(j == 0 ? "" : ",").append(rows[r][j]);
            s.append(']');
        }
        return s.append("]}").toString();
    }

    /** The scores of a 200 answer, checked against the predictor (1e-5) and PyTorch (1e-4) for input rows first..first+n. */
    static void assertScores(HttpResponse<String> r, int first, int n) {
        assertEquals(200, r.statusCode(), r.body());
        String s = r.body();
        assertTrue(s.startsWith("{\"scores\":[["), s);
        String[] rowTexts = s.substring("{\"scores\":[[".length(), s.length() - "]]}".length()).split("\\],\\[");
        assertEquals(n, rowTexts.length, s);
        for (int i = 0; i < n; i++) {
            String[] values = rowTexts[i].split(",");
            float[] expected = new float[10];
            reference.predict(inputs[first + i], expected);
            for (int j = 0; j < 10; j++) {
                float got = Float.parseFloat(values[j]);
                if (Math.abs(got - expected[j]) > 1e-5 * (1 + Math.abs(expected[j]))) {
                    fail("row " + i + " output " + j + ": " + got + " vs the predictor's " + expected[j]);
                }
                assertEquals(pytorch[first + i][j], got, 1e-4, "row " + i + " output " + j + " vs PyTorch");
            }
        }
    }

    @Test
    void healthIs503UntilWarmUpThen200() throws Exception {
        try (Service cold = Service.start(new Service.Options(MODEL, "127.0.0.1", 0, 64, 16, 256 << 10))) {
            HttpResponse<String> h = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cold.port() + "/health"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(503, h.statusCode(), h.body());
            assertEquals("{\"error\":\"warming up\"}", h.body());
        }
        HttpResponse<String> h = send("GET", "/health", null);
        assertEquals(200, h.statusCode(), h.body());
        assertTrue(h.body().contains("\"status\":\"ok\"") && h.body().contains("\"kernels\":"), h.body());
    }

    @Test
    void predictionsMatchThePredictorAndPyTorch() throws Exception {
        assertScores(send("POST", "/predict", body(inputs[0])), 0, 1);
        assertScores(send("POST", "/predict", body(inputs[1], inputs[2], inputs[3])), 1, 3);
    }

    @Test
    void everyBadRequestGetsA4xxWithOneErrorLineAndTheServiceKeepsAnswering() throws Exception {
        String nan = body(inputs[0]).replaceFirst("\\[\\[[^,]*,", "[[NaN,");
        String string = body(inputs[0]).replaceFirst("\\[\\[[^,]*,", "[[\"0.5\",");
        String infinite = body(inputs[0]).replaceFirst("\\[\\[[^,]*,", "[[1e40,");
        float[] short783 = java.util.Arrays.copyOf(inputs[0], 783), long785 = java.util.Arrays.copyOf(inputs[0], 785);
        float[][] seventeen = new float[17][];
        java.util.Arrays.fill(seventeen, inputs[0]);
        String[][] cases = {
                // method, path, body, expected status, a word the error must contain
                {"POST", "/predict", "{\"rows\": [[1, 2", "400", "malformed"},
                {"POST", "/predict", "not json", "400", "malformed"},
                {"POST", "/predict", "", "400", "JSON object"},
                {"POST", "/predict", "[1, 2]", "400", "JSON object"},
                {"POST", "/predict", "{\"rows\": []}", "400", "no rows"},
                {"POST", "/predict", "{\"rowz\": [[1]]}", "400", "unknown field"},
                {"POST", "/predict", "{}", "400", "no \\\"rows\\\""},
                {"POST", "/predict", body(short783), "400", "783 values"},
                {"POST", "/predict", body(long785), "400", "more than 784"},
                {"POST", "/predict", nan, "400", "malformed"},
                {"POST", "/predict", string, "400", "not a number"},
                {"POST", "/predict", infinite, "400", "not a finite float"},
                {"POST", "/predict", body(seventeen), "400", "more than 16 rows"},
                {"POST", "/predict", "{\"rows\": [" + "0,".repeat(140_000) + "0]}", "413", "over the limit"},
                {"POST", "/predict", body(inputs[0]) + " {}", "400", "after the JSON object"},
                {"GET", "/predict", null, "405", "only POST"},
                {"POST", "/health", "{}", "405", "only GET"},
                {"GET", "/nothing-here", null, "404", "no such path"},
        };
        for (String[] c : cases) {
            HttpResponse<String> r = send(c[0], c[1], c[2]);
            String what = c[0] + " " + c[1] + " " + (c[2] == null ? "" : c[2].substring(0, Math.min(40, c[2].length())));
            assertEquals(Integer.parseInt(c[3]), r.statusCode(), what + " -> " + r.body());
            assertTrue(r.body().startsWith("{\"error\":\"") && r.body().endsWith("\"}") && !r.body().contains("\n"),
                    what + ": not one error line: " + r.body());
            assertTrue(r.body().contains(c[4]), what + ": " + r.body() + " should say " + c[4]);
            assertScores(send("POST", "/predict", body(inputs[4])), 4, 1);     // still answering
        }
    }

    @Test
    void concurrentClientsGetTheirOwnAnswers() throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> clients = new ArrayList<>();
        for (int t = 0; t < 32; t++) {
            int row = t % inputs.length;
            clients.add(Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < 10; i++) assertScores(send("POST", "/predict", body(inputs[row])), row, 1);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (Thread t : clients) t.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
    }

    @Test
    void reloadSwapsTheModelWhileAnswering() throws Exception {
        HttpResponse<String> r = send("POST", "/reload", "");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"status\":\"reloaded\""), r.body());
        assertScores(send("POST", "/predict", body(inputs[5], inputs[6])), 5, 2);
    }

    @Test
    void badOptionsAreRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> Service.Options.parse(new String[] {"--port", "8080"}));
        assertTrue(e.getMessage().contains("--model FILE is required"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Service.Options.parse(new String[] {"--model", MODEL.toString(), "--port", "70000"}));
        assertTrue(e.getMessage().contains("--port 70000"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Service.Options.parse(new String[] {"--model", "no-such.onnx"}));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }
}
