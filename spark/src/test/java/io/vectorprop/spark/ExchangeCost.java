package io.vectorprop.spark;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The barrier exchange's own cost: {@code TASKS} tasks in this JVM all-reduce {@code FLOATS} floats
 * {@code STEPS} times with nothing computed between steps, once through memory (tasks of one executor)
 * and once through Spark's transport over the loopback interface (the path between executors, less the
 * wire); prints partition 0's time per step (median, 90th percentile, mean) over the second half of the
 * steps, the first half being the JIT's warm-up.
 * Run: {@code ./mvnw -q -pl spark test-compile exec:exec@exchange-cost [-Dexchange.args="FLOATS STEPS TASKS"]}
 * (defaults 101770 = Fashion-MNIST's 784-128-10 network, 3000 steps, 2 tasks).
 */
public final class ExchangeCost {
    public static void main(String[] args) throws Exception {
        int floats = args.length > 0 ? Integer.parseInt(args[0]) : 101_770;
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 3000;
        int tasks = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        for (boolean inMemory : new boolean[] {true, false}) {
            long[] micros = run(floats, steps, tasks, inMemory);
            long[] warm = Arrays.copyOfRange(micros, steps / 2, steps);
            Arrays.sort(warm);
            System.out.printf(Locale.ROOT, "%d floats (%d KB), %d tasks, %s: per step median %d µs, p90 %d µs, mean %.0f µs (steps %d–%d)%n",
                    floats, floats * 4 / 1000, tasks, inMemory ? "through memory" : "through the transport (loopback)",
                    warm[warm.length / 2], warm[warm.length * 9 / 10], Arrays.stream(warm).average().orElse(0), steps / 2 + 1, steps);
        }
    }

    static long[] run(int floats, int steps, int tasks, boolean inMemory) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks);
        try (Rendezvous r = GradientExchangeTest.rendezvous(floats)) {
            List<Future<long[]>> results = new ArrayList<>();
            for (int t = 0; t < tasks; t++) {
                int self = t;
                results.add(pool.submit(() -> {
                    try (GradientExchange x = new GradientExchange("127.0.0.1", self, tasks, floats, 60_000, null, inMemory)) {
                        x.meet(r.host(), r.port(), 0, "127.0.0.1");
                        float[] share = new float[floats], total = new float[floats];
                        Arrays.fill(share, self + 1);
                        long[] micros = new long[steps];
                        for (int s = 0; s < steps; s++) {
                            long t0 = System.nanoTime();
                            x.allReduce(s, share, 0, 0, total);
                            micros[s] = (System.nanoTime() - t0) / 1000;
                        }
                        return micros;
                    }
                }));
            }
            long[] first = results.get(0).get();
            for (Future<long[]> f : results) f.get();
            return first;
        } finally {
            pool.shutdownNow();
        }
    }
}
