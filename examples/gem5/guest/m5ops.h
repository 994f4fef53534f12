/* gem5's pseudo-instructions ("m5ops") on an X86 guest, for the example's own guest tools.
 *
 * On gem5's X86 CPU models the bytes 0x0f 0x04 followed by a 16-bit function number are one
 * instruction that the simulator carries out itself (on KVM or real hardware they are an illegal
 * instruction). It takes its arguments where a function call would (rdi, rsi, rdx) and leaves
 * its result in rax. The function numbers below are the ones gem5 v24 defines for the
 * operations the example uses. */
#ifndef REPRO_M5OPS_H
#define REPRO_M5OPS_H

#define M5OP_EXIT 0x21        /* end the simulation; arg0: delay in ns */
#define M5OP_FAIL 0x22        /* end it with a failure code; arg0: delay, arg1: code */
#define M5OP_RESET_STATS 0x40 /* arg0: delay, arg1: period */
#define M5OP_DUMP_STATS 0x41  /* arg0: delay, arg1: period */
#define M5OP_CHECKPOINT 0x43  /* arg0: delay, arg1: period */
#define M5OP_READ_FILE 0x50   /* copy the host's "readfile": arg0 buffer, arg1 length, arg2 offset */
#define M5OP_WORK_BEGIN 0x5a  /* a region of interest begins; arg0: work id, arg1: thread id */
#define M5OP_WORK_END 0x5b    /* ... and ends */

/* FUNC must be a constant. gem5 writes guest memory for READ_FILE through the page tables, so a
 * buffer handed to it must be mapped (written to once) beforehand. */
#define M5OP(func, a0, a1, a2)                                                                   \
    ({                                                                                           \
        register unsigned long m5_rdi __asm__("rdi") = (unsigned long)(a0);                       \
        register unsigned long m5_rsi __asm__("rsi") = (unsigned long)(a1);                       \
        register unsigned long m5_rdx __asm__("rdx") = (unsigned long)(a2);                       \
        unsigned long m5_rax;                                                                    \
        __asm__ volatile(".byte 0x0f, 0x04\n\t.short %c4"                                        \
                         : "=a"(m5_rax), "+r"(m5_rdi), "+r"(m5_rsi), "+r"(m5_rdx)                \
                         : "i"(func)                                                             \
                         : "memory");                                                            \
        m5_rax;                                                                                  \
    })

#endif
