/* SPDX-License-Identifier: MIT */
/*
 * The transport floor for the ioreq round trip: two processes that do
 * nothing but hand a token back and forth, the way xensim and ioreqd do.
 *   pingpong eventfd N   blocking read/write on two eventfds (sleep + wake-up
 *                        each way, like the event-channel path)
 *   pingpong spin N      a shared-memory word, both sides spin (like both
 *                        sides of the polling mode)
 *   pingpong spin-notify N  the same, plus the event-channel notification the
 *                        ioreq ABI requires after each message (an eventfd
 *                        write nobody waits for): the floor of a polling
 *                        ioreq round trip
 * Prints "median_ns p99_ns mean_ns" of one round trip as seen by the
 * initiating side.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void eventfd_write_one(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) != sizeof(one))
        die("eventfd write");
}

static void eventfd_wait(int fd)
{
    uint64_t value;
    if (read(fd, &value, sizeof(value)) != sizeof(value))
        die("eventfd read");
}

/* The token: the initiator writes an odd sequence number, the echoer
 * answers with the next even one. */
struct spin_page {
    _Alignas(64) _Atomic uint64_t seq;
};

static void run(const char *mode, uint64_t n, uint64_t *samples)
{
    bool notify = strcmp(mode, "spin-notify") == 0;
    bool spin = notify || strcmp(mode, "spin") == 0;
    int to_echo = eventfd(0, 0), to_initiator = eventfd(0, 0);
    struct spin_page *page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (to_echo < 0 || to_initiator < 0 || page == MAP_FAILED)
        die("setup");
    atomic_store(&page->seq, 0);

    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        for (uint64_t i = 0; i < n; i++) {
            if (spin) {
                uint64_t want = 2 * i + 1;
                while (atomic_load_explicit(&page->seq, memory_order_acquire) != want)
                    cpu_relax();
                atomic_store_explicit(&page->seq, want + 1, memory_order_release);
                if (notify)
                    eventfd_write_one(to_initiator);
            } else {
                eventfd_wait(to_echo);
                eventfd_write_one(to_initiator);
            }
        }
        _exit(0);
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t start = now_ns();
        if (spin) {
            atomic_store_explicit(&page->seq, 2 * i + 1, memory_order_release);
            if (notify)
                eventfd_write_one(to_echo);
            while (atomic_load_explicit(&page->seq, memory_order_acquire) != 2 * i + 2)
                cpu_relax();
        } else {
            eventfd_write_one(to_echo);
            eventfd_wait(to_initiator);
        }
        samples[i] = now_ns() - start;
    }
    int status;
    waitpid(child, &status, 0);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "eventfd") && strcmp(argv[1], "spin") &&
                      strcmp(argv[1], "spin-notify"))) {
        fprintf(stderr, "usage: %s eventfd|spin|spin-notify N\n", argv[0]);
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    if (n == 0 || n > 100000000u) {
        fprintf(stderr, "%s: N must be 1..100000000\n", argv[0]);
        return 2;
    }
    uint64_t *samples = calloc(n, sizeof(*samples));
    if (!samples)
        die("calloc");
    run(argv[1], n, samples);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += samples[i];
    qsort(samples, n, sizeof(*samples), compare_u64);
    uint64_t p99_rank = (n * 99 + 99) / 100;
    printf("%llu %llu %llu\n", (unsigned long long)samples[(n + 1) / 2 - 1],
           (unsigned long long)samples[p99_rank - 1], (unsigned long long)(total / n));
    free(samples);
    return 0;
}
