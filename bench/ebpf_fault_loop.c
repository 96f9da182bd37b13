/* Page-fault microbenchmark for bench/ebpf_overhead: mmap 16 MiB of anonymous memory,
 * write one byte per page (one order-0 allocation each, THP off for the range), munmap
 * (one free each); repeat for the given seconds and print base pages per second of this
 * process's CPU time (BPF programs run, and are charged, in its context; CPU time keeps
 * other processes on a shared machine out of the figure), then per wall-clock second. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }
static double cpu(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = 4096, len = pages * page;
    long total = 0;
    double start = now(), start_cpu = cpu(), elapsed;
    do {
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < pages; i++)
            p[i * page] = 1;
        munmap(p, len);
        total += pages;
        elapsed = now() - start;
    } while (elapsed < seconds);
    printf("%.0f %.0f\n", total / (cpu() - start_cpu), total / elapsed);
    return 0;
}
