package io.vectorprop.examples.service;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import io.vectorprop.network.BatchingPredictor;
import io.vectorprop.network.Predictor;
import io.vectorprop.network.SwappablePredictor;

/**
 * An HTTP prediction service: the JDK's {@code com.sun.net.httpserver} with a virtual thread per request,
 * every row through one {@link BatchingPredictor} over a {@link SwappablePredictor}, so concurrent
 * requests share batched forward passes and the model can be reloaded without failing a call.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -jar examples/service/target/vectorprop-service.jar --model FILE --port N
 *      [--host 127.0.0.1] [--max-batch 64] [--max-rows 256] [--max-body-bytes 1048576]
 *
 * POST /predict  {"rows": [[x, …], …]}  →  200 {"scores": [[y, …], …]}
 * GET  /health   503 {"status": "warming up"} until warm-up is done, then 200 {"status": "ok", "kernels": "…"}
 * POST /reload   reads the model file again, warms it up and swaps it in  →  200 {"status": "reloaded"}
 * </pre>
 *
 * A bad request gets a 4xx and {@code {"error": "one line"}}: 400 for a malformed body, a row of the
 * wrong length, a value that is not a finite number, no rows or too many; 413 for a body over the limit;
 * 404 and 405 for other paths and methods. 503 when the batching queue is full. Nothing a request sends
 * can stop the service; an unexpected failure answers 500 and is logged to standard error.
 */
public final class Service implements AutoCloseable {
    /** The command line's options. */
    record Options(Path model, String host, int port, int maxBatch, int maxRows, int maxBodyBytes) {
        static Options parse(String[] args) {
            Path model = null;
            String host = "127.0.0.1";
            int port = 8080, maxBatch = 64, maxRows = 256, maxBody = 1 << 20;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--help") || a.equals("-h")) throw new IllegalArgumentException(USAGE);
                if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value\n" + USAGE);
                String v = args[++i];
                switch (a) {
                    case "--model" -> model = Path.of(v);
                    case "--host" -> host = v;
                    case "--port" -> port = number(a, v, 0, 65535);
                    case "--max-batch" -> maxBatch = number(a, v, 1, 65536);
                    case "--max-rows" -> maxRows = number(a, v, 1, 1 << 20);
                    case "--max-body-bytes" -> maxBody = number(a, v, 16, 1 << 30);
                    default -> throw new IllegalArgumentException("unknown option " + a + "\n" + USAGE);
                }
            }
            if (model == null) throw new IllegalArgumentException("--model FILE is required\n" + USAGE);
            if (!Files.isRegularFile(model)) throw new IllegalArgumentException("--model " + model + ": no such file");
            return new Options(model, host, port, maxBatch, maxRows, maxBody);
        }

        private static int number(String option, String v, int min, int max) {
            try {
                int n = Integer.parseInt(v);
                if (n >= min && n <= max) return n;
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException(option + " " + v + ": expected a whole number from " + min + " to " + max);
        }
    }

    static final String USAGE = "usage: java --add-modules jdk.incubator.vector -jar vectorprop-service.jar --model FILE"
            + " [--port 8080] [--host 127.0.0.1] [--max-batch 64] [--max-rows 256] [--max-body-bytes 1048576]";

    private static final JsonFactory JSON = new JsonFactory();

    private final Options options;
    private final SwappablePredictor model;
    private final BatchingPredictor batching;
    private final HttpServer server;
    private final ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor();
    private final int inputs, outputs;
    private volatile boolean ready;

