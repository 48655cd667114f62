/* Packed weights (packed.h): the layout writer and the background packer. */
#include "packed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/macro.h"
#include "kernels.h"
#include "tensor/type-traits.h"

/* Per packed block: the bytes of a row's quants, the dwords of them, and the XOR that makes a
 * value the unsigned operand (q4_0's nibbles already are). */
typedef struct PackedFormat {
        size_t block_bytes;    /* of one row's block in the file: f16 d, then the quants */
        size_t quant_dwords;
        uint8_t flip;
} PackedFormat;

static bool packed_format(uint32_t type, PackedFormat *ret) {
        switch (type) {
        case GGML_TYPE_Q4_0:
                *ret = (PackedFormat) { .block_bytes = 18, .quant_dwords = 4, .flip = 0 };
                return true;
        case GGML_TYPE_Q8_0:
                *ret = (PackedFormat) { .block_bytes = 34, .quant_dwords = 8, .flip = 0x80 };
                return true;
        default:
                return false;
        }
}

void packed_write_tiles(const Tensor *w, size_t first_tile, size_t n_tiles, uint8_t *dst) {
        PackedFormat f;
        if (!packed_format(w->type, &f))
                return;
        const size_t nb = w->ne[0] / 32, tile_bytes = PACKED_TILE_ROWS * w->row_bytes;
        const size_t quant_bytes = 64 * f.quant_dwords;
        for (size_t t = first_tile; t < first_tile + n_tiles; t++) {
                uint8_t *out = dst + t * tile_bytes;
                for (size_t b = 0; b < nb; b++, out += PACKED_TILE_ROWS * f.block_bytes) {
                        for (size_t r = 0; r < PACKED_TILE_ROWS; r++) {
                                const uint8_t *src = (const uint8_t *) tensor_row(w, t * PACKED_TILE_ROWS + r) +
                                                     b * f.block_bytes;
                                memcpy(out + quant_bytes + 2 * r, src, 2);
                                for (size_t j = 0; j < f.quant_dwords; j++)
                                        for (size_t k = 0; k < 4; k++)
                                                out[64 * j + 4 * r + k] = src[2 + 4 * j + k] ^ f.flip;
                        }
                }
        }
}

/* ---- the packer ---- */

typedef struct PackedMatrix {
        Tensor *tensor;
        uint8_t *dst;
        uint64_t rows;     /* whole tiles' rows */
        uint64_t bytes;
} PackedMatrix;

struct WeightPacker {
        PackedMatrix *matrices;
        size_t n_matrices;
        uint8_t *memory;
        size_t memory_bytes;
        bool release_source;

        pthread_t thread;
        bool thread_started;
        atomic_bool stop;

        pthread_mutex_t lock;
        pthread_cond_t progressed;
        size_t done;                 /* matrices published; under lock */
        struct timespec started;
        double seconds;
};

/* The memory the system must have available beyond the copies for packing to start: a desktop
 * keeps its other programs, and the copies are not reclaimable as the file's pages are. */
#define AVAILABLE_MARGIN (512u << 20)

/* MemAvailable from /proc/meminfo in bytes; 0 when it cannot be read (then nothing is refused). */
static uint64_t mem_available(void) {
        FILE *f = fopen("/proc/meminfo", "re");
        char line[128];
        unsigned long long kib = 0;
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
                        break;
        fclose(f);
        return (uint64_t) kib * 1024;
}

/* Tiles written between two looks at the stop flag. */
#define TILES_PER_CHUNK 64
#define MATRIX_ALIGN 4096

