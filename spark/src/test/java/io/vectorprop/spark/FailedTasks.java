package io.vectorprop.spark;

import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

/** Counts the tasks that ended in failure, seen from the driver (in every executor JVM). */
final class FailedTasks extends SparkListener {
    private final AtomicInteger failed = new AtomicInteger();

    static FailedTasks listen(SparkContext sc) {
        FailedTasks l = new FailedTasks();
        sc.addSparkListener(l);
        return l;
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        if (!end.taskInfo().successful()) failed.incrementAndGet();
    }

    /** Failed tasks so far; the listener bus delivers events asynchronously, so this waits a little for them. */
    int count() {
        for (int i = 0; i < 100 && failed.get() == 0; i++) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return failed.get();
    }
}
