/* make-core.c - a process whose kernel core dump the benchmarks read.
 *
 * It maps one big region of N MiB (MAP_SHARED|MAP_ANONYMOUS by default, or
 * MAP_PRIVATE), fills it, plants K locked pthread mutexes at known places,
 * maps M small extra regions (separate VMAs, so separate PT_LOADs; one in
 * three is a file mapping, so NT_FILE grows too), starts T threads (stacks of
 * --stack-kib KiB, 64 by default; 8192 as glibc's default makes a sparse core), writes a
 * facts file and aborts. benches/make-core.sh runs it with `ulimit -c
 * unlimited` in a scratch folder and keeps the core.
 *
 * Fills (--fill):
 *   ordinary  blocks of 256 B .. 16 KiB (8-aligned), each of one kind drawn at
 *             random: text, pointers, small integers, counters, pseudo-random
 *             bytes, records, doubles, zeros (weights and contents below);
 *   random    pseudo-random bytes;
 *   touch     zeros except one non-zero byte per 4 KiB page;
 *   zero      nothing written (the kernel dumps what is mapped).
 *
 * Facts (--facts FILE), one line each:
 *   region START END shared|private FILL
 *   mutex ADDRESS TYPE              (every planted, locked mutex)
 *   block START END KIND            (ordinary fill only, with --blocks)
 *   thread TID
 *   map START END KIND              (the small extra mappings)
 *
 * Build: cc -O2 -pthread -o make-core make-core.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t rng_state;

/* splitmix64 */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static FILE *facts;

/* ---- ordinary fill ----------------------------------------------------- */

enum kind { TEXT, POINTERS, SMALL_INTS, COUNTERS, RANDOM, RECORDS, DOUBLES, ZEROS, NKINDS };
static const char *kind_name[NKINDS] = {
    "text", "pointers", "small-ints", "counters", "random", "records", "doubles", "zeros",
};
/* Relative weights of the block kinds. */
static const unsigned kind_weight[NKINDS] = { 15, 15, 15, 10, 10, 15, 10, 10 };

static const char *words[] = {
    "the", "lock", "of", "and", "to", "a", "in", "request", "is", "for", "that", "server",
    "error", "user", "with", "on", "session", "GET", "/index.html", "HTTP/1.1", "200",
    "connection", "timeout", "cache", "value", "key", "2024-05-17T10:22:31Z", "INFO",
    "WARN", "id", "name", "config", "=", "{", "}", "\"status\":", "true", "false", "null",
    "database", "query", "SELECT", "FROM", "WHERE", "table", "row", "1234", "0x7f3a",
};
#define NWORDS (sizeof words / sizeof words[0])

static void fill_text(uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *w = words[below(NWORDS)];
        size_t l = strlen(w);
        for (size_t j = 0; j < l && i < n; j++)
            p[i++] = (uint8_t)w[j];
        if (i < n) {
            uint64_t r = below(100);
            p[i++] = r < 80 ? ' ' : r < 95 ? '\n' : r < 98 ? ',' : 0; /* some NUL-ended strings */
        }
    }
}

/* A heap- or library-like pointer, 8- or 16-aligned, or NULL. */
static uint64_t pointer(void)
{
    uint64_t r = below(100);
    if (r < 15)
        return 0;
    if (r < 70)
        return 0x000055d0c0000000ULL + (below(1ULL << 26) << 4); /* heap */
    if (r < 90)
        return 0x00007f3a40000000ULL + (below(1ULL << 28) << 3); /* mmap / libraries */
    return 0x00007ffd9a000000ULL + (below(1ULL << 20) << 3);     /* stack */
}

static void fill_pointers(uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = pointer();
        memcpy(p + i, &v, 8);
    }
}

/* 32-bit integers as programs keep them: many zeros and small counts, some
 * larger sizes and ids. */
static uint32_t small_int(void)
{
    uint64_t r = below(100);
    if (r < 30)
        return 0;
    if (r < 60)
        return 1 + (uint32_t)below(9);
    if (r < 90)
        return 10 + (uint32_t)below(990);
    return 1000 + (uint32_t)below(1000000);
}

static void fill_small_ints(uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i += 4) {
        uint32_t v = small_int();
        memcpy(p + i, &v, 4);
    }
}

