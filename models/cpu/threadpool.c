/* Persistent compute threads (see threadpool.h). A job is published by bumping a generation
 * counter; the caller and the workers then claim its parts from a shared counter tagged with the
 * generation, and whoever finishes the last part wakes the caller. A claim takes a run of
 * consecutive parts whose length shrinks as the job runs out (guided self-scheduling): few
 * claims while much is left, single parts at the end, so that threads finish together. A worker
 * that the scheduler keeps off the CPU (another process on the same cores) simply claims
 * nothing: the others do its share, and the caller never waits for a thread that has no work. */
#include "threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"

#define SPIN_ITERATIONS 20000
/* Parts per thread: the granularity of the end of a job. A claim takes the parts left divided by
 * CLAIM_DIVISOR times the threads. Measured on E2B decoding (two threads, one token): the caller's
 * wait at the end of jobs fell by a fifth against single claims of 4 parts per thread. */
#define THREADPOOL_PARTS_PER_THREAD 8
#define CLAIM_DIVISOR 2

typedef struct Worker {
        ThreadPool *pool;
        uint32_t part;
        pthread_t thread;
} Worker;

struct ThreadPool {
        uint32_t n_threads;
        Worker *workers;          /* n_threads - 1: the caller is part 0 */

        pthread_mutex_t lock;
        pthread_cond_t job_ready;
        pthread_cond_t job_done;
        _Atomic uint64_t generation;
        /* (generation << 32) | next part to claim: a claim for an older generation fails, so a
         * late worker never touches a finished job's arguments. */
        _Atomic uint64_t claim;
        _Atomic uint32_t done;       /* parts of the current job finished */
        uint32_t n_parts;
        bool stopping;

        ThreadPoolFn fn;
        void *arg;
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

/* Claims and runs parts of job `gen` until none is left; a claim's parts are consecutive, so a
 * thread reads contiguous rows of a matrix as long as it can. Returns true when this call finished
 * the job's last part. */
static bool run_parts(ThreadPool *p, uint64_t gen, ThreadPoolFn fn, void *arg, uint32_t n_parts) {
        bool finished_last = false;
        for (;;) {
                uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
                const uint32_t next = (uint32_t) c;
                if ((c >> 32) != (gen & 0xffffffffu) || next >= n_parts)
                        return finished_last;
                uint32_t take = (n_parts - next) / (CLAIM_DIVISOR * p->n_threads);
                take = take ? take : 1;
                if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + take, memory_order_acq_rel,
                                                           memory_order_acquire))
                        continue;
                for (uint32_t part = next; part < next + take; part++)
                        fn(arg, part, n_parts);
                if (atomic_fetch_add_explicit(&p->done, take, memory_order_acq_rel) + take == n_parts)
                        finished_last = true;
        }
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        ThreadPool *p = w->pool;
        uint64_t seen = 0;

        for (;;) {
                /* Spin a little: the next job of a forward pass usually comes within microseconds. */
                for (int i = 0; i < SPIN_ITERATIONS && atomic_load_explicit(&p->generation, memory_order_acquire) == seen; i++)
                        cpu_relax();
                pthread_mutex_lock(&p->lock);
                while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen && !p->stopping)
                        pthread_cond_wait(&p->job_ready, &p->lock);
                if (p->stopping) {
                        pthread_mutex_unlock(&p->lock);
                        return NULL;
                }
                /* A consistent snapshot: a newer job cannot be published while the lock is held. */
                seen = atomic_load_explicit(&p->generation, memory_order_acquire);
                ThreadPoolFn fn = p->fn;
                void *arg = p->arg;
                uint32_t n_parts = p->n_parts;
                pthread_mutex_unlock(&p->lock);

                if (run_parts(p, seen, fn, arg, n_parts)) {
                        pthread_mutex_lock(&p->lock);
                        pthread_cond_signal(&p->job_done);
                        pthread_mutex_unlock(&p->lock);
                }
        }
}

