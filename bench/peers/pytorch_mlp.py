#!/usr/bin/python3
"""PyTorch peer for vectorprop's TrainStepBench and InferenceBench.

Same network (784-256-128-10, ReLU, softmax cross-entropy), batch sizes, thread counts and timing
rules: warm up first, time whole training steps (forward, loss, backward, optimizer step), report
the median of repeated timings. Thread counts are pinned (torch.set_num_threads, and
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS before torch loads). Prints one JSON object.

Usage: /usr/bin/python3 bench/peers/pytorch_mlp.py [--threads 1,2] [--batches 1,10,64,256]
       [--optimizer sgd] [--seconds 1.0] [--repeats 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,10,64,256")
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency-calls", type=int, default=20000)
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    if len(threads) > 1:
        # One process per thread count: OpenBLAS and OpenMP size their pools when torch loads, so a
        # pool of 2 would quietly help a "1-thread" run. Each child pins all three variables.
        merged = None
        for t in threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
            argv = [sys.executable, __file__, "--threads", str(t), "--batches", args.batches, "--optimizer",
                    args.optimizer, "--seconds", str(args.seconds), "--repeats", str(args.repeats),
                    "--latency-calls", str(args.latency_calls)]
            child = json.loads(subprocess.run(argv, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout)
            if merged is None:
                merged = child
            else:
                merged["training"] += child["training"]
                merged["latency"] += child["latency"]
        print(json.dumps(merged))
        return

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var) != str(threads[0]):
            os.environ[var] = str(threads[0])
            os.execv(sys.executable, [sys.executable] + sys.argv)   # the variables only count before torch loads
    import torch  # noqa: E402  (after the thread variables)
    from torch import nn

    torch.manual_seed(1)
    result = {"peer": "pytorch", "torch": torch.__version__, "optimizer": args.optimizer,
              "network": "784-256-128-10 relu softmax-cross-entropy", "training": [], "latency": []}

    def model():
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))

    for t in threads:
        torch.set_num_threads(t)
        for b in batches:
            net = model()
            loss_fn = nn.CrossEntropyLoss()
            opt = (torch.optim.SGD(net.parameters(), lr=1e-3) if args.optimizer == "sgd"
                   else torch.optim.Adam(net.parameters(), lr=1e-4))
            x = torch.rand(b, 784)
            y = torch.randint(0, 10, (b,))

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(x), y)
                loss.backward()
                opt.step()

            warm_end = time.perf_counter() + 2.0
            while time.perf_counter() < warm_end:
                step()
            rates = []
            for _ in range(args.repeats):
                n = 0
                start = time.perf_counter()
                end = start + args.seconds
                while True:
                    step()
                    n += 1
                    now = time.perf_counter()
                    if now >= end:
                        break
                rates.append(n * b / (now - start))
            result["training"].append({"threads": t, "batch": b, "samplesPerSecond": statistics.median(rates),
                                       "repeats": rates})
            print(f"train threads={t} batch={b}: {statistics.median(rates):,.0f} samples/s", file=sys.stderr)

        net = model().eval()
        x1 = torch.rand(1, 784)
        times = []
        with torch.no_grad():
            for _ in range(2000):
                net(x1)
            for _ in range(args.latency_calls):
                s = time.perf_counter_ns()
                net(x1)
                times.append((time.perf_counter_ns() - s) / 1000.0)
        times.sort()
        lat = {"threads": t, "medianMicros": times[len(times) // 2], "p99Micros": times[int(len(times) * 0.99)]}
        result["latency"].append(lat)
        print(f"predict threads={t}: median {lat['medianMicros']:.1f} us, p99 {lat['p99Micros']:.1f} us", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
