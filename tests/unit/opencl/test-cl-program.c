/* Unit tests for opencl/cl-program.c and sha256.c: builds through the binary cache on a real
 * OpenCL device (POCL in CI), each in a fresh cache directory. Every program that comes back is
 * run, so a binary loaded from the cache is shown to compute, not just to load. Damaged cache
 * files of every kind must lead to a build from source and a sound file in their place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl-device.h"
#include "cl-program.h"
#include "harness/test-util.h"
#include "sha256.h"

#define N_ELEMS(x) (sizeof(x) / sizeof((x)[0]))

/* Adds VALUE (a build option, 1 by default) to each element: the option is part of the key,
 * and the result shows which build ran. */
static const char kernel_source[] =
        "#ifndef VALUE\n"
        "#define VALUE 1\n"
        "#endif\n"
        "kernel void add_value(global int *x) {\n"
        "        size_t i = get_global_id(0);\n"
        "        x[i] += VALUE;\n"
        "}\n";

static const char broken_source[] =
        "kernel void broken(global int *x) {\n"
        "        x[0] = gemmad_undeclared_identifier;\n"
        "}\n";

typedef struct Fixture {
        ClDevice dev;
        cl_context ctx;
        cl_command_queue queue;
        char *dir;                 /* the cache directory of this test */
} Fixture;

/* ---- helpers ----------------------------------------------------------------------------- */

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        GemmaError err = { 0 };
        cl_int e;

        assert_non_null(f);
        /* Any device will do; the first one is what 'opencl:0' would use. */
        if (cl_device_choose("0", &f->dev, &err) < 0)
                fail_msg("no OpenCL device: %s (the tests need POCL with POCL_CACHE_DIR writable)", err.message);
        f->ctx = clCreateContext(NULL, 1, &f->dev.id, NULL, NULL, &e);
        assert_int_equal(e, CL_SUCCESS);
        f->queue = clCreateCommandQueue(f->ctx, f->dev.id, 0, &e);
        assert_int_equal(e, CL_SUCCESS);
        f->dir = test_tmpdir();
        assert_non_null(f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        clReleaseCommandQueue(f->queue);
        clReleaseContext(f->ctx);
        test_tmpdir_remove(f->dir);
        free(f);
        return 0;
}

/* Runs add_value from prog on {10, 20, 30, 40} and checks each grew by want. */
static void check_runs(Fixture *f, cl_program prog, int want) {
        int data[4] = { 10, 20, 30, 40 };
        size_t global = N_ELEMS(data);
        cl_int e;

        cl_kernel k = clCreateKernel(prog, "add_value", &e);
        assert_int_equal(e, CL_SUCCESS);
        cl_mem buf = clCreateBuffer(f->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(data), data, &e);
        assert_int_equal(e, CL_SUCCESS);
        assert_int_equal(clSetKernelArg(k, 0, sizeof(buf), &buf), CL_SUCCESS);
        assert_int_equal(clEnqueueNDRangeKernel(f->queue, k, 1, NULL, &global, NULL, 0, NULL, NULL), CL_SUCCESS);
        assert_int_equal(clEnqueueReadBuffer(f->queue, buf, CL_TRUE, 0, sizeof(data), data, 0, NULL, NULL), CL_SUCCESS);
        clReleaseMemObject(buf);
        clReleaseKernel(k);
        for (int i = 0; i < 4; i++)
                assert_int_equal(data[i], 10 * (i + 1) + want);
}

/* Builds kernel_source with options through the cache in dir; checks success and runs it. */
static ClProgramCacheInfo build(Fixture *f, const char *options, const char *dir, int want) {
        ClProgramCacheInfo info;
        GemmaError err = { 0 };
        cl_program prog = NULL;
        char *log = (char *) "untouched";

        memset(&info, 0xff, sizeof(info));
        int r = cl_program_build_cached_full(f->ctx, &f->dev, kernel_source, options, dir, &prog, &log, &info, &err);
        if (r < 0)
                fail_msg("build: %d %s", r, err.message);
        assert_non_null(prog);
        /* The log is only set on failure. */
        assert_string_equal(log, "untouched");
        check_runs(f, prog, want);
        clReleaseProgram(prog);
        return info;
}

