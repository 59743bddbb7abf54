package io.vectorprop.kernel.internal;

import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

class ScratchPoolTest {

    /**
     * Two platform threads whose ids fall on the same home slot each get back the buffer they released
     * last, whichever released first: without the hint the one that scans first takes the buffer at
     * the home slot, which is the other's when the other released first.
     */
    @Test
    void aThreadTakesBackTheBufferItReleasedEvenWhenItsHomeSlotHoldsAnothers() throws Exception {
        int capacity = 4;
        AtomicInteger made = new AtomicInteger();
        ScratchPool<Integer> pool = new ScratchPool<>(capacity, made::incrementAndGet, x -> { });
        // Two long-lived workers with the same home slot (ids equal modulo the capacity), each serving
        // requests one at a time, as a GEMM worker and a caller do.
        List<Worker> workers = new ArrayList<>();
        while (workers.size() < 2) {
            Worker w = new Worker(pool);
            if (workers.isEmpty() || w.threadId() % capacity == workers.get(0).threadId() % capacity) workers.add(w);
        }
        Worker a = workers.get(0), b = workers.get(1);
        for (Worker w : workers) w.start();
        Integer[] hold = new Integer[2];
        hold[0] = a.call(Op.ACQUIRE, null);              // both hold a buffer at once: two buffers exist
        hold[1] = b.call(Op.ACQUIRE, null);
        b.call(Op.RELEASE, hold[1]);                    // b's goes to the common home slot, a's to the next
        a.call(Op.RELEASE, hold[0]);
        for (int round = 0; round < 3; round++) {
            Integer got = a.call(Op.ACQUIRE, null);
            assertSame(hold[0], got, "round " + round + ": thread a took thread b's buffer");
            a.call(Op.RELEASE, got);
            got = b.call(Op.ACQUIRE, null);
            assertSame(hold[1], got, "round " + round + ": thread b took thread a's buffer");
            b.call(Op.RELEASE, got);
        }
        for (Worker w : workers) w.stopAndJoin();
    }

    private enum Op { ACQUIRE, RELEASE, STOP }

    /** A platform thread that runs pool operations handed to it one at a time. */
    private static final class Worker extends Thread {
        private final ScratchPool<Integer> pool;
        private final java.util.concurrent.SynchronousQueue<Object[]> requests = new java.util.concurrent.SynchronousQueue<>();
        private final java.util.concurrent.SynchronousQueue<AtomicReference<Integer>> answers = new java.util.concurrent.SynchronousQueue<>();

        Worker(ScratchPool<Integer> pool) {
            this.pool = pool;
            setDaemon(true);
        }

        Integer call(Op op, Integer buffer) throws InterruptedException {
            requests.put(new Object[] {op, buffer});
            return answers.take().get();
        }

        void stopAndJoin() throws InterruptedException {
            requests.put(new Object[] {Op.STOP, null});
            join();
        }

        @Override
        public void run() {
            try {
                while (true) {
                    Object[] r = requests.take();
                    Integer result = switch ((Op) r[0]) {
                        case ACQUIRE -> pool.acquire();
                        case RELEASE -> {
                            pool.release((Integer) r[1]);
                            yield null;
                        }
                        case STOP -> null;
                    };
                    if (r[0] == Op.STOP) return;
                    answers.put(new AtomicReference<>(result));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