static double seconds_since(const struct timespec *t0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) (t.tv_sec - t0->tv_sec) + (double) (t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* Lets go of the mapped pages wholly inside [p, p + n): they are file pages, read back in if the
 * file's rows are read again (token embedding lookups read a few rows of the LM head). */
static void release_pages(const void *p, size_t n) {
        const long page_size = sysconf(_SC_PAGESIZE);
        const uintptr_t page = page_size > 0 ? (uintptr_t) page_size : 4096;
        const uintptr_t begin = ((uintptr_t) p + page - 1) & ~(page - 1), end = ((uintptr_t) p + n) & ~(page - 1);
        if (end > begin)
                (void) madvise((void *) begin, end - begin, MADV_DONTNEED);
}

static void *packer_thread(void *userdata) {
        WeightPacker *p = userdata;

        /* Packing is background work: the compute threads come first (five steps nicer than the
         * process; getpriority's -1 on error is a valid value too, which does no harm here). */
        errno = 0;
        const int nice = getpriority(PRIO_PROCESS, (id_t) gettid());
        if (errno == 0)
                (void) setpriority(PRIO_PROCESS, (id_t) gettid(), MIN(nice + 5, 19));
        for (size_t i = 0; i < p->n_matrices; i++) {
                PackedMatrix *m = &p->matrices[i];
                const size_t n_tiles = m->rows / PACKED_TILE_ROWS;
                for (size_t t = 0; t < n_tiles; t += TILES_PER_CHUNK) {
                        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
                                return NULL;
                        packed_write_tiles(m->tensor, t, MIN((size_t) TILES_PER_CHUNK, n_tiles - t), m->dst);
                }
                tensor_publish_packed(m->tensor, m->dst, m->rows);
                if (p->release_source)
                        release_pages(m->tensor->data, m->rows * m->tensor->row_bytes);
                pthread_mutex_lock(&p->lock);
                p->done++;
                p->seconds = seconds_since(&p->started);
                pthread_cond_broadcast(&p->progressed);
                pthread_mutex_unlock(&p->lock);
        }
        return NULL;
}

int weight_packer_start(Tensor *const *tensors, size_t n, const WeightPackerOptions *opts, WeightPacker **ret,
                        GemmaError *err) {
        WeightPacker *p = new0(WeightPacker, 1);
        if (!p || !(p->matrices = new0(PackedMatrix, n))) {
                free(p);
                return gemma_error_set(err, -ENOMEM, "out of memory");
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->progressed, NULL);
        p->release_source = opts->release_source;

        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                Tensor *t = tensors[i];
                PackedFormat f;
                const DotKernel *k = dot_kernel_find(t->type, opts->features);
                if (!packed_format(t->type, &f) || !k || !k->tile_packed || t->ne[0] % 32 != 0 ||
                    t->ne[1] < PACKED_TILE_ROWS || tensor_packed(t))
                        continue;
                PackedMatrix *m = &p->matrices[p->n_matrices++];
                m->tensor = t;
                m->rows = t->ne[1] / PACKED_TILE_ROWS * PACKED_TILE_ROWS;
                m->bytes = m->rows * t->row_bytes;
                total = (total + MATRIX_ALIGN - 1) / MATRIX_ALIGN * MATRIX_ALIGN;
                m->dst = (uint8_t *) (uintptr_t) total;   /* an offset until the memory exists */
                total += m->bytes;
        }
        const uint64_t available = total > 0 ? mem_available() : 0;
        if (available > 0 && available < (uint64_t) total + AVAILABLE_MARGIN) {
                weight_packer_free(p);
                return gemma_error_set(err, -ENOMEM,
                                       "packed copies of the weights would take %zu MiB, and only %" PRIu64
                                       " MiB of memory is available", total >> 20, available >> 20);
        }
        if (total > 0) {
                /* committed memory, not MAP_NORESERVE: a shortfall fails here, where the model can
                 * go on reading the file, rather than as an OOM kill while packing */
                void *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (mem == MAP_FAILED) {
                        int k = -errno;
                        weight_packer_free(p);
                        return gemma_error_set(err, k, "cannot reserve %zu MiB for packed weights: %s",
                                               total >> 20, strerror(-k));
                }
                /* large pages: the tiles stream through the TLB as the file's huge folios do */
                (void) madvise(mem, total, MADV_HUGEPAGE);
                p->memory = mem;
                p->memory_bytes = total;
                for (size_t i = 0; i < p->n_matrices; i++)
                        p->matrices[i].dst = p->memory + (uintptr_t) p->matrices[i].dst;
        }
        clock_gettime(CLOCK_MONOTONIC, &p->started);
        if (p->n_matrices > 0) {
                int k = pthread_create(&p->thread, NULL, packer_thread, p);
                if (k != 0) {
                        weight_packer_free(p);
                        return gemma_error_set(err, -k, "cannot start the weight packer: %s", strerror(k));
                }
                p->thread_started = true;
        }
        *ret = p;
        return 0;
}

WeightPackerProgress weight_packer_progress(WeightPacker *p) {
        WeightPackerProgress r = { .matrices = (uint32_t) p->n_matrices };
        for (size_t i = 0; i < p->n_matrices; i++)
                r.bytes += p->matrices[i].bytes;
        pthread_mutex_lock(&p->lock);
        r.matrices_done = (uint32_t) p->done;
        r.seconds = p->seconds;
        pthread_mutex_unlock(&p->lock);
        return r;
}

void weight_packer_wait(WeightPacker *p) {
        pthread_mutex_lock(&p->lock);
        while (p->done < p->n_matrices)
                pthread_cond_wait(&p->progressed, &p->lock);
        pthread_mutex_unlock(&p->lock);
}

WeightPacker *weight_packer_free(WeightPacker *p) {
        if (!p)
                return NULL;
        if (p->thread_started) {
                atomic_store(&p->stop, true);
                pthread_join(p->thread, NULL);
        }
        for (size_t i = 0; i < p->n_matrices; i++)
                if (p->memory && tensor_packed(p->matrices[i].tensor) == p->matrices[i].dst)
                        tensor_publish_packed(p->matrices[i].tensor, NULL, 0);
        if (p->memory)
                (void) munmap(p->memory, p->memory_bytes);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->progressed);
        free(p->matrices);
        free(p);
        return NULL;
}