static char *cache_path(Fixture *f, const char *options) {
        char key[65], *path;
        cl_program_cache_key(&f->dev, kernel_source, options, key);
        assert_true(asprintf(&path, "%s/%s.bin", f->dir, key) > 0);
        return path;
}

/* The number of entries in dir other than . and .. */
static size_t count_files(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static uint8_t *read_whole(const char *path, size_t *ret_size) {
        FILE *fp = fopen(path, "re");
        uint8_t *buf;
        long size;
        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        size = ftell(fp);
        assert_true(size > 0);
        rewind(fp);
        buf = malloc((size_t) size);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) size, fp), (size_t) size);
        fclose(fp);
        *ret_size = (size_t) size;
        return buf;
}

static void write_whole(const char *path, const void *data, size_t size) {
        FILE *fp = fopen(path, "we");
        assert_non_null(fp);
        if (size)
                assert_int_equal(fwrite(data, 1, size, fp), size);
        assert_int_equal(fclose(fp), 0);
}

/* The file at path is a sound cache file: header fields and both hashes agree. */
static void check_cache_file(const char *path, const char *key_hex) {
        size_t size;
        uint8_t *b = read_whole(path, &size), digest[32];
        ClProgramCacheHeader h;
        char hex[65];

        assert_true(size > sizeof(h));
        memcpy(&h, b, sizeof(h));
        assert_memory_equal(h.magic, CL_PROGRAM_CACHE_MAGIC, 8);
        assert_int_equal(h.version, CL_PROGRAM_CACHE_VERSION);
        assert_int_equal(h.payload_size, size - sizeof(h));
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", h.key_sha256[i]);
        assert_string_equal(hex, key_hex);
        sha256(b + sizeof(h), size - sizeof(h), digest);
        assert_memory_equal(digest, h.payload_sha256, 32);
        free(b);
}

/* ---- sha256 (FIPS 180-4 / NIST example vectors) ----------------------------------------------- */

