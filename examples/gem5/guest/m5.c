/* m5: gem5's pseudo-instructions from a guest shell, for scripts that gem5 hands the guest.
 *
 *   m5 exit [DELAY_NS]            end the simulation
 *   m5 fail CODE [DELAY_NS]       end it with a failure code
 *   m5 checkpoint [DELAY_NS]      ask gem5 for a checkpoint
 *   m5 readfile                   write the host's "readfile" to standard output
 *   m5 resetstats | dumpstats     reset or dump gem5's statistics
 *   m5 workbegin | workend        mark a region of interest
 *
 * Works only on a gem5 CPU model (see m5ops.h). Built without a libc (tiny.h): a few KiB. */
#include "m5ops.h"
#include "tiny.h"

static char chunk[64 * 1024];

int main(int argc, char **argv, char **envp) {
    (void)envp;
    const char *what = argc > 1 ? argv[1] : "";
    unsigned long a = argc > 2 ? number(argv[2]) : 0, b = argc > 3 ? number(argv[3]) : 0;
    if (same(what, "exit")) {
        M5OP(M5OP_EXIT, a, 0, 0);
    } else if (same(what, "fail")) {
        M5OP(M5OP_FAIL, b, a, 0);
    } else if (same(what, "checkpoint")) {
        M5OP(M5OP_CHECKPOINT, a, b, 0);
    } else if (same(what, "resetstats")) {
        M5OP(M5OP_RESET_STATS, a, b, 0);
    } else if (same(what, "dumpstats")) {
        M5OP(M5OP_DUMP_STATS, a, b, 0);
    } else if (same(what, "workbegin")) {
        M5OP(M5OP_WORK_BEGIN, a, b, 0);
    } else if (same(what, "workend")) {
        M5OP(M5OP_WORK_END, a, b, 0);
    } else if (same(what, "readfile")) {
        for (unsigned long page = 0; page < sizeof chunk; page += 4096) chunk[page] = 0;
        for (unsigned long offset = 0, got; (got = M5OP(M5OP_READ_FILE, chunk, sizeof chunk, offset)) > 0; offset += got) {
            if (got > sizeof chunk || sys(SYS_write, 1, (long)chunk, (long)got, 0) != (long)got) return 2;
        }
    } else {
        say(2, "usage: m5 exit|fail CODE|checkpoint|readfile|resetstats|dumpstats|workbegin|workend [ARGS]\n");
        return 1;
    }
    return 0;
}