uint32_t cpu_physical_cores(void) {
        /* Count distinct (package, core) pairs; fall back to the online CPU count. */
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        uint32_t n = 0;
        uint64_t seen[1024];
        size_t n_seen = 0;

        for (long cpu = 0; cpu < online && cpu < 1024; cpu++) {
                char path[128];
                unsigned pkg = 0, core = 0;
                FILE *f;
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
                if (!(f = fopen(path, "re")))
                        return online > 0 ? (uint32_t) online : 1;
                if (fscanf(f, "%u", &core) != 1)
                        core = (unsigned) cpu;
                fclose(f);
                snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
                if ((f = fopen(path, "re"))) {
                        if (fscanf(f, "%u", &pkg) != 1)
                                pkg = 0;
                        fclose(f);
                }
                uint64_t key = ((uint64_t) pkg << 32) | core;
                bool dup = false;
                for (size_t i = 0; i < n_seen; i++)
                        dup |= seen[i] == key;
                if (!dup) {
                        seen[n_seen++] = key;
                        n++;
                }
        }
        return n ? n : 1;
}

int threadpool_new(uint32_t n_threads, ThreadPool **ret, GemmaError *err) {
        ThreadPool *p;

        if (n_threads == 0)
                n_threads = cpu_physical_cores();
        if (n_threads > 1024)
                return gemma_error_set(err, -EINVAL, "threads: %u is more than 1024", n_threads);
        p = new0(ThreadPool, 1);
        if (!p)
                return gemma_error_set(err, -ENOMEM, "threads: out of memory");
        p->n_threads = n_threads;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->job_ready, NULL);
        pthread_cond_init(&p->job_done, NULL);
        p->workers = new0(Worker, n_threads);
        if (!p->workers) {
                threadpool_free(p);
                return gemma_error_set(err, -ENOMEM, "threads: out of memory");
        }
        for (uint32_t i = 1; i < n_threads; i++) {
                Worker *w = &p->workers[i];
                w->pool = p;
                w->part = i;
                int r = pthread_create(&w->thread, NULL, worker_main, w);
                if (r != 0) {
                        p->n_threads = i;   /* only these were started; free joins them */
                        threadpool_free(p);
                        return gemma_error_set(err, -r, "threads: cannot start thread %u: %s", i, strerror(r));
                }
        }
        *ret = p;
        return 0;
}

ThreadPool *threadpool_free(ThreadPool *p) {
        if (!p)
                return NULL;
        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->job_ready);
        pthread_mutex_unlock(&p->lock);
        for (uint32_t i = 1; p->workers && i < p->n_threads; i++)
                pthread_join(p->workers[i].thread, NULL);
        pthread_cond_destroy(&p->job_ready);
        pthread_cond_destroy(&p->job_done);
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return NULL;
}

uint32_t threadpool_size(const ThreadPool *p) {
        return p ? p->n_threads : 1;
}

uint32_t threadpool_parts(const ThreadPool *p) {
        /* More parts than threads, so a thread that is late or slow costs a small share. */
        return !p || p->n_threads == 1 ? 1 : p->n_threads * THREADPOOL_PARTS_PER_THREAD;
}

void threadpool_run(ThreadPool *p, ThreadPoolFn fn, void *arg) {
        if (!p || p->n_threads == 1) {
                fn(arg, 0, 1);
                return;
        }
        const uint32_t n_parts = threadpool_parts(p);
        pthread_mutex_lock(&p->lock);
        p->fn = fn;
        p->arg = arg;
        p->n_parts = n_parts;
        uint64_t gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
        atomic_store_explicit(&p->done, 0, memory_order_relaxed);
        atomic_store_explicit(&p->claim, (gen & 0xffffffffu) << 32, memory_order_release);
        atomic_store_explicit(&p->generation, gen, memory_order_release);
        pthread_cond_broadcast(&p->job_ready);
        pthread_mutex_unlock(&p->lock);

        run_parts(p, gen, fn, arg, n_parts);

        /* Wait for parts others still run: spin briefly, then sleep. */
        for (int i = 0; i < SPIN_ITERATIONS && atomic_load_explicit(&p->done, memory_order_acquire) != n_parts; i++)
                cpu_relax();
        if (atomic_load_explicit(&p->done, memory_order_acquire) != n_parts) {
                pthread_mutex_lock(&p->lock);
                while (atomic_load_explicit(&p->done, memory_order_acquire) != n_parts)
                        pthread_cond_wait(&p->job_done, &p->lock);
                pthread_mutex_unlock(&p->lock);
        }
}
