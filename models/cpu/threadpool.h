/* A persistent pool of compute threads for one engine. threadpool_run() splits a job into a few
 * parts per thread, which the calling thread and the workers claim in shrinking runs until none is
 * left, and returns when every part is done: a thread the OS keeps off the CPU delays nobody. Workers spin briefly for the next job, then sleep on a condition variable, so an idle
 * daemon uses no CPU. No thread is created per job. */
#pragma once

#include <stdint.h>

#include "base/error.h"

typedef struct ThreadPool ThreadPool;

/* part in [0, n_parts): which share of the work to do. Every part runs exactly once, on any
 * thread, in any order. */
typedef void (*ThreadPoolFn)(void *arg, uint32_t part, uint32_t n_parts);

/* n_threads 0 means the machine's physical cores (at least 1). */
int threadpool_new(uint32_t n_threads, ThreadPool **ret, GemmaError *err);
ThreadPool *threadpool_free(ThreadPool *p);

static inline void threadpool_freep(ThreadPool **p) {
        if (*p)
                threadpool_free(*p);
}

/* NULL pool: runs fn(arg, 0, 1) on the caller. Not re-entrant: one job at a time. */
void threadpool_run(ThreadPool *p, ThreadPoolFn fn, void *arg);

uint32_t threadpool_size(const ThreadPool *p);
/* How many parts a job is split into (1 for a NULL or one-thread pool). */
uint32_t threadpool_parts(const ThreadPool *p);

/* Physical cores of this machine (sibling hyperthreads counted once), at least 1. */
uint32_t cpu_physical_cores(void);
