package io.vectorprop.kernel.internal;

import java.lang.foreign.MemorySegment;

/** Whether the GEMM pool's workers may touch memory: not when it is from a confined arena. */
public final class Sharing {
    /** A never-started thread, to ask whether a segment may be touched by threads other than its owner. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });

    private Sharing() {}

    /** Whether threads other than the caller may read and write {@code memory}. */
    public static boolean isShared(MemorySegment memory) {
        return memory.isAccessibleBy(OTHER_THREAD);
    }
}
