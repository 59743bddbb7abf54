package io.vectorprop.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A reader of the protocol-buffers wire format over one message's bytes {@code [pos, end)} of a
 * (memory-mapped) file: a field key is a varint {@code field << 3 | wireType}; wire type 0 is a
 * varint, 1 eight bytes, 2 a varint length then that many bytes (strings, bytes, sub-messages,
 * packed repeated numbers), 5 four bytes. Every length is checked against the bytes that remain
 * before anything is read or allocated, so a forged file ends in an {@link IOException} naming the
 * file and byte offset, never in an exception trace, a huge allocation or a loop.
 */
final class ProtoReader {
    static final int VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, FIXED32 = 5;
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Longest string read (names, op types): far above any real name, far below a memory problem. */
    static final int MAX_STRING = 1 << 16;

    private final Path file;
    private final MemorySegment bytes;
    private long pos;
    private final long end;
    private int field, wireType;

    private ProtoReader(Path file, MemorySegment bytes, long pos, long end) {
        this.file = file;
        this.bytes = bytes;
        this.pos = pos;
        this.end = end;
    }

    /** A reader of the whole of {@code bytes}, one top-level message. */
    static ProtoReader of(Path file, MemorySegment bytes) {
        return new ProtoReader(file, bytes, 0, bytes.byteSize());
    }

    /** Reads the next field key; false at the end of the message. Then call one of the value readers or {@link #skip}. */
    boolean next() throws IOException {
        if (pos >= end) return false;
        long at = pos, key = varint();
        field = (int) (key >>> 3);
        wireType = (int) (key & 7);
        if ((key >>> 3) < 1 || (key >>> 3) > (1 << 29) - 1) throw error(at, "field number " + (key >>> 3) + " is out of range");
        if (wireType != VARINT && wireType != FIXED64 && wireType != LENGTH_DELIMITED && wireType != FIXED32) {
            throw error(at, "wire type " + wireType + " of field " + field + " is not supported (groups are obsolete)");
        }
        return true;
    }

    int field() { return field; }

    int wireType() { return wireType; }

    /** The byte offset in the file of the next byte to read. */
    long position() { return pos; }

    long varint() throws IOException {
        long at = pos, result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) throw error(at, "truncated varint");
            byte b = bytes.get(ValueLayout.JAVA_BYTE, pos++);
            result |= (long) (b & 0x7F) << shift;
            if (b >= 0) return result;
        }
        throw error(at, "varint longer than 10 bytes");
    }

    int fixed32() throws IOException {
        need(4, "4-byte value");
        int v = bytes.get(INT_LE, pos);
        pos += 4;
        return v;
    }

    long fixed64() throws IOException {
        need(8, "8-byte value");
        long v = bytes.get(LONG_LE, pos);
        pos += 8;
        return v;
    }

    /** The value of a wire-type-0 field as an int64 (sign as written). */
    long int64() throws IOException {
        expect(VARINT);
        return varint();
    }

    /** The value of a float field (wire type 5). */
    float float32() throws IOException {
        expect(FIXED32);
        return Float.intBitsToFloat(fixed32());
    }

    /** The bytes of a length-delimited field, as a slice of the file (nothing copied). */
    MemorySegment bytes() throws IOException {
        expect(LENGTH_DELIMITED);
        long at = pos, length = varint();
        if (length < 0 || length > end - pos) {
            throw error(at, "field " + field + " claims " + Long.toUnsignedString(length) + " bytes but " + (end - pos) + " remain");
        }
        MemorySegment slice = bytes.asSlice(pos, length);
        pos += length;
        return slice;
    }

    /** A reader of the sub-message in a length-delimited field. */
    ProtoReader message() throws IOException {
        MemorySegment slice = bytes();                     // checked against what remains; pos is now past it
        return new ProtoReader(file, bytes, pos - slice.byteSize(), pos);
    }

    /** A UTF-8 string field of at most {@link #MAX_STRING} bytes. */
    String string() throws IOException {
        long at = pos;
        MemorySegment s = bytes();
        if (s.byteSize() > MAX_STRING) throw error(at, "string of " + s.byteSize() + " bytes in field " + field + " is too long");
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(s.asByteBuffer()).toString();
        } catch (CharacterCodingException e) {
            throw error(at, "field " + field + " is not valid UTF-8");
        }
    }

    /** Skips the value of the current field. */
    void skip() throws IOException {
        switch (wireType) {
            case VARINT -> varint();
            case FIXED64 -> {
                need(8, "8-byte value");
                pos += 8;
            }
            case FIXED32 -> {
                need(4, "4-byte value");
                pos += 4;
            }
            case LENGTH_DELIMITED -> bytes();
            default -> throw error(pos, "wire type " + wireType);
        }
    }

    private void need(long n, String what) throws IOException {
        if (end - pos < n) throw error(pos, "truncated " + what + " in field " + field);
    }

    void expect(int wire) throws IOException {
        if (wireType != wire) {
            throw error(pos, "field " + field + " has wire type " + wireType + ", expected " + wire);
        }
    }

    IOException error(long at, String message) {
        return new IOException(file + ": not a valid ONNX file: byte " + at + ": " + message);
    }

    Path file() { return file; }
}
