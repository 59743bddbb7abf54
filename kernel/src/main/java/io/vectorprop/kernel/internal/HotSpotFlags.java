package io.vectorprop.kernel.internal;

import java.lang.management.ManagementFactory;

import com.sun.management.HotSpotDiagnosticMXBean;

/** HotSpot's flags (-XX:…), as the JVM reports them through its management API. */
public final class HotSpotFlags {
    private HotSpotFlags() {}

    /** The value of flag {@code name}, or null where it cannot be read (not HotSpot, or no such flag). */
    public static String value(String name) {
        try {
            return ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class).getVMOption(name).getValue();
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Flag {@code name} as a boolean; false where it cannot be read. */
    public static boolean isOn(String name) {
        return Boolean.parseBoolean(value(name));
    }
}
