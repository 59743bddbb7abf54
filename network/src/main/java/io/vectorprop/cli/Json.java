package io.vectorprop.cli;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

/** Builds the one-line JSON object that {@code --json} prints last. */
final class Json {
    interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    private Json() {}

    static String object(Body body) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = new JsonFactory().createGenerator(out)) {
            g.writeStartObject();
            body.write(g);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /** Writes a double, or null when it is not finite (JSON has no NaN). */
    static void number(JsonGenerator g, String name, double v) throws IOException {
        if (Double.isFinite(v)) g.writeNumberField(name, v); else g.writeNullField(name);
    }
}