static void fill_counters(uint8_t *p, size_t n)
{
    uint64_t c = below(1ULL << 32), step = 1 + below(16);
    int wide = below(2);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        if (wide) {
            memcpy(p + i, &c, 8);
        } else {
            uint32_t a = (uint32_t)c, b = (uint32_t)(c + step);
            memcpy(p + i, &a, 4);
            memcpy(p + i + 4, &b, 4);
            c += step;
        }
        c += step;
    }
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = rnd();
        memcpy(p + i, &v, 8);
    }
}

/* struct { u32 id; u32 flags; void *next; double value; u16 type; u16 len; u32 pad; } */
static void fill_records(uint8_t *p, size_t n)
{
    uint32_t id = (uint32_t)below(100000);
    for (size_t i = 0; i + 32 <= n; i += 32) {
        uint32_t flags = (uint32_t)below(8), pad = 0;
        uint64_t next = pointer();
        double value = (double)below(1000000) / 100.0;
        uint16_t type = (uint16_t)below(12), len = (uint16_t)below(512);
        memcpy(p + i, &id, 4);
        memcpy(p + i + 4, &flags, 4);
        memcpy(p + i + 8, &next, 8);
        memcpy(p + i + 16, &value, 8);
        memcpy(p + i + 24, &type, 2);
        memcpy(p + i + 26, &len, 2);
        memcpy(p + i + 28, &pad, 4);
        id++;
    }
}

static void fill_doubles(uint8_t *p, size_t n)
{
    double x = (double)below(1000);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x += ((double)below(2001) - 1000.0) / 1000.0;
        memcpy(p + i, &x, 8);
    }
}

static void fill_ordinary(uint8_t *base, size_t size, int log_blocks)
{
    unsigned total = 0;
    for (int k = 0; k < NKINDS; k++)
        total += kind_weight[k];
    size_t off = 0;
    while (off < size) {
        size_t n = (256 + below(16384 - 256 + 1)) & ~(size_t)7;
        if (n > size - off)
            n = size - off;
        unsigned r = (unsigned)below(total);
        int k = 0;
        while (r >= kind_weight[k])
            r -= kind_weight[k++];
        uint8_t *p = base + off;
        switch (k) {
        case TEXT: fill_text(p, n); break;
        case POINTERS: fill_pointers(p, n); break;
        case SMALL_INTS: fill_small_ints(p, n); break;
        case COUNTERS: fill_counters(p, n); break;
        case RANDOM: fill_random(p, n); break;
        case RECORDS: fill_records(p, n); break;
        case DOUBLES: fill_doubles(p, n); break;
        default: memset(p, 0, n); break;
        }
        if (log_blocks)
            fprintf(facts, "block 0x%" PRIxPTR " 0x%" PRIxPTR " %s\n", (uintptr_t)p,
                    (uintptr_t)(p + n), kind_name[k]);
        off += n;
    }
}

/* ---- planted mutexes ---------------------------------------------------- */

static const char *plant(pthread_mutex_t *m, int i)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    const char *ty;
    int times = 1;
    switch (i % 7) {
    case 0: ty = "normal"; break;
    case 1: ty = "recursive"; pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE); times = 3; break;
    case 2: ty = "errorcheck"; pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK); break;
    case 3: ty = "adaptive"; pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP); break;
    case 4:
        ty = "robust";
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        break;
    case 5: ty = "pi"; pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT); break;
    default: ty = "normal-pshared"; pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED); break;
    }
    if (pthread_mutex_init(m, &a) != 0)
        die("pthread_mutex_init");
    for (int t = 0; t < times; t++)
        if (pthread_mutex_lock(m) != 0)
            die("pthread_mutex_lock");
    pthread_mutexattr_destroy(&a);
    return ty;
}

/* ---- threads ------------------------------------------------------------ */

static pthread_barrier_t started;

