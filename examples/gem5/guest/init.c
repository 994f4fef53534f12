/* /init of the example's guest: runs what gem5 hands it through the "readfile".
 *
 *   - nothing (no readfile, or an empty one): ends the simulation (m5 exit);
 *   - the word "checkpoint": asks gem5 for a checkpoint, then reads the readfile again. The boot
 *     run ends at the checkpoint; a run restored from it goes on right here, and the readfile it
 *     reads then is the restoring run's: one checkpoint serves any later workload;
 *   - anything else is a program (an ELF, or a "#!" script run by /bin/sh, busybox): it is
 *     written to /job and run, its output on the console, and its exit status ends the
 *     simulation (m5 exit for 0, m5 fail STATUS otherwise).
 *
 * No libc and no shell on this path: every program the guest execs during the boot costs
 * simulated instructions (millions for a glibc busybox), and gem5 at -O0 runs ~20 k a second. */
#include "m5ops.h"
#include "tiny.h"

static char chunk[64 * 1024];

static void finish(long status) {
    say(1, "repro-gem5-fs: the job exited with status ");
    say_number(1, status);
    say(1, "\n");
    for (;;) {
        if (status == 0)
            M5OP(M5OP_EXIT, 0, 0, 0);
        else
            M5OP(M5OP_FAIL, 0, status, 0);
    }
}

/* Copies the readfile to /job; returns its size, and whether it is the word "checkpoint". */
static long fetch(int *checkpoint) {
    long fd = sys(SYS_openat, AT_FDCWD, (long)"/job", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0) return fd;
    unsigned long offset = 0, got;
    while ((got = M5OP(M5OP_READ_FILE, chunk, sizeof chunk, offset)) > 0 && got <= sizeof chunk) {
        if (offset == 0) {
            const char *word = "checkpoint";
            unsigned long i = 0;
            while (word[i] && i < got && chunk[i] == word[i]) i++;
            *checkpoint = !word[i] && (got == i || (got == i + 1 && chunk[i] == '\n'));
        }
        if (sys(SYS_write, fd, (long)chunk, (long)got, 0) != (long)got) return -5;
        offset += got;
    }
    sys(SYS_close, fd, 0, 0, 0);
    return (long)offset;
}

int main(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    for (unsigned long page = 0; page < sizeof chunk; page += 4096) chunk[page] = 0; /* map it */
    say(1, "repro-gem5-fs: init\n");
    for (int checkpoints = 0;;) {
        int checkpoint = 0;
        long size = fetch(&checkpoint);
        if (size < 0) {
            say(1, "repro-gem5-fs: cannot write /job\n");
            finish(125);
        }
        if (size == 0) {
            say(1, "repro-gem5-fs: no job in the readfile\n");
            finish(0);
        }
        if (checkpoint) {
            if (checkpoints++) { /* the same readfile again: no restoring run handed a job */
                say(1, "repro-gem5-fs: no job after the checkpoint\n");
                finish(0);
            }
            say(1, "repro-gem5-fs: checkpoint\n");
            M5OP(M5OP_CHECKPOINT, 0, 0, 0);
            say(1, "repro-gem5-fs: after the checkpoint\n");
            continue;
        }
        say(1, "repro-gem5-fs: running the job\n");
        long pid = sys(SYS_fork, 0, 0, 0, 0);
        if (pid == 0) {
            char *job_argv[] = {"/job", 0};
            char *job_envp[] = {"PATH=/bin:/sbin", "HOME=/", 0};
            sys(SYS_execve, (long)"/job", (long)job_argv, (long)job_envp, 0);
            say(1, "repro-gem5-fs: cannot execute /job\n");
            sys(SYS_exit, 126, 0, 0, 0);
        }
        int status = 0;
        if (pid < 0 || sys(SYS_wait4, pid, (long)&status, 0, 0) != pid) finish(125);
        finish((status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff);
    }
}
