/* The compute thread pool: every part of every job runs exactly once, jobs do not overlap, and
 * idle workers sleep instead of spinning. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cpu/threadpool.h"

typedef struct Counts {
        _Atomic uint32_t calls[64];
        _Atomic uint32_t n_parts_seen;
        _Atomic uint64_t sum;
        uint32_t job;
} Counts;

static void count_part(void *arg, uint32_t part, uint32_t n_parts) {
        Counts *c = arg;
        atomic_fetch_add(&c->calls[part], 1);
        atomic_store(&c->n_parts_seen, n_parts);
        atomic_fetch_add(&c->sum, (uint64_t) c->job * 1000 + part);
}

static void test_threadpool_run_every_part_once(void **state) {
        for (uint32_t threads = 1; threads <= 5; threads++) {
                ThreadPool *p = NULL;
                GemmaError err = { 0 };
                assert_int_equal(threadpool_new(threads, &p, &err), 0);
                assert_int_equal(threadpool_size(p), threads);
                Counts c = { 0 };
                uint64_t expect = 0;
                const uint32_t parts = threadpool_parts(p);
                assert_true(parts >= threads && parts <= 64);
                for (uint32_t job = 0; job < 300; job++) {
                        c.job = job;
                        threadpool_run(p, count_part, &c);
                        for (uint32_t part = 0; part < parts; part++)
                                expect += (uint64_t) job * 1000 + part;
                        /* Every part of this job has finished when run() returns. */
                        assert_int_equal(atomic_load(&c.sum), expect);
                }
                for (uint32_t part = 0; part < parts; part++)
                        assert_int_equal(atomic_load(&c.calls[part]), 300);
                assert_int_equal(atomic_load(&c.n_parts_seen), parts);
                threadpool_free(p);
        }
}

static void test_threadpool_run_null_pool_runs_inline(void **state) {
        Counts c = { 0 };
        threadpool_run(NULL, count_part, &c);
        assert_int_equal(atomic_load(&c.calls[0]), 1);
        assert_int_equal(atomic_load(&c.n_parts_seen), 1);
        assert_int_equal(threadpool_size(NULL), 1);
}

static void test_threadpool_new_default_and_limits(void **state) {
        ThreadPool *p = NULL;
        GemmaError err = { 0 };
        assert_int_equal(threadpool_new(0, &p, &err), 0);
        assert_int_equal(threadpool_size(p), cpu_physical_cores());
        assert_true(threadpool_size(p) >= 1);
        threadpool_free(p);
        p = NULL;
        assert_int_equal(threadpool_new(5000, &p, &err), -22);
        assert_null(p);
}

/* CPU time (user + system, in clock ticks) of every thread of this process but the caller. */
static long other_threads_ticks(void) {
        long total = 0;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", getpid());
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.' || atoi(e->d_name) == gettid())
                        continue;
                char stat_path[384], buf[1024];
                snprintf(stat_path, sizeof(stat_path), "%s/%s/stat", path, e->d_name);
                FILE *f = fopen(stat_path, "re");
                if (!f)
                        continue;
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);
                fclose(f);
                buf[n] = '\0';
                /* Fields after the ')' that ends the command name: state is 3rd, utime 14th. */
                char *p = strrchr(buf, ')');
                long utime = 0, stime = 0;
                if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) == 2)
                        total += utime + stime;
        }
        closedir(d);
        return total;
}

static void test_threadpool_idle_workers_sleep(void **state) {
        ThreadPool *p = NULL;
        GemmaError err = { 0 };
        Counts c = { 0 };
        assert_int_equal(threadpool_new(3, &p, &err), 0);
        threadpool_run(p, count_part, &c);
        /* Give the workers their short spin, then measure a second of idleness. A spinning
         * worker would burn about 100 ticks per second; sleeping ones burn none. */
        struct timespec settle = { 0, 100 * 1000 * 1000 }, idle = { 1, 0 };
        nanosleep(&settle, NULL);
        long before = other_threads_ticks();
        nanosleep(&idle, NULL);
        long used = other_threads_ticks() - before;
        printf("idle workers used %ld clock ticks in 1 s\n", used);
        assert_true(used <= 5);
        threadpool_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_threadpool_run_every_part_once),
                cmocka_unit_test(test_threadpool_run_null_pool_runs_inline),
                cmocka_unit_test(test_threadpool_new_default_and_limits),
                cmocka_unit_test(test_threadpool_idle_workers_sleep),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
