package io.vectorprop.spark;

import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

/** Counts the tasks that ended in failure, seen from the driver (in every executor JVM). */
final class FailedTasks extends SparkListener {
    private final SparkContext sc;
    private final AtomicInteger failed = new AtomicInteger();

    private FailedTasks(SparkContext sc) {
        this.sc = sc;
    }

    static FailedTasks listen(SparkContext sc) {
        FailedTasks l = new FailedTasks(sc);
        sc.addSparkListener(l);
        return l;
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        if (!end.taskInfo().successful()) failed.incrementAndGet();
    }

    /**
     * Failed tasks so far. The listener bus delivers events on its own thread, so this first waits until
     * the bus has delivered every event posted before the call (Spark's own tests do the same).
     */
    int count() throws TimeoutException {
        sc.listenerBus().waitUntilEmpty();
        return failed.get();
    }
}
