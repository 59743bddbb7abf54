package io.vectorprop.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

/** The command line end to end on small CSV data, and every kind of bad input. */
class CommandLineTest {
    @TempDir Path dir;

    record Run(int status, String out, String err) {
        String lastLine() {
            String[] lines = out.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(status, out.toString(), err.toString());
    }

    Path csv(String name, int rows, long seed) throws Exception {
        java.util.Random rnd = new java.util.Random(seed);
        StringBuilder s = new StringBuilder("label,a,b,c,d\n");
        for (int i = 0; i < rows; i++) {
            int c = rnd.nextInt(3);
            s.append(c);
            for (int j = 0; j < 4; j++) s.append(',').append((float) (rnd.nextGaussian() * 0.5 + (j == c ? 2 : 0)));
            s.append('\n');
        }
        Path p = dir.resolve(name);
        Files.writeString(p, s);
        return p;
    }

    static double jsonNumber(String json, String field) throws Exception {
        try (JsonParser p = new JsonFactory().createParser(json)) {
            while (p.nextToken() != null) {
                if (p.currentToken() == JsonToken.FIELD_NAME && p.currentName().equals(field)) {
                    p.nextToken();
                    return p.getDoubleValue();
                }
            }
        }
        throw new AssertionError("no field " + field + " in " + json);
    }

