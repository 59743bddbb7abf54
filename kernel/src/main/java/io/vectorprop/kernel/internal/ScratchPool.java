package io.vectorprop.kernel.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A bounded, lock-free pool of scratch buffers for calls that may come from any number of threads,
 * platform or virtual. A call takes a buffer with {@link #acquire()} and gives it back with
 * {@link #release}; a buffer belongs to no thread. A new buffer is made only when a call finds no
 * pooled one free, so the buffers alive never exceed the calls in flight plus the pool's capacity, and
 * a release that finds the pool full frees its buffer at once. (The scan is not one atomic step: a
 * call can miss a buffer returned behind it while another takes the one ahead of it, and make one;
 * the capacity term covers that.) A thread-local
 * cache would instead keep one buffer per thread that ever called, which with a virtual thread per
 * request means one per request.
 *
 * <p>Slots are scanned from an index derived from the thread id, so platform threads tend to take
 * back the buffer they released (still in their cache) and do not contend on one slot; each take
 * and each return is one compare-and-set. Nothing is allocated on the heap once a buffer exists.
 */
public final class ScratchPool<T> {
    private final AtomicReferenceArray<T> slots;
    private final Supplier<T> factory;
    private final Consumer<T> free;
    private final AtomicInteger created = new AtomicInteger();
    private volatile boolean closed;

    public ScratchPool(int capacity, Supplier<T> factory, Consumer<T> free) {
        if (capacity < 1) throw new IllegalArgumentException("scratch pool capacity " + capacity + " must be at least 1");
        this.slots = new AtomicReferenceArray<>(capacity);
        this.factory = factory;
        this.free = free;
    }

    /** A buffer for the calling thread's exclusive use until {@link #release}. */
    public T acquire() {
        int n = slots.length(), start = home(n);
        for (int i = 0, s = start; i < n; i++, s = s + 1 == n ? 0 : s + 1) {
            T t = slots.get(s);
            if (t != null && slots.compareAndSet(s, t, null)) return t;
        }
        created.incrementAndGet();
        return factory.get();
    }

    /** Gives {@code t} back; it is freed when the pool is full or closed. */
    public void release(T t) {
        int n = slots.length(), start = home(n);
        for (int i = 0, s = start; i < n; i++, s = s + 1 == n ? 0 : s + 1) {
            if (slots.get(s) == null && slots.compareAndSet(s, null, t)) {
                // A close() that ran between our check and our store has not seen t: take it back out.
                if (closed && slots.compareAndSet(s, t, null)) free.accept(t);
                return;
            }
        }
        free.accept(t);
    }

    private static int home(int n) {
        return (int) (Thread.currentThread().threadId() % n);
    }

    /** Buffers made since the pool was created (pooled, in use, or already freed). */
    public int created() { return created.get(); }

    /** Buffers waiting in the pool now. */
    public int pooled() {
        int p = 0;
        for (int i = 0; i < slots.length(); i++) if (slots.get(i) != null) p++;
        return p;
    }

    public int capacity() { return slots.length(); }

    /** Frees the pooled buffers; buffers still in use are freed when released. */
    public void close() {
        closed = true;
        for (int i = 0; i < slots.length(); i++) {
            T t = slots.getAndSet(i, null);
            if (t != null) free.accept(t);
        }
    }
}
