package io.vectorprop.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

/**
 * The protobuf wire-format reader against byte strings written here by the rules of the protocol
 * buffers encoding guide (varints of 7 bits little-endian groups, keys {@code field << 3 | wireType},
 * little-endian fixed widths), including the guide's own examples, and against forged messages cut at
 * every kind of boundary: each must end in an {@link IOException} that names the file and the offset.
 */
class ProtoReaderTest {
    private static final Path FILE = Path.of("forged.onnx");

    private static ProtoReader reader(int... bytes) {
        byte[] b = new byte[bytes.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) bytes[i];
        return ProtoReader.of(FILE, MemorySegment.ofArray(b));
    }

    private static ProtoReader reader(byte[] bytes) {
        return ProtoReader.of(FILE, MemorySegment.ofArray(bytes));
    }

    /** A varint as the encoding guide writes it: 7 bits per byte, low group first, high bit = more follows. */
    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static void key(ByteArrayOutputStream out, long field, int wireType) {
        varint(out, field << 3 | wireType);
    }

    private static void littleEndian(ByteArrayOutputStream out, long v, int bytes) {
        for (int i = 0; i < bytes; i++) out.write((int) (v >>> (8 * i)));
    }

    private static IOException refused(ProtoReader r, Reading reading, String expected) {
        IOException e = assertThrows(IOException.class, () -> reading.run(r));
        assertTrue(e.getMessage().startsWith(FILE + ": not a valid ONNX file: byte "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage() + " should say " + expected);
        return e;
    }

    interface Reading {
        void run(ProtoReader r) throws IOException;
    }

    @Test
    void theEncodingGuidesExamples() throws IOException {
        ProtoReader r = reader(0x08, 0x96, 0x01);                   // field 1, varint 150
        assertTrue(r.next());
        assertEquals(1, r.field());
        assertEquals(ProtoReader.VARINT, r.wireType());
        assertEquals(150, r.int64());
        assertEquals(3, r.position());
        assertFalse(r.next());

        r = reader(0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67);   // field 2, "testing"
        assertTrue(r.next());
        assertEquals(2, r.field());
        assertEquals(ProtoReader.LENGTH_DELIMITED, r.wireType());
        assertEquals("testing", r.string());
        assertEquals(9, r.position());
        assertFalse(r.next());

        // int64 −2 is ten bytes: 0xFE then eight 0xFF then 0x01
        r = reader(0x08, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
        assertTrue(r.next());
        assertEquals(-2, r.int64());
        assertEquals(11, r.position());
    }

    @Test
    void everyWireTypeIsReadAndSkippedToItsEnd() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        key(out, 1, ProtoReader.VARINT);
        varint(out, 1L << 40);
        key(out, 2, ProtoReader.FIXED64);
        littleEndian(out, 0x0102030405060708L, 8);
        key(out, 3, ProtoReader.LENGTH_DELIMITED);
        varint(out, 3);
        out.write(new byte[] {7, 8, 9}, 0, 3);
        key(out, 4, ProtoReader.FIXED32);
        littleEndian(out, Float.floatToIntBits(-1.5f), 4);
        key(out, (1 << 29) - 1, ProtoReader.VARINT);                 // the largest field number
        varint(out, 5);
        byte[] message = out.toByteArray();

        ProtoReader r = reader(message);
        assertTrue(r.next());
        assertEquals(1L << 40, r.int64());
        assertTrue(r.next());
        assertEquals(ProtoReader.FIXED64, r.wireType());
        assertEquals(0x0102030405060708L, r.fixed64());
        assertTrue(r.next());
        MemorySegment b = r.bytes();
        assertArrayEquals(new byte[] {7, 8, 9}, b.toArray(ValueLayout.JAVA_BYTE));
        assertTrue(r.next());
        assertEquals(-1.5f, r.float32());
        assertTrue(r.next());
        assertEquals((1 << 29) - 1, r.field());
        assertEquals(5, r.int64());
        assertEquals(message.length, r.position());
        assertFalse(r.next());

        int[] fields = new int[5];
        long[] ends = new long[5];
        r = reader(message);
        for (int i = 0; r.next(); i++) {
            fields[i] = r.field();
            r.skip();
            ends[i] = r.position();
        }
        assertArrayEquals(new int[] {1, 2, 3, 4, (1 << 29) - 1}, fields);
        assertArrayEquals(new long[] {7, 16, 21, 26, message.length}, ends);
    }

    @Test
    void aSubMessageEndsWhereItsLengthSays() throws IOException {
        // field 1: a message holding field 1 = 3 and field 2 = 4; after it, field 2 = 9
        ProtoReader r = reader(0x0A, 0x04, 0x08, 0x03, 0x10, 0x04, 0x10, 0x09);
        assertTrue(r.next());
        ProtoReader inner = r.message();
        assertEquals(2, inner.position());
        assertTrue(inner.next());
        assertEquals(3, inner.int64());
        assertTrue(inner.next());
        assertEquals(4, inner.int64());
        assertFalse(inner.next());
        assertTrue(r.next());
        assertEquals(2, r.field());
        assertEquals(9, r.int64());
        assertFalse(r.next());
    }

    @Test
    void fieldNumbersAndWireTypesOutsideTheProtocolAreRefused() throws IOException {
        refused(reader(0x00, 0x01), ProtoReader::next, "field number 0 is out of range");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        key(out, 1 << 29, ProtoReader.VARINT);
        varint(out, 1);
        refused(reader(out.toByteArray()), ProtoReader::next, "field number " + (1 << 29) + " is out of range");
        for (int wire = 0; wire < 8; wire++) {
            ProtoReader r = reader(1 << 3 | wire, 0, 0, 0, 0, 0, 0, 0, 0);
            boolean supported = wire == ProtoReader.VARINT || wire == ProtoReader.FIXED64
                    || wire == ProtoReader.LENGTH_DELIMITED || wire == ProtoReader.FIXED32;
            if (supported) {
                assertTrue(r.next(), "wire type " + wire);
                assertEquals(wire, r.wireType());
            } else {
                refused(r, ProtoReader::next, "wire type " + wire + " of field 1 is not supported");
            }
        }
    }

    @Test
    void aValueOfTheWrongWireTypeIsRefused() throws IOException {
        ProtoReader r = reader(0x08, 0x01);
        r.next();
        refused(r, ProtoReader::float32, "field 1 has wire type 0, expected 5");
        refused(r, ProtoReader::bytes, "field 1 has wire type 0, expected 2");
        refused(r, ProtoReader::string, "expected 2");
        refused(r, ProtoReader::message, "expected 2");
        r = reader(0x0D, 0, 0, 0, 0);
        r.next();
        refused(r, ProtoReader::int64, "field 1 has wire type 5, expected 0");
    }

    @Test
    void valuesCutShortAreRefusedAndWholeOnesAreNot() throws IOException {
        ProtoReader r = reader(0x0D, 1, 2, 3, 4);                  // a complete fixed32 …
        r.next();
        assertEquals(0x04030201, r.fixed32());
        r = reader(0x0D, 1, 2, 3);                                 // … and one byte short
        r.next();
        refused(r, ProtoReader::fixed32, "truncated 4-byte value in field 1");
        r = reader(0x0D, 1, 2, 3);
        r.next();
        refused(r, ProtoReader::skip, "truncated 4-byte value in field 1");
        r = reader(0x09, 1, 2, 3, 4, 5, 6, 7, 8);
        r.next();
        r.skip();
        assertEquals(9, r.position());
        r = reader(0x09, 1, 2, 3, 4, 5, 6, 7);
        r.next();
        refused(r, ProtoReader::fixed64, "truncated 8-byte value in field 1");
        r = reader(0x09, 1, 2, 3, 4, 5, 6, 7);
        r.next();
        refused(r, ProtoReader::skip, "truncated 8-byte value in field 1");

        r = reader(0x12, 0x02, 'o', 'k');                          // a length of exactly what remains …
        r.next();
        assertEquals("ok", r.string());
        r = reader(0x12, 0x03, 'o', 'k');                          // … and one more
        r.next();
        refused(r, ProtoReader::bytes, "field 2 claims 3 bytes but 2 remain");
        r = reader(0x12, 0x03, 'o', 'k');
        r.next();
        refused(r, ProtoReader::skip, "field 2 claims 3 bytes but 2 remain");
        // a length of 2^64 − 1 is negative as a long: refused, not sliced
        r = reader(0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
        r.next();
        refused(r, ProtoReader::bytes, "claims 18446744073709551615 bytes");

        refused(reader(0x08, 0x80), r2 -> { r2.next(); r2.int64(); }, "byte 1: truncated varint");
        byte[] eleven = new byte[12];
        eleven[0] = 0x08;
        Arrays.fill(eleven, 1, 12, (byte) 0x80);
        refused(reader(eleven), r2 -> { r2.next(); r2.int64(); }, "byte 1: varint longer than 10 bytes");
    }

    @Test
    void stringsAreBoundedAndMustBeUtf8() throws IOException {
        for (int length : new int[] {ProtoReader.MAX_STRING, ProtoReader.MAX_STRING + 1}) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            key(out, 3, ProtoReader.LENGTH_DELIMITED);
            varint(out, length);
            byte[] text = new byte[length];
            Arrays.fill(text, (byte) 'a');
            out.write(text, 0, length);
            ProtoReader r = reader(out.toByteArray());
            r.next();
            if (length <= ProtoReader.MAX_STRING) assertEquals(length, r.string().length());
            else refused(r, ProtoReader::string, "string of " + length + " bytes in field 3 is too long");
        }
        ProtoReader r = reader(0x1A, 0x02, 0xC3, 0x28);             // an invalid two-byte sequence
        r.next();
        refused(r, ProtoReader::string, "byte 1: field 3 is not valid UTF-8");
        r = reader(0x1A, 0x02, 0xC3, 0xA9);                         // "é"
        r.next();
        assertEquals("é", r.string());
    }
}
