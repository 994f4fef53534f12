/* A pointer chase through a random cycle of 512 nodes of 64 bytes (32 KiB): every load waits
 * for the one before, and the next address is unpredictable, so neither out-of-order execution
 * nor the caches' stride prefetcher hides a miss. 32 KiB is more than a 16 KiB L1D holds and
 * less than a 64 KiB one: across the sweep, the L1D size decides the miss rate.
 *
 *   chase [LAPS [EXIT_CODE]]     LAPS rounds of the cycle (default 40); exits EXIT_CODE (0)
 *
 * The order is shuffled with a fixed seed, so every run walks the same cycle.
 *
 * Built with -DCHASE_ROI (the full-system guest's copy, see ../build-fs-resources.sh), the walk
 * alone is marked as the region of interest with gem5's workbegin/workend pseudo-instructions:
 * the set-up before it and the program's start and end are left out of what is measured. */
#include <stdlib.h>
#ifdef CHASE_ROI
#include "m5ops.h"
#define REGION_BEGINS() M5OP(M5OP_WORK_BEGIN, 0, 0, 0)
#define REGION_ENDS() M5OP(M5OP_WORK_END, 0, 0, 0)
#else
#define REGION_BEGINS() ((void)0)
#define REGION_ENDS() ((void)0)
#endif

#define NODES 512

struct node {
    struct node *next;
    char pad[64 - sizeof(struct node *)];
};

static struct node nodes[NODES];

int main(int argc, char **argv) {
    long laps = argc > 1 ? atol(argv[1]) : 40;
    int code = argc > 2 ? atoi(argv[2]) : 0;
    unsigned order[NODES];
    unsigned seed = 12345;
    for (unsigned i = 0; i < NODES; i++) order[i] = i;
    for (unsigned i = NODES - 1; i > 0; i--) { /* Fisher-Yates, with a small LCG */
        seed = seed * 1103515245u + 12345u;
        unsigned j = (seed >> 16) % (i + 1);
        unsigned t = order[i]; order[i] = order[j]; order[j] = t;
    }
    for (unsigned i = 0; i < NODES; i++) nodes[order[i]].next = &nodes[order[(i + 1) % NODES]];
    struct node *p = &nodes[order[0]];
    REGION_BEGINS();
    for (long step = 0; step < laps * NODES; step++) p = p->next;
    REGION_ENDS();
    return p == &nodes[order[0]] ? code : 100; /* uses p: the walk cannot be optimised away */
}
