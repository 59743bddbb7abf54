package io.vectorprop.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

import io.vectorprop.kernel.Activation;
import io.vectorprop.network.Optimizer;

/**
 * The exchange alone, three tasks in this JVM, through memory, through Spark's transport, and mixed:
 * every task ends each step with the sum of all shares added in partition order (computed here the
 * driver's way), bit for bit, and the loss sum likewise; a task that stops ends its peers' waits at once.
 */
class GradientExchangeTest {
    static final int TASKS = 3, FLOATS = 10_001, STEPS = 6;
    /** All through memory, all through the transport, and mixed (tasks 0 and 1 as on one executor, task 2 on another). */
    static final boolean[][] PATHS = {{true, true, true}, {false, false, false}, {true, true, false}};

    /** Task {@code t}'s share in step {@code s}; none for task 1 in step 2 (a partition without rows). */
    static float[] share(int t, int s) {
        if (t == 1 && s == 2) return null;
        Random r = new Random(1000L * t + s);
        float[] v = new float[FLOATS];
        for (int i = 0; i < FLOATS; i++) v[i] = (float) r.nextGaussian() * (1 << r.nextInt(12));
        return v;
    }

    /** What the driver computes in the job-per-step mode: zeros, plus each partition's share in partition order. */
    static float[] driverSum(int s) {
        float[] total = new float[FLOATS];
        for (int t = 0; t < TASKS; t++) {
            float[] v = share(t, s);
            if (v != null) for (int i = 0; i < FLOATS; i++) total[i] += v[i];
        }
        return total;
    }

    static Rendezvous rendezvous() {
        return rendezvous(FLOATS);
    }

    /** A rendezvous on the loopback interface handing out a start state of {@code floats} parameters (also for {@link ExchangeCost}). */
    static Rendezvous rendezvous(int floats) {
        var options = new DataParallelTraining.Options(new int[] {2, 2}, Activation.RELU, Optimizer.Kind.SGD, 0.1f, 1, 1, 0, 0,
                false, DataParallelTraining.Exchange.BARRIER, 30, 1);
        Rendezvous r = new Rendezvous("127.0.0.1", null);
        r.startFrom(new BarrierTraining.State(0, new float[floats], new float[0][], 0, new double[0], false), options, 10);
        return r;
    }

    interface Task { Object run(GradientExchange x, int self) throws Exception; }

    /**
     * Runs {@code task} as each of the stage's tasks on its own thread; task t reaches the others in this
     * JVM through memory where {@code inMemory[t]} (and they through memory where both say so); returns
     * their futures.
     */
    static List<Future<Object>> runTasks(ExecutorService pool, Rendezvous r, boolean[] inMemory, Task task) {
        List<Future<Object>> results = new ArrayList<>();
        for (int t = 0; t < TASKS; t++) {
            int self = t;
            int local = 0;
            for (int j = 0; j < TASKS; j++) if (j != t && inMemory[t] && inMemory[j]) local++;
            int expectedLocal = local;
            results.add(pool.submit(() -> {
                try (GradientExchange x = new GradientExchange("127.0.0.1", self, TASKS, FLOATS, 30_000, null, inMemory[self])) {
                    x.meet(r.host(), r.port(), 0, "127.0.0.1");
                    assertEquals(expectedLocal, x.peersInThisJvm(), "peers of task " + self + " reached through memory");
                    return task.run(x, self);
                }
            }));
        }
        return results;
    }

    @Test
    void everyTaskGetsTheDriversSumInBothPaths() throws Exception {
        for (boolean[] inMemory : PATHS) {
            ExecutorService pool = Executors.newFixedThreadPool(TASKS);
            try (Rendezvous r = rendezvous()) {
                List<Future<Object>> results = runTasks(pool, r, inMemory, (x, self) -> {
                    List<float[]> totals = new ArrayList<>();
                    double[] losses = new double[STEPS];
                    for (int s = 0; s < STEPS; s++) {
                        float[] total = new float[FLOATS];
                        java.util.Arrays.fill(total, Float.NaN);            // nothing may survive from before
                        losses[s] = x.allReduce(100 + s, share(self, s), self + 0.1 * s, 1000, total);
                        totals.add(total);
                    }
                    return new Object[] {totals, losses};
                });
                for (int t = 0; t < TASKS; t++) {
                    Object[] got = (Object[]) results.get(t).get();
                    @SuppressWarnings("unchecked") List<float[]> totals = (List<float[]>) got[0];
                    double[] losses = (double[]) got[1];
                    for (int s = 0; s < STEPS; s++) {
                        assertArrayEquals(driverSum(s), totals.get(s), "task " + t + ", step " + s + ", in memory "
                                + java.util.Arrays.toString(inMemory));
                        double loss = 0;
                        for (int p = 0; p < TASKS; p++) loss += p + 0.1 * s;
                        assertEquals(loss, losses[s], 0.0, "loss of task " + t + ", step " + s);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void aTaskThatStopsEndsTheOthersWaitsAtOnce() throws Exception {
        for (boolean[] inMemory : PATHS) {
            ExecutorService pool = Executors.newFixedThreadPool(TASKS);
            try (Rendezvous r = rendezvous()) {
                List<Future<Object>> results = runTasks(pool, r, inMemory, (x, self) -> {
                    float[] total = new float[FLOATS];
                    x.allReduce(0, share(self, 0), 0, 0, total);
                    if (self == 2) return null;                              // leaves after step 0
                    return x.allReduce(1, share(self, 1), 0, 0, total);
                });
                results.get(2).get();
                for (int t = 0; t < 2; t++) {                               // not "within exchangeTimeout": at once
                    ExecutionException e = assertThrows(ExecutionException.class, results.get(t)::get);
                    assertInstanceOf(IllegalStateException.class, e.getCause());
                    assertTrue(e.getCause().getMessage().contains("partition 2 stopped before sending its gradient share of step 1"),
                            e.getCause().getMessage());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