static void *idle_thread(void *arg)
{
    (void)arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    flockfile(facts);
    fprintf(facts, "thread %d\n", (int)tid);
    funlockfile(facts);
    pthread_barrier_wait(&started);
    for (;;)
        pause();
    return NULL;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: make-core [--mib N] [--shared|--private] [--fill ordinary|random|touch|zero]\n"
            "                 [--mutexes K] [--maps M] [--threads T] [--stack-kib K]\n"
            "                 [--seed S] [--blocks]\n"
            "                 --facts FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    size_t mib = 16, nmut = 0, nmaps = 0, nthreads = 0, stack_kib = 64;
    int shared = 1, log_blocks = 0;
    const char *fill = "ordinary", *facts_path = NULL;
    rng_state = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--shared")) shared = 1;
        else if (!strcmp(a, "--private")) shared = 0;
        else if (!strcmp(a, "--blocks")) log_blocks = 1;
        else if (!v) usage();
        else if (!strcmp(a, "--mib")) mib = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--mutexes")) nmut = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--maps")) nmaps = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--threads")) nthreads = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--stack-kib")) stack_kib = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--seed")) rng_state = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--fill")) fill = v, i++;
        else if (!strcmp(a, "--facts")) facts_path = v, i++;
        else usage();
    }
    if (!facts_path)
        usage();
    facts = fopen(facts_path, "w");
    if (!facts)
        die(facts_path);

    /* Anonymous private and shared memory are dumped (bits 0 and 1), file
     * mappings are not: the kernel default, set explicitly. */
    int fd = open("/proc/self/coredump_filter", O_WRONLY);
    if (fd < 0 || write(fd, "0x33", 4) != 4)
        die("coredump_filter");
    close(fd);

    size_t size = mib << 20;
    uint8_t *region = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        die("mmap region");
    if (!strcmp(fill, "ordinary")) {
        fill_ordinary(region, size, log_blocks);
    } else if (!strcmp(fill, "random")) {
        fill_random(region, size);
    } else if (!strcmp(fill, "touch")) {
        for (size_t o = 0; o < size; o += 4096)
            region[o] = 1;
    } else if (strcmp(fill, "zero")) {
        usage();
    }
    fprintf(facts, "region 0x%" PRIxPTR " 0x%" PRIxPTR " %s %s\n", (uintptr_t)region,
            (uintptr_t)(region + size), shared ? "shared" : "private", fill);

    /* Mutexes at known places: one per equal slot, at a random 8-aligned offset. */
    if (nmut) {
        size_t slot = (size / nmut) & ~(size_t)63;
        if (slot < 64) {
            fprintf(stderr, "make-core: too many mutexes for the region\n");
            return 2;
        }
        for (size_t i = 0; i < nmut; i++) {
            size_t off = i * slot + (below(slot - sizeof(pthread_mutex_t)) & ~(size_t)7);
            pthread_mutex_t *m = (pthread_mutex_t *)(region + off);
            const char *ty = plant(m, (int)i);
            fprintf(facts, "mutex 0x%" PRIxPTR " %s\n", (uintptr_t)m, ty);
        }
    }

    /* M small mappings, each its own VMA: reserve 2M pages, map every other
     * page over the reservation and unmap the pages between. Kinds rotate:
     * anonymous written, anonymous read-only, file-backed read-only. */
    if (nmaps) {
        long pg = sysconf(_SC_PAGESIZE);
        int ffd = open("map-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (ffd < 0 || ftruncate(ffd, pg) != 0)
            die("map-file");
        uint8_t *res = mmap(NULL, 2 * nmaps * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (res == MAP_FAILED)
            die("mmap reserve");
        for (size_t i = 0; i < nmaps; i++) {
            uint8_t *at = res + 2 * i * pg, *p;
            const char *k;
            switch (i % 3) {
            case 0:
                p = mmap(at, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
                k = "anon-rw";
                if (p != MAP_FAILED)
                    memset(p, (int)(i & 0x7f) | 1, (size_t)pg);
                break;
            case 1:
                p = mmap(at, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
                k = "anon-ro";
                break;
            default:
                p = mmap(at, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, ffd, 0);
                k = "file-ro";
                break;
            }
            if (p == MAP_FAILED)
                die("mmap small");
            if (munmap(at + pg, pg) != 0)
                die("munmap gap");
            fprintf(facts, "map 0x%" PRIxPTR " 0x%" PRIxPTR " %s\n", (uintptr_t)p,
                    (uintptr_t)(p + pg), k);
        }
        close(ffd);
    }

    if (nthreads) {
        pthread_attr_t ta;
        pthread_attr_init(&ta);
        pthread_attr_setstacksize(&ta, stack_kib * 1024);
        pthread_barrier_init(&started, NULL, (unsigned)nthreads + 1);
        for (size_t i = 0; i < nthreads; i++) {
            pthread_t t;
            if (pthread_create(&t, &ta, idle_thread, NULL) != 0)
                die("pthread_create");
        }
        pthread_barrier_wait(&started);
    }
    fprintf(facts, "thread %d\n", (int)getpid());
    if (fclose(facts) != 0)
        die("facts");
    abort();
}
