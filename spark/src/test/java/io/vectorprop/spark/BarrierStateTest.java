package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * The state a barrier fit sends every epoch (task to driver) and at its start (driver to tasks): the
 * bytes are those of the documented field order written with {@code DataOutputStream}, and decode gives
 * back every value bit for bit.
 */
class BarrierStateTest {
    private static BarrierTraining.State sample() {
        Random rnd = new Random(3);
        float[] parameters = new float[1_001];
        for (int i = 0; i < parameters.length; i++) parameters[i] = (float) rnd.nextGaussian();
        parameters[7] = -0f;
        parameters[8] = Float.NaN;
        parameters[9] = Float.MIN_VALUE;
        float[][] state = {new float[1_001], new float[1_001]};
        for (float[] block : state) for (int i = 0; i < block.length; i++) block[i] = rnd.nextFloat();
        return new BarrierTraining.State(4, parameters, state, 123_456_789_012L, new double[] {2.5, 1.25, Math.PI, 0.1}, true);
    }

    /** The format, one value at a time, as {@code DataOutputStream} writes it. */
    private static byte[] written(BarrierTraining.State s) throws IOException {
        var bytes = new ByteArrayOutputStream();
        try (var out = new DataOutputStream(bytes)) {
            out.writeInt(s.epochs());
            out.writeInt(s.parameters().length);
            for (float f : s.parameters()) out.writeFloat(f);
            out.writeInt(s.optimizerState().length);
            for (float[] block : s.optimizerState()) {
                out.writeInt(block.length);
                for (float f : block) out.writeFloat(f);
            }
            out.writeLong(s.optimizerSteps());
            out.writeInt(s.lossHistory().length);
            for (double d : s.lossHistory()) out.writeDouble(d);
            out.writeBoolean(s.converged());
        }
        return bytes.toByteArray();
    }

    @Test
    void encodesTheDocumentedFormatAndDecodesEveryBit() throws IOException {
        for (BarrierTraining.State s : new BarrierTraining.State[] {
                sample(), new BarrierTraining.State(0, new float[0], new float[0][], 0, new double[0], false)}) {
            byte[] bytes = s.encode();
            assertArrayEquals(written(s), bytes, "encoded bytes");
            BarrierTraining.State back = BarrierTraining.State.decode(new DataInputStream(new ByteArrayInputStream(bytes)));
            assertEquals(s.epochs(), back.epochs());
            assertArrayEquals(s.parameters(), back.parameters(), "parameters");
            assertEquals(s.optimizerState().length, back.optimizerState().length, "optimizer blocks");
            for (int b = 0; b < s.optimizerState().length; b++) assertArrayEquals(s.optimizerState()[b], back.optimizerState()[b], "block " + b);
            assertEquals(s.optimizerSteps(), back.optimizerSteps());
            assertArrayEquals(s.lossHistory(), back.lossHistory(), "loss history");
            assertEquals(s.converged(), back.converged());
        }
    }

    @Test
    void aTruncatedMessageIsAnError() {
        byte[] bytes = sample().encode();
        byte[] cut = Arrays.copyOf(bytes, 4 + 4 + 4 * 500);
        assertThrows(EOFException.class, () -> BarrierTraining.State.decode(new DataInputStream(new ByteArrayInputStream(cut))));
    }
}
