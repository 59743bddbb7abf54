/*
 * A minimal hsdis for HotSpot's PrintAssembly and JMH's perfasm profiler, on Capstone: JDK 25 loads
 * "hsdis-amd64.so" and calls decode_instructions_virtual; Debian's libhsdis0-fcml exports only the old
 * decode_instructions entry, which this JDK does not use. How to build it and run a profile with it:
 * docs/performance.md, section "Benchmarks".
 * Capstone 4 (Debian 12) does not decode every EVEX instruction; those come out as ".byte 0x62" lines
 * (CS_OPT_SKIPDATA), and decoding goes on after them.
 */
#include <capstone/capstone.h>
#include <stdint.h>

typedef void* (*event_callback_t)(void*, const char*, void*);
typedef int (*printf_callback_t)(void*, const char*, ...);

void* decode_instructions_virtual(uintptr_t start_va, uintptr_t end_va, unsigned char* buffer, uintptr_t length,
                                  event_callback_t event_callback, void* event_stream,
                                  printf_callback_t printf_callback, void* printf_stream,
                                  const char* options, int newline) {
  (void) options;
  csh handle;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) return NULL;
  cs_option(handle, CS_OPT_SKIPDATA, CS_OPT_ON);
  cs_insn* insn;
  size_t count = cs_disasm(handle, buffer, length, start_va, 0, &insn);
  for (size_t j = 0; j < count; j++) {
    event_callback(event_stream, "insn", (void*) (uintptr_t) insn[j].address);
    printf_callback(printf_stream, "%s\t%s", insn[j].mnemonic, insn[j].op_str);
    event_callback(event_stream, "/insn", (void*) (uintptr_t) (insn[j].address + insn[j].size));
    if (newline) printf_callback(printf_stream, "\n");
  }
  if (count > 0) cs_free(insn, count);
  cs_close(&handle);
  return (void*) end_va;
}