static void hex_of(const uint8_t d[32], char out[65]) {
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_sha256_vectors(void **state) {
        static const struct {
                const char *msg;
                const char *hex;
        } v[] = {
                { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
                { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
                { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
                { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
        };
        uint8_t d[32];
        char hex[65];
        for (size_t i = 0; i < N_ELEMS(v); i++) {
                sha256(v[i].msg, strlen(v[i].msg), d);
                hex_of(d, hex);
                assert_string_equal(hex, v[i].hex);
        }
}

/* One million 'a', fed in pieces of every size from 1 to 130 bytes in turn, so every split of a
 * 64-byte block and every padding case is crossed. */
static void test_sha256_million_a_chunked(void **state) {
        static char chunk[130];
        Sha256 s;
        uint8_t d[32];
        char hex[65];
        size_t left = 1000000, step = 1;

        memset(chunk, 'a', sizeof(chunk));
        sha256_init(&s);
        while (left > 0) {
                size_t k = step < left ? step : left;
                sha256_update(&s, chunk, k);
                left -= k;
                step = step % sizeof(chunk) + 1;
        }
        sha256_final(&s, d);
        hex_of(d, hex);
        assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes) agree between one call and
 * byte-by-byte feeding. */
static void test_sha256_update_boundaries(void **state) {
        uint8_t msg[200];
        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t) (i * 7 + 3);
        for (size_t len = 0; len <= sizeof(msg); len++) {
                uint8_t a[32], b[32];
                Sha256 s;
                sha256(msg, len, a);
                sha256_init(&s);
                for (size_t i = 0; i < len; i++)
                        sha256_update(&s, msg + i, 1);
                sha256_final(&s, b);
                if (memcmp(a, b, 32) != 0)
                        fail_msg("length %zu: one call and byte-wise feeding differ", len);
        }
}

/* ---- cl_program_build_cached: miss, hit, key ---------------------------------------------------- */

static void test_cl_program_build_cached_miss_then_hit(void **state) {
        Fixture *f = *state;
        char key[65];
        char *path = cache_path(f, NULL);
        ClProgramCacheInfo info;

        cl_program_cache_key(&f->dev, kernel_source, NULL, key);
        info = build(f, NULL, f->dir, 1);
        assert_true(info.cache_used);
        assert_false(info.from_cache);
        assert_true(info.stored);
        assert_false(info.discarded);
        assert_int_equal(count_files(f->dir), 1);
        check_cache_file(path, key);

        info = build(f, NULL, f->dir, 1);
        assert_true(info.cache_used);
        assert_true(info.from_cache);
        assert_false(info.stored);
        assert_false(info.discarded);
        assert_int_equal(count_files(f->dir), 1);
        free(path);
}

/* Options, source and device all go into the key: another option is another file. */
static void test_cl_program_build_cached_options_in_key(void **state) {
        Fixture *f = *state;
        char k1[65], k2[65], k3[65];
        ClProgramCacheInfo info;

        cl_program_cache_key(&f->dev, kernel_source, NULL, k1);
        cl_program_cache_key(&f->dev, kernel_source, "-DVALUE=5", k2);
        cl_program_cache_key(&f->dev, broken_source, NULL, k3);
        assert_string_not_equal(k1, k2);
        assert_string_not_equal(k1, k3);
        /* "" and NULL options build alike, so they may share a key; what matters is that two
         * different texts never do. */
        ClDevice other = f->dev;
        other.driver_version[0] = other.driver_version[0] == 'x' ? 'y' : 'x';
        cl_program_cache_key(&other, kernel_source, NULL, k3);
        assert_string_not_equal(k1, k3);

        info = build(f, NULL, f->dir, 1);
        assert_true(info.stored);
        info = build(f, "-DVALUE=5", f->dir, 5);
        assert_false(info.from_cache);
        assert_true(info.stored);
        assert_int_equal(count_files(f->dir), 2);
        info = build(f, "-DVALUE=5", f->dir, 5);
        assert_true(info.from_cache);
        info = build(f, NULL, f->dir, 1);
        assert_true(info.from_cache);
}

/* ---- damaged cache files ------------------------------------------------------------------------ */

typedef enum {
        DAMAGE_EMPTY,
        DAMAGE_SHORT,              /* shorter than the header */
        DAMAGE_TRUNCATED,          /* header fine, payload cut */
        DAMAGE_GARBAGE,            /* same size, random bytes */
        DAMAGE_PAYLOAD_BIT,        /* one payload bit flipped */
        DAMAGE_MAGIC,
        DAMAGE_VERSION,
        DAMAGE_KEY,                /* another build's key */
        DAMAGE_SIZE_FIELD,         /* payload size larger than the file */
        DAMAGE_APPENDED,           /* trailing bytes after the payload */
        DAMAGE_HOSTILE_PAYLOAD,    /* a well-formed file whose payload is not a binary */
        DAMAGE_SYMLINK,            /* the file is a symlink to a sound copy elsewhere */
        DAMAGE_DIRECTORY,          /* a directory where the file should be */
        _DAMAGE_MAX,
} Damage;

static const char *const damage_names[_DAMAGE_MAX] = {
        "empty", "short", "truncated", "garbage", "payload-bit", "magic", "version", "key", "size-field", "appended",
        "hostile-payload", "symlink", "directory",
};

static void damage(const char *path, const char *aside, Damage kind) {
        size_t size;
        uint8_t *b = read_whole(path, &size);
        ClProgramCacheHeader h;
        uint32_t seed = 12345;

        memcpy(&h, b, sizeof(h));
        switch (kind) {
        case DAMAGE_EMPTY:
                write_whole(path, b, 0);
                break;
        case DAMAGE_SHORT:
                write_whole(path, b, 10);
                break;
        case DAMAGE_TRUNCATED:
                write_whole(path, b, sizeof(h) + (size - sizeof(h)) / 2);
                break;
        case DAMAGE_GARBAGE:
                for (size_t i = 0; i < size; i++) {
                        seed = seed * 1103515245u + 12345u;
                        b[i] = (uint8_t) (seed >> 16);
                }
                write_whole(path, b, size);
                break;
        case DAMAGE_PAYLOAD_BIT:
                b[sizeof(h) + (size - sizeof(h)) / 3] ^= 0x10;
                write_whole(path, b, size);
                break;
        case DAMAGE_MAGIC:
                b[0] ^= 0xff;
                write_whole(path, b, size);
                break;
        case DAMAGE_VERSION:
                h.version = CL_PROGRAM_CACHE_VERSION + 1;
                memcpy(b, &h, sizeof(h));
                write_whole(path, b, size);
                break;
        case DAMAGE_KEY:
                h.key_sha256[5] ^= 1;
                memcpy(b, &h, sizeof(h));
                write_whole(path, b, size);
                break;
        case DAMAGE_SIZE_FIELD:
                h.payload_size += 1000;
                memcpy(b, &h, sizeof(h));
                write_whole(path, b, size);
                break;
        case DAMAGE_APPENDED: {
                uint8_t *c = calloc(1, size + 16);
                assert_non_null(c);
                memcpy(c, b, size);
                write_whole(path, c, size + 16);
                free(c);
                break;
        }
        case DAMAGE_HOSTILE_PAYLOAD:
                /* Every check of ours passes: only the driver can refuse this one. */
                for (size_t i = sizeof(h); i < size; i++) {
                        seed = seed * 1103515245u + 12345u;
                        b[i] = (uint8_t) (seed >> 16);
                }
                sha256(b + sizeof(h), size - sizeof(h), h.payload_sha256);
                memcpy(b, &h, sizeof(h));
                write_whole(path, b, size);
                break;
        case DAMAGE_SYMLINK:
                write_whole(aside, b, size);
                assert_int_equal(unlink(path), 0);
                assert_int_equal(symlink(aside, path), 0);
                break;
        case DAMAGE_DIRECTORY:
                assert_int_equal(unlink(path), 0);
                assert_int_equal(mkdir(path, 0700), 0);
                break;
        default:
                fail();
        }
        free(b);
}

static void test_cl_program_build_cached_damaged_files(void **state) {
        Fixture *f = *state;
        char key[65], *aside;
        char *path = cache_path(f, NULL);

        cl_program_cache_key(&f->dev, kernel_source, NULL, key);
        assert_true(asprintf(&aside, "%s.aside", f->dir) > 0);
        assert_true(build(f, NULL, f->dir, 1).stored);
        for (int kind = 0; kind < _DAMAGE_MAX; kind++) {
                ClProgramCacheInfo info;
                damage(path, aside, (Damage) kind);
                info = build(f, NULL, f->dir, 1);
                if (kind == DAMAGE_DIRECTORY) {
                        /* Not ours to delete: rename() cannot replace a directory with a file, so
                         * the build simply goes without storing. */
                        assert_false(info.from_cache);
                        assert_int_equal(rmdir(path), 0);
                        assert_true(build(f, NULL, f->dir, 1).stored);
                        continue;
                }
                if (info.from_cache || !info.discarded || !info.stored)
                        fail_msg("damage '%s': from_cache %d discarded %d stored %d", damage_names[kind],
                                 info.from_cache, info.discarded, info.stored);
                /* The replacement is a sound regular file, and the next build uses it. */
                struct stat st;
                assert_int_equal(lstat(path, &st), 0);
                assert_true(S_ISREG(st.st_mode));
                check_cache_file(path, key);
                info = build(f, NULL, f->dir, 1);
                if (!info.from_cache)
                        fail_msg("damage '%s': the rebuilt file was not used", damage_names[kind]);
        }
        /* The symlink's target was left alone. */
        assert_int_equal(access(aside, F_OK), 0);
        unlink(aside);
        free(aside);
        free(path);
        assert_int_equal(count_files(f->dir), 1);
}

/* ---- build failures ----------------------------------------------------------------------------- */

static void test_cl_program_build_cached_broken_source(void **state) {
        Fixture *f = *state;
        GemmaError err = { 0 };
        cl_program prog = (cl_program) 0x1;
        char *log = NULL;
        ClProgramCacheInfo info;

        int r = cl_program_build_cached_full(f->ctx, &f->dev, broken_source, NULL, f->dir, &prog, &log, &info, &err);
        assert_int_equal(r, -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_ptr_equal(prog, (cl_program) 0x1);
        fprintf(stderr, "# %s\n", err.message);
        if (!strstr(err.message, "CL_BUILD_PROGRAM_FAILURE") || !strstr(err.message, "gemmad_undeclared_identifier"))
                fail_msg("message lacks the build log: %s", err.message);
        assert_non_null(strstr(err.message, f->dev.name));
        assert_null(strchr(err.message, '\n'));
        assert_non_null(log);
        assert_non_null(strstr(log, "gemmad_undeclared_identifier"));
        free(log);
        /* Nothing is cached for a failed build. */
        assert_false(info.stored);
        assert_int_equal(count_files(f->dir), 0);

        /* Without the optional outputs. */
        log = NULL;
        assert_int_equal(cl_program_build_cached(f->ctx, &f->dev, broken_source, NULL, f->dir, &prog, NULL, &err),
                         -EINVAL);
        assert_ptr_equal(prog, (cl_program) 0x1);
}

/* ---- cache directories ---------------------------------------------------------------------------- */

/* A directory others may write is not used: a binary planted there would run as our code. */
static void test_cl_program_build_cached_unsafe_dir(void **state) {
        Fixture *f = *state;
        ClProgramCacheInfo info;

        assert_int_equal(chmod(f->dir, 0777), 0);
        info = build(f, NULL, f->dir, 1);
        assert_false(info.cache_used);
        assert_false(info.stored);
        assert_int_equal(count_files(f->dir), 0);
        assert_int_equal(chmod(f->dir, 0700), 0);
}

/* A path that cannot be a directory: the build still works, without the cache. */
static void test_cl_program_build_cached_unusable_dir(void **state) {
        Fixture *f = *state;
        char *file, *below;
        ClProgramCacheInfo info;

        assert_true(asprintf(&file, "%s/a-file", f->dir) > 0);
        assert_true(asprintf(&below, "%s/a-file/cache", f->dir) > 0);
        write_whole(file, "x", 1);
        info = build(f, NULL, file, 1);
        assert_false(info.cache_used);
        info = build(f, NULL, below, 1);
        assert_false(info.cache_used);
        free(file);
        free(below);
}

/* Missing directories are made, private. */
static void test_cl_program_build_cached_makes_dir(void **state) {
        Fixture *f = *state;
        char *dir;
        struct stat st;

        assert_true(asprintf(&dir, "%s/a/b/c", f->dir) > 0);
        assert_true(build(f, NULL, dir, 1).stored);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_int_equal(count_files(dir), 1);
        free(dir);
}

static void test_cl_program_cache_dir_default(void **state) {
        Fixture *f = *state;
        char *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
        char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
        char *dir = NULL, *want;

        setenv("XDG_CACHE_HOME", "/x/cache", 1);
        setenv("HOME", "/home/u", 1);
        assert_int_equal(cl_program_cache_dir_default(&dir), 0);
        assert_string_equal(dir, "/x/cache/gemmad/opencl");
        free(dir);
        /* A relative XDG_CACHE_HOME is ignored, as the base directory specification says. */
        setenv("XDG_CACHE_HOME", "relative", 1);
        assert_int_equal(cl_program_cache_dir_default(&dir), 0);
        assert_string_equal(dir, "/home/u/.cache/gemmad/opencl");
        free(dir);
        unsetenv("XDG_CACHE_HOME");
        unsetenv("HOME");
        dir = NULL;
        assert_int_equal(cl_program_cache_dir_default(&dir), -ENOENT);
        assert_null(dir);

        /* With cache_dir NULL the build uses the default, made on first use. */
        setenv("XDG_CACHE_HOME", f->dir, 1);
        assert_true(build(f, NULL, NULL, 1).stored);
        assert_true(build(f, NULL, NULL, 1).from_cache);
        assert_true(asprintf(&want, "%s/gemmad/opencl", f->dir) > 0);
        assert_int_equal(count_files(want), 1);
        free(want);
        /* Neither variable: no cache, still a program. */
        unsetenv("XDG_CACHE_HOME");
        assert_false(build(f, NULL, NULL, 1).cache_used);

        if (old_xdg)
                setenv("XDG_CACHE_HOME", old_xdg, 1);
        if (old_home)
                setenv("HOME", old_home, 1);
        free(old_xdg);
        free(old_home);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_vectors),
                cmocka_unit_test(test_sha256_million_a_chunked),
                cmocka_unit_test(test_sha256_update_boundaries),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_miss_then_hit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_options_in_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_damaged_files, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_broken_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_unsafe_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_unusable_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_build_cached_makes_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cl_program_cache_dir_default, setup, teardown),
        };
        return cmocka_run_group_tests_name("cl-program.c", tests, NULL, NULL);
}
