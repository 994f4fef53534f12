/* Just enough of a C runtime for the guest's /init and m5, without a libc: Linux x86-64 system
 * calls and a _start. Each exec of a program costs the simulated system in proportion to what it
 * maps and runs; these two are a few KiB each and make no call that was not asked for. */
#ifndef REPRO_TINY_H
#define REPRO_TINY_H

#define SYS_write 1
#define SYS_close 3
#define SYS_fork 57
#define SYS_execve 59
#define SYS_exit 60
#define SYS_wait4 61
#define SYS_mount 165
#define SYS_openat 257

#define AT_FDCWD -100
#define O_WRONLY 01
#define O_CREAT 0100
#define O_TRUNC 01000

static inline long sys(long n, long a, long b, long c, long d) {
    register long r10 __asm__("r10") = d;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}

static inline unsigned long length(const char *s) {
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}

static inline void say(int fd, const char *s) { sys(SYS_write, fd, (long)s, (long)length(s), 0); }

static inline void say_number(int fd, long value) {
    char text[24];
    int at = sizeof text;
    unsigned long magnitude = value < 0 ? -(unsigned long)value : (unsigned long)value;
    text[--at] = 0;
    do text[--at] = (char)('0' + magnitude % 10); while ((magnitude /= 10) && at > 1);
    if (value < 0) text[--at] = '-';
    say(fd, text + at);
}

static inline int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

/* A decimal or 0x-hexadecimal number. */
static inline unsigned long number(const char *s) {
    unsigned long value = 0, base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
    for (; *s; s++) {
        unsigned digit = *s >= '0' && *s <= '9' ? *s - '0' : (*s | 32) >= 'a' && (*s | 32) <= 'f' ? (*s | 32) - 'a' + 10 : 99;
        if (digit >= base) break;
        value = value * base + digit;
    }
    return value;
}

int main(int argc, char **argv, char **envp);

__attribute__((used)) static void start_c(long *stack) {
    int argc = (int)stack[0];
    char **argv = (char **)(stack + 1);
    sys(SYS_exit, main(argc, argv, argv + argc + 1), 0, 0, 0);
}

__asm__(".text\n.globl _start\n_start:\n\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c\n\thlt\n");

#endif