    private Service(Options options) throws IOException {
        this.options = options;
        this.model = new SwappablePredictor(Predictor.load(options.model()));
        this.inputs = model.current().architecture().inputs();
        this.outputs = model.current().architecture().outputs();
        this.batching = BatchingPredictor.builder(model).maxBatch(options.maxBatch()).build();
        this.server = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 1024);
        server.createContext("/predict", exchange -> handle(exchange, "POST", this::predict));
        server.createContext("/health", exchange -> handle(exchange, "GET", this::health));
        server.createContext("/reload", exchange -> handle(exchange, "POST", this::reload));
        server.createContext("/", exchange -> handle(exchange, null, e -> { throw new HttpError(404, "no such path: " + e.getRequestURI().getPath()); }));
        server.setExecutor(requests);
        server.start();
    }

    /** Loads the model and starts serving (not warmed up: {@code /health} answers 503 until {@link #warmUp()}). */
    static Service start(Options options) throws IOException {
        return new Service(options);
    }

    int port() { return server.getAddress().getPort(); }

    /** Compiles the prediction paths (single and batch), then {@code /health} answers 200. */
    void warmUp() {
        Predictor.WarmUp w = model.current().warmUp();
        ready = true;
        System.err.println("vectorprop-service: warmed up: " + w);
    }

    public static void main(String[] args) throws IOException {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("vectorprop-service: " + e.getMessage());
            System.exit(2);
            return;
        }
        Service service = start(options);
        Runtime.getRuntime().addShutdownHook(new Thread(service::close, "vectorprop-service-stop"));
        System.out.println("vectorprop-service: listening on http://" + options.host() + ":" + service.port() + " ("
                + options.model() + ", " + service.inputs + " inputs -> " + service.outputs + " outputs, " + service.batching + ")");
        service.warmUp();
        System.out.println("vectorprop-service: ready");
    }

    /** An answer other than 200, with its one-line message. */
    static final class HttpError extends Exception {
        final int status;

        HttpError(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    interface Handler {
        byte[] answer(HttpExchange exchange) throws HttpError, IOException, InterruptedException;
    }

    private void handle(HttpExchange exchange, String method, Handler handler) {
        try (exchange) {
            int status = 200;
            byte[] body;
            try {
                if (method != null && !method.equals(exchange.getRequestMethod())) {
                    exchange.getResponseHeaders().set("Allow", method);
                    throw new HttpError(405, exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath()
                            + ": only " + method + " is allowed");
                }
                body = handler.answer(exchange);
            } catch (HttpError e) {
                status = e.status;
                body = error(e.getMessage());
            } catch (RejectedExecutionException e) {
                status = 503;
                body = error("busy: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                status = 503;
                body = error("interrupted while waiting for a batch");
            } catch (RuntimeException | IOException e) {
                status = 500;
                body = error("internal error: " + e);
                System.err.println("vectorprop-service: " + exchange.getRequestURI() + ": " + e);
            }
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(status, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("vectorprop-service: could not answer " + exchange.getRequestURI() + ": " + e);
        }
    }

    private byte[] predict(HttpExchange exchange) throws HttpError, IOException, InterruptedException {
        List<float[]> rows = parseRows(readBody(exchange));
        float[][] scores = new float[rows.size()][];
        for (int r = 0; r < rows.size(); r++) {
            scores[r] = new float[outputs];
            batching.predict(rows.get(r), scores[r]);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(32 + scores.length * outputs * 14);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeArrayFieldStart("scores");
            for (float[] row : scores) {
                g.writeStartArray();
                for (float v : row) g.writeNumber(v);
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    private byte[] health(HttpExchange exchange) throws HttpError, IOException {
        if (!ready) throw new HttpError(503, "warming up");
        return object("status", "ok", "kernels", model.current().kernelStatus().description());
    }

    private byte[] reload(HttpExchange exchange) throws IOException {
        Predictor next = Predictor.load(options.model());
        next.warmUp();
        model.swap(next);
        return object("status", "reloaded", "model", options.model().toString());
    }

    /**
     * The body, refused with 413 past the limit. An oversized body is read and discarded up to 16 times
     * the limit first, so that the client, still sending, can read the 413 instead of a reset
     * connection; one declared larger than that is refused without reading it.
     */
    private byte[] readBody(HttpExchange exchange) throws HttpError, IOException {
        long drainLimit = 16L * options.maxBodyBytes();
        String declared = exchange.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            long length;
            try {
                length = Long.parseLong(declared.trim());
            } catch (NumberFormatException e) {
                throw new HttpError(400, "Content-Length " + declared + " is not a number");
            }
            if (length > drainLimit) {
                throw new HttpError(413, "body of " + length + " bytes is over the limit of " + options.maxBodyBytes());
            }
        }
        try (InputStream in = exchange.getRequestBody()) {
            byte[] body = in.readNBytes(options.maxBodyBytes() + 1);
            if (body.length > options.maxBodyBytes()) {
                long more = in.skip(drainLimit);
                throw new HttpError(413, "body of " + (body.length + more) + (more == drainLimit ? "+" : "")
                        + " bytes is over the limit of " + options.maxBodyBytes());
            }
            return body;
        }
    }

    /** {@code {"rows": [[x, …], …]}}: each row exactly n₀ finite numbers; at most max-rows rows. */
    List<float[]> parseRows(byte[] body) throws HttpError, IOException {
        List<float[]> rows = new ArrayList<>();
        try (JsonParser p = JSON.createParser(body)) {
            expect(p.nextToken() == JsonToken.START_OBJECT, p, "the body must be a JSON object {\"rows\": [[...], ...]}");
            boolean sawRows = false;
            for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
                expect(t == JsonToken.FIELD_NAME, p, "expected a field name");
                String field = p.currentName();
                if (!field.equals("rows")) throw new HttpError(400, "unknown field \"" + field + "\" (expected \"rows\")");
                expect(p.nextToken() == JsonToken.START_ARRAY, p, "\"rows\" must be an array of rows");
                sawRows = true;
                for (t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                    int r = rows.size();
                    if (r == options.maxRows()) throw new HttpError(400, "more than " + options.maxRows() + " rows (--max-rows)");
                    expect(t == JsonToken.START_ARRAY, p, "row " + r + " must be an array of " + inputs + " numbers");
                    float[] row = new float[inputs];
                    int c = 0;
                    for (t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                        if (t != JsonToken.VALUE_NUMBER_INT && t != JsonToken.VALUE_NUMBER_FLOAT) {
                            throw new HttpError(400, "row " + r + ", value " + c + ": " + p.getText() + " is not a number");
                        }
                        if (c == inputs) throw new HttpError(400, "row " + r + " has more than " + inputs + " values");
                        float v = p.getFloatValue();
                        if (!Float.isFinite(v)) {
                            throw new HttpError(400, "row " + r + ", value " + c + ": " + p.getText() + " is not a finite float");
                        }
                        row[c++] = v;
                    }
                    if (c != inputs) throw new HttpError(400, "row " + r + " has " + c + " values; the model takes " + inputs);
                    rows.add(row);
                }
            }
            expect(sawRows, p, "the body has no \"rows\"");
            expect(p.nextToken() == null, p, "text after the JSON object");
        } catch (JsonProcessingException e) {
            throw new HttpError(400, "malformed JSON: " + e.getOriginalMessage().lines().findFirst().orElse("")
                    + " at line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr());
        }
        if (rows.isEmpty()) throw new HttpError(400, "no rows");
        return rows;
    }

    private static void expect(boolean ok, JsonParser p, String what) throws HttpError {
        if (!ok) {
            throw new HttpError(400, what + " (at line " + p.currentLocation().getLineNr() + ", column "
                    + p.currentLocation().getColumnNr() + ")");
        }
    }

    private static byte[] error(String message) {
        return object("error", message.replace('\n', ' ').replace('\r', ' '));
    }

    private static byte[] object(String... keysAndValues) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            for (int i = 0; i < keysAndValues.length; i += 2) g.writeStringField(keysAndValues[i], keysAndValues[i + 1]);
            g.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException(e);                // writing to memory
        }
        return out.toByteArray();
    }

    /** Stops accepting, fails waiting calls, frees the model. */
    @Override
    public void close() {
        server.stop(0);
        batching.close();
        model.close();
        requests.close();
    }
}
