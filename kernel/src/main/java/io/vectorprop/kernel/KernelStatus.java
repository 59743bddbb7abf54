package io.vectorprop.kernel;

import io.vectorprop.kernel.internal.HotSpotFlags;

/**
 * What computes in this JVM, for a service to check (and log, or refuse to start on) before it takes
 * traffic: the scalar kernels or the Vector API ones run 10× or more apart, and so do a JVM with and
 * without its optimizing JIT, and neither shows up as an error.
 *
 * @param implementation {@code simd} or {@code scalar}
 * @param vectorBits     bits per vector of the SIMD kernels' species, 0 for scalar
 * @param floatLanes     floats per vector, 1 for scalar
 * @param fastFma        whether the JVM compiles fused multiply-adds to one instruction
 * @param optimizingJit  whether C2 (or another top-tier JIT) can compile the kernels; false under
 *                       {@code -Xint} or {@code -XX:TieredStopAtLevel} below 4; true when unknown
 * @param jit            what was found out about the JIT, in words
 * @param description    the one-line description of the kernels
 *
 * <p>Immutable: safe to share between threads.
 */
public record KernelStatus(String implementation, int vectorBits, int floatLanes, boolean fastFma,
                           boolean optimizingJit, String jit, String description) {

    /** True when predictions run at the speed this library is built for: SIMD kernels and an optimizing JIT. */
    public boolean isFullSpeed() {
        return implementation.equals("simd") && optimizingJit && fastFma;
    }

    /** HotSpot's UseFMA flag, read through the management API; true on every x86 since Haswell. */
    static boolean hotSpotUsesFma() {
        return HotSpotFlags.isOn("UseFMA");
    }

    /** The status of {@code k}. */
    static KernelStatus of(Kernels k, int vectorBits, int floatLanes) {
        String vmInfo = System.getProperty("java.vm.info", "");
        boolean optimizing = !vmInfo.contains("interpreted mode");
        String jit = vmInfo.contains("interpreted mode") ? "interpreter only (-Xint)" : "JIT on";
        String stopAtFlag = HotSpotFlags.value("TieredStopAtLevel"), tieredFlag = HotSpotFlags.value("TieredCompilation");
        if (stopAtFlag == null || tieredFlag == null) {
            jit += " (HotSpot flags not readable)";
        } else {
            int stopAt = Integer.parseInt(stopAtFlag);
            boolean tiered = Boolean.parseBoolean(tieredFlag);
            if (optimizing && tiered && stopAt < 4) {
                optimizing = false;
                jit = "C1 only (-XX:TieredStopAtLevel=" + stopAt + "): no C2, the kernels run several times slower";
            } else if (optimizing) {
                jit = tiered ? "tiered, up to C2" : "C2 without tiers";
            }
        }
        return new KernelStatus(k.name(), vectorBits, floatLanes, floatLanes == 1 || hotSpotUsesFma(),
                optimizing, jit, k.description());
    }
}