    @Test
    void trainSaveEvaluateAndResumeOnCsv() throws Exception {
        Path train = csv("train.csv", 600, 1), test = csv("test.csv", 200, 2), model = dir.resolve("m.safetensors");
        Run r = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--layers", "4,16,3",
                "--epochs", "3", "--batch", "16", "--lr", "0.01", "--save", model.toString(), "--plot",
                dir.resolve("p.png").toString(), "--no-progress", "--json");
        assertEquals(0, r.status(), r.err());
        double acc = jsonNumber(r.lastLine(), "testAccuracy");
        assertTrue(acc > 0.9, r.out());
        assertTrue(r.lastLine().contains("\"epochs\":[{\"epoch\":1,"), r.lastLine());
        assertTrue(Files.size(dir.resolve("p.png")) > 1000);
        Run e = run("evaluate", "--model", model.toString(), "--test-csv", test.toString(), "--json");
        assertEquals(0, e.status(), e.err());
        assertEquals(acc, jsonNumber(e.lastLine(), "accuracy"), 1e-9, "the saved model must score what training reported");
        Run resumed = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--layers", "4,16,3",
                "--epochs", "1", "--init", model.toString(), "--no-progress", "--json");
        assertEquals(0, resumed.status(), resumed.err());
        Run wrongArch = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--layers", "4,8,3",
                "--init", model.toString());
        assertBad(wrongArch, "4,16,3");
    }

    /** GELU, SiLU and layer norms from the command line: trained, saved, evaluated to the same accuracy; bad lists named. */
    @Test
    void perLayerActivationsAndLayerNormsFromTheCommandLine() throws Exception {
        Path train = csv("train.csv", 600, 1), test = csv("test.csv", 200, 2), model = dir.resolve("ln.safetensors");
        Run r = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--layers", "4,16,12,3",
                "--activation", "gelu,silu", "--layer-norm", "after,before", "--epochs", "3", "--batch", "16", "--lr", "0.01",
                "--save", model.toString(), "--no-progress", "--json");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("gelu+layer-norm, layer-norm+silu"), r.out());
        double acc = jsonNumber(r.lastLine(), "testAccuracy");
        assertTrue(acc > 0.9, r.out());
        Run e = run("evaluate", "--model", model.toString(), "--test-csv", test.toString(), "--json");
        assertEquals(0, e.status(), e.err());
        assertEquals(acc, jsonNumber(e.lastLine(), "accuracy"), 1e-9, "the saved model must score what training reported");
        String t = train.toString(), s = test.toString();
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--activation", "gelu,silu"), "one per hidden layer");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--layer-norm", "middle"), "middle");
    }

    @Test
    void mazurAndGradcheckJson() throws Exception {
        Run m = run("mazur", "--json", "--iterations", "1");
        assertEquals(0, m.status(), m.err());
        assertEquals(0.298371109, jsonNumber(m.lastLine(), "initialError"), 1e-7);
        assertEquals(0.35891648, jsonNumber(m.lastLine(), "w5"), 1e-7);
        Run g = run("gradcheck", "--json");
        assertEquals(0, g.status(), g.err());
        assertTrue(jsonNumber(g.lastLine(), "maxRelativeError") < 1e-3);
    }

    static void assertBad(Run r, String mention) {
        assertTrue(r.status() != 0, "must fail: " + r.out());
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), "one line on stderr, got:\n" + err);
        assertTrue(err.contains(mention), "error should mention '" + mention + "': " + err);
        assertFalse(err.contains("\tat "), "no stack trace: " + err);
    }

    @Test
    void badInputGivesOneClearLine() throws Exception {
        Path train = csv("train.csv", 50, 1), test = csv("test.csv", 20, 2);
        String t = train.toString(), s = test.toString();
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--lr", "NaN"), "--lr");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--batch", "0"), "batch size 0");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "5,8,3"), "5,8,3");
        assertBad(run("train", "--train-csv", dir.resolve("missing.csv").toString(), "--test-csv", s, "--layers", "4,8,3"),
                "missing.csv");
        Path bad = dir.resolve("bad.csv");
        Files.writeString(bad, "1,0.5,0.5,0.5,0.5\n2,0.5,x,0.5,0.5\n");
        assertBad(run("train", "--train-csv", bad.toString(), "--test-csv", s, "--layers", "4,8,3"), "bad.csv:2");
        assertBad(run("train", "--data", dir.resolve("nowhere").toString()), "dataset-fashion-mnist");
        Path forged = dir.resolve("forged.safetensors");
        Files.write(forged, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 0, '{', '}'});
        assertBad(run("evaluate", "--model", forged.toString(), "--test-csv", s), "header length");
        assertBad(run("train", "--optimizer", "rmsprop"), "rmsprop");
        assertBad(run("train", "--nonsense"), "--nonsense");
    }

    /** A CSV with the label in the last column, named, and features far from unit range (one of them constant). */
    Path csvLabelLast(String name, int rows, long seed) throws Exception {
        java.util.Random rnd = new java.util.Random(seed);
        StringBuilder s = new StringBuilder("a,b,c,d,const,class\n");
        for (int i = 0; i < rows; i++) {
            int c = rnd.nextInt(3);
            for (int j = 0; j < 4; j++) s.append((float) (1000 + 200 * (rnd.nextGaussian() * 0.5 + (j == c ? 2 : 0)))).append(',');
            s.append("3.5,").append(c).append('\n');
        }
        Path p = dir.resolve(name);
        Files.writeString(p, s);
        return p;
    }

    /** --standardize: the model file carries the transformation; evaluate and Predictor.load score what training reported. */
    @Test
    void aStandardizedModelScoresTheSameFromEveryReader() throws Exception {
        Path train = csvLabelLast("train.csv", 600, 3), test = csvLabelLast("test.csv", 200, 4), model = dir.resolve("s.safetensors");
        Run r = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--label-column", "class",
                "--layers", "5,16,3", "--epochs", "4", "--batch", "16", "--lr", "0.01", "--standardize", "--save", model.toString(),
                "--no-progress", "--json");
        assertEquals(0, r.status(), r.err() + r.out());
        double acc = jsonNumber(r.lastLine(), "testAccuracy");
        assertTrue(acc > 0.9, "standardized inputs learn: " + r.out());
        Run e = run("evaluate", "--model", model.toString(), "--test-csv", test.toString(), "--label-column", "class", "--json");
        assertEquals(0, e.status(), e.err());
        assertEquals(acc, jsonNumber(e.lastLine(), "accuracy"), 1e-12, "evaluate applies the stored standardization");
        io.vectorprop.data.Dataset t = io.vectorprop.data.CsvReader.read(test, new io.vectorprop.data.CsvReader.Options(
                io.vectorprop.data.CsvReader.Header.DETECT, "5"));
        try (t; var p = io.vectorprop.network.Predictor.load(model)) {
            assertEquals(acc, io.vectorprop.network.Trainer.evaluate(p, t, null), 1e-12, "Predictor.load applies it too");
        }
        Run raw = run("train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--label-column", "class",
                "--layers", "5,16,3", "--epochs", "4", "--batch", "16", "--lr", "0.01", "--no-progress", "--json");
        assertTrue(jsonNumber(raw.lastLine(), "testAccuracy") < acc, "without --standardize these features train worse");
    }

    /** --checkpoint then --resume with a larger --epochs ends where one uninterrupted run ends, bit for bit. */
    @Test
    void resumeContinuesTheRunExactly() throws Exception {
        Path train = csv("train.csv", 400, 5), test = csv("test.csv", 100, 6);
        Path whole = dir.resolve("whole.safetensors"), resumed = dir.resolve("resumed.safetensors"), ckpt = dir.resolve("run.ckpt");
        String[] common = {"train", "--train-csv", train.toString(), "--test-csv", test.toString(), "--layers", "4,16,3",
                "--batch", "16", "--lr", "0.01", "--dropout", "0.2", "--validation-fraction", "0.2", "--schedule", "step",
                "--step-epochs", "2", "--no-progress"};
        Run a = run(concat(common, "--epochs", "6", "--save", whole.toString()));
        assertEquals(0, a.status(), a.err());
        Run b = run(concat(common, "--epochs", "3", "--checkpoint", ckpt.toString()));
        assertEquals(0, b.status(), b.err());
        Run c = run(concat(common, "--epochs", "6", "--resume", ckpt.toString(), "--save", resumed.toString()));
        assertEquals(0, c.status(), c.err());
        assertTrue(c.out().contains("resuming from") && c.out().contains("after epoch 3"), c.out());
        try (var x = io.vectorprop.network.Network.load(whole, null, io.vectorprop.kernel.Kernels.get());
             var y = io.vectorprop.network.Network.load(resumed, null, io.vectorprop.kernel.Kernels.get())) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(x.parameters().toArray(), y.parameters().toArray());
        }
        assertBad(run(concat(common, "--epochs", "6", "--resume", ckpt.toString(), "--seed", "7")), "seed=7");
        assertBad(run(concat(common, "--epochs", "3", "--resume", ckpt.toString())), "larger --epochs");
    }

    static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void trainingOptionsAreCheckedWithClearErrors() throws Exception {
        Path train = csv("train.csv", 50, 1), test = csv("test.csv", 20, 2);
        String t = train.toString(), s = test.toString();
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--lr-decay", "0.5"), "--lr-decay");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--schedule", "warm"), "warm");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--early-stopping", "3"), "validation fraction");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--dropout", "1"), "dropout 1.0");
        assertBad(run("train", "--train-csv", t, "--test-csv", s, "--layers", "4,8,3", "--label-column", "nope"), "nope");
        Path ragged = dir.resolve("ragged.csv");
        Files.writeString(ragged, "label,a,b,c,d\n1,0.5,0.5,0.5,0.5\n2,0.5,0.5\n");
        assertBad(run("train", "--train-csv", ragged.toString(), "--test-csv", s, "--layers", "4,8,3"), "ragged.csv:3");
    }
}
