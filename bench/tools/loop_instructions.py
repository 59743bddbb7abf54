#!/usr/bin/env python3
"""Counts the instructions of a C2-compiled method's hottest loop from -XX:+PrintAssembly output
without hsdis (raw bytes): the bytes go through objdump, and each backward branch with the most
FMAs in its body is reported as a loop, with its instruction mix and instructions per FMA.

usage: loop_instructions.py PRINT_ASSEMBLY_OUTPUT METHOD_NAME   (e.g. GemmMicroKernel::tile6x4)
"""
import re, subprocess, sys, tempfile, collections

text, method = open(sys.argv[1], errors="replace").read(), sys.argv[2]
# the last standard (not OSR, no '%') C2 compilation of the method
heads = [m for m in re.finditer(r"Compiled method \(c2\)[^\n]*", text)
         if method in m.group(0) and " % " not in m.group(0)]
if not heads:
    sys.exit("no C2 compilation of " + method)
body = text[heads[-1].end():]
body = body[body.index("[MachCode]"):body.index("[/MachCode]")]
data, start = bytearray(), None
for line in body.splitlines():
    m = re.match(r"\s+0x([0-9a-f]+): ((?:[0-9a-f]{2,8} ?\|? ?)+)$", line)
    if not m:
        continue
    if start is None:
        start = int(m.group(1), 16)
    data += bytes.fromhex(m.group(2).replace("|", "").replace(" ", ""))
with tempfile.NamedTemporaryFile(suffix=".bin") as f:
    f.write(data); f.flush()
    dis = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", "--adjust-vma=%#x" % start, f.name],
                         capture_output=True, text=True, check=True).stdout
ins = []
for line in dis.splitlines():
    parts = line.split("\t")                 # address, bytes, instruction; a long instruction's extra bytes
    if len(parts) < 3 or not re.match(r"\s*[0-9a-f]+:$", parts[0]):   # come on a line of their own
        continue
    op, _, args = parts[2].strip().partition(" ")
    ins.append((int(parts[0].strip()[:-1], 16), op, args.strip()))
addr = [a for a, _, _ in ins]
loops = []
for i, (a, op, args) in enumerate(ins):
    if op.startswith("j") and op != "jmpq" or op in ("jmp",):
        t = re.match(r"0x([0-9a-f]+)", args)
        if t and int(t.group(1), 16) < a:
            j = addr.index(int(t.group(1), 16)) if int(t.group(1), 16) in addr else None
            if j is None:
                continue
            loop = ins[j:i + 1]
            fmas = sum(1 for _, o, _ in loop if "vfmadd" in o)
            if fmas:
                loops.append((fmas, loop))
if not loops:
    sys.exit("no loop with FMAs found")
fmas, loop = max(loops, key=lambda x: (x[0], -len(x[1])))
mix = collections.Counter(o for _, o, _ in loop)
print(f"{method}: inner loop {len(loop)} instructions, {fmas} FMAs, {len(loop) / fmas:.2f} instructions per FMA")
print("  mix: " + ", ".join(f"{o} {n}" for o, n in mix.most_common()))
if "-v" in sys.argv:
    for a, o, args in loop:
        print(f"  {a:x}: {o} {args}")
