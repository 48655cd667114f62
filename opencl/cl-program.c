/* Program builds through the on-disk binary cache (the format and rules are in cl-program.h). */
#include "cl-program.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "sha256.h"

/* Build logs past this are cut: the message needs the first lines, the caller a readable log. */
#define BUILD_LOG_MAX (1u << 20)
/* Lines of the build log quoted in the error message. */
#define BUILD_LOG_LINES 8

/* Each field goes in with its length first, so no two different field lists hash alike. */
static void hash_field(Sha256 *s, const char *v) {
        uint64_t len = v ? strlen(v) : 0;
        sha256_update(s, &len, sizeof(len));
        if (len)
                sha256_update(s, v, len);
}

static void cache_key_digest(const ClDevice *dev, const char *source, const char *options, uint8_t ret[32]) {
        char platform_version[256];
        Sha256 s;

        /* A driver update that keeps the device's version strings usually changes this one
         * (POCL puts its LLVM version there). */
        if (cl_platform_info_string(dev->platform, CL_PLATFORM_VERSION, platform_version, sizeof(platform_version)) !=
            CL_SUCCESS)
                platform_version[0] = '\0';
        sha256_init(&s);
        hash_field(&s, "gemmad-opencl-program-cache-1");
        hash_field(&s, dev->platform_name);
        hash_field(&s, platform_version);
        hash_field(&s, dev->name);
        hash_field(&s, dev->vendor);
        hash_field(&s, dev->driver_version);
        hash_field(&s, dev->version);
        hash_field(&s, options);
        hash_field(&s, source);
        sha256_final(&s, ret);
}

static void to_hex(const uint8_t *b, size_t n, char *ret) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = digits[b[i] >> 4];
                ret[2 * i + 1] = digits[b[i] & 15];
        }
        ret[2 * n] = '\0';
}

void cl_program_cache_key(const ClDevice *dev, const char *source, const char *options, char ret[65]) {
        uint8_t digest[32];
        cache_key_digest(dev, source, options, digest);
        to_hex(digest, sizeof(digest), ret);
}

int cl_program_cache_dir_default(char **ret) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        char *path = NULL;
        int k;

        /* The XDG base directory specification says relative paths are to be ignored. */
        if (xdg && xdg[0] == '/')
                k = asprintf(&path, "%s/gemmad/opencl", xdg);
        else if (home && home[0] == '/')
                k = asprintf(&path, "%s/.cache/gemmad/opencl", home);
        else
                return -ENOENT;
        if (k < 0)
                return -ENOMEM;
        *ret = path;
        return 0;
}

/* mkdir -p with mode 0700 for what it creates; existing directories are left as they are. */
static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (c == '\0')
                        return 0;
        }
}

/* Whether dir exists (made if needed) and is safe to load binaries from: a directory of ours
 * that nobody else can write, so every file in it was written by this user. */
static bool cache_dir_usable(const char *dir) {
        struct stat st;
        int fd;

        if (mkdir_parents(dir) < 0)
                return false;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return false;
        }
        close(fd);
        return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
}

static int read_all(int fd, void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EBADMSG;
                done += (size_t) k;
        }
        return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
        for (size_t done = 0; done < n;) {
                ssize_t k = write(fd, (const char *) buf + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                done += (size_t) k;
        }
        return 0;
}

/* Reads and checks the cache file at path. Returns 0 with the payload in *ret (malloced) and its
 * size in *ret_size; -ENOENT when there is no file; -EBADMSG when there is one that must not be
 * used (not a regular file of ours, wrong size, magic, version, key or payload hash). */
static int cache_read(const char *path, const uint8_t key[32], uint8_t **ret, size_t *ret_size) {
        ClProgramCacheHeader h;
        _cleanup_free_ uint8_t *payload = NULL;
        uint8_t digest[32];
        struct stat st;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : -EBADMSG;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            (uint64_t) st.st_size <= sizeof(h) || (uint64_t) st.st_size > sizeof(h) + CL_PROGRAM_CACHE_PAYLOAD_MAX) {
                close(fd);
                return -EBADMSG;
        }
        r = read_all(fd, &h, sizeof(h));
        if (r < 0)
                goto bad;
        if (memcmp(h.magic, CL_PROGRAM_CACHE_MAGIC, sizeof(h.magic)) != 0 || h.version != CL_PROGRAM_CACHE_VERSION ||
            h.reserved != 0 || memcmp(h.key_sha256, key, 32) != 0 ||
            h.payload_size != (uint64_t) st.st_size - sizeof(h))
                goto bad;
        payload = malloc(h.payload_size);
        if (!payload)
                goto bad;
        r = read_all(fd, payload, h.payload_size);
        if (r < 0)
                goto bad;
        close(fd);
        sha256(payload, h.payload_size, digest);
        if (memcmp(digest, h.payload_sha256, sizeof(digest)) != 0)
                return -EBADMSG;
        *ret = TAKE_PTR(payload);
        *ret_size = h.payload_size;
        return 0;

bad:
        close(fd);
        return -EBADMSG;
}

/* Writes the file under a temporary name in the same directory and renames it into place. No
 * fsync: after a crash a torn file fails the payload hash and is rebuilt, which is cheaper than
 * waiting for the disk on every build. */
static int cache_write(const char *dir, const char *path, const uint8_t key[32], const uint8_t *payload,
                       size_t size) {
        ClProgramCacheHeader h = { .version = CL_PROGRAM_CACHE_VERSION, .payload_size = size };
        _cleanup_free_ char *tmp = NULL;
        int fd, r;

        memcpy(h.magic, CL_PROGRAM_CACHE_MAGIC, sizeof(h.magic));
        memcpy(h.key_sha256, key, 32);
        sha256(payload, size, h.payload_sha256);
        if (asprintf(&tmp, "%s/.tmp-XXXXXX", dir) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, &h, sizeof(h));
        if (r == 0)
                r = write_all(fd, payload, size);
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

/* The build log of prog for dev, malloced and cut at BUILD_LOG_MAX; NULL when there is none.
 * The query has no offset and refuses a short buffer, so the whole log is read first. */
static char *build_log(cl_program prog, cl_device_id dev) {
        size_t size = 0;
        char *log;

        if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) != CL_SUCCESS || size <= 1 ||
            size > 16 * BUILD_LOG_MAX)
                return NULL;
        log = malloc(size + 1);
        if (!log)
                return NULL;
        if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, size, log, NULL) != CL_SUCCESS) {
                free(log);
                return NULL;
        }
        log[MIN(size, (size_t) BUILD_LOG_MAX)] = '\0';
        return log;
}

/* The first non-empty lines of log joined by " | ", cut to fit buf. */
static void log_excerpt(const char *log, char *buf, size_t n) {
        size_t used = 0;
        unsigned lines = 0;

        buf[0] = '\0';
        for (const char *p = log; p && *p && lines < BUILD_LOG_LINES && used + 1 < n;) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);
                while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' '))
                        len--;
                if (len > 0) {
                        int k = snprintf(buf + used, n - used, "%s%.*s", lines ? " | " : "", (int) len, p);
                        if (k < 0)
                                break;
                        used += (size_t) k;
                        lines++;
                }
                p = eol ? eol + 1 : NULL;
        }
        for (char *c = buf; *c; c++)
                if ((unsigned char) *c < 0x20)
                        *c = ' ';
}

/* Loads a cached binary and builds it; NULL when the driver refuses it. */
static cl_program build_from_binary(cl_context ctx, const ClDevice *dev, const char *options, const uint8_t *bin,
                                    size_t size) {
        cl_int e, status = CL_INVALID_BINARY;
        cl_program prog;

        prog = clCreateProgramWithBinary(ctx, 1, &dev->id, &size, &bin, &status, &e);
        if (e != CL_SUCCESS || status != CL_SUCCESS) {
                if (prog)
                        clReleaseProgram(prog);
                return NULL;
        }
        if (clBuildProgram(prog, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS) {
                clReleaseProgram(prog);
                return NULL;
        }
        return prog;
}

/* The binary of a program built from source for dev, malloced; -ENODATA when the driver gives
 * none or one too large to cache. */
static int program_binary(cl_program prog, cl_device_id dev, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ cl_device_id *devs = NULL;
        _cleanup_free_ size_t *sizes = NULL;
        _cleanup_free_ unsigned char **bins = NULL;
        cl_uint n = 0, mine;

        /* A program from source belongs to every device of the context; find our slot. */
        if (clGetProgramInfo(prog, CL_PROGRAM_NUM_DEVICES, sizeof(n), &n, NULL) != CL_SUCCESS || n == 0 || n > 1024)
                return -ENODATA;
        devs = new0(cl_device_id, n);
        sizes = new0(size_t, n);
        bins = new0(unsigned char *, n);
        if (!devs || !sizes || !bins)
                return -ENOMEM;
        if (clGetProgramInfo(prog, CL_PROGRAM_DEVICES, n * sizeof(*devs), devs, NULL) != CL_SUCCESS ||
            clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, n * sizeof(*sizes), sizes, NULL) != CL_SUCCESS)
                return -ENODATA;
        for (mine = 0; mine < n && devs[mine] != dev; mine++)
                ;
        if (mine == n || sizes[mine] == 0 || sizes[mine] > CL_PROGRAM_CACHE_PAYLOAD_MAX)
                return -ENODATA;
        /* Entries left NULL are skipped by the driver: only our device's binary is copied. */
        _cleanup_free_ uint8_t *bin = malloc(sizes[mine]);
        if (!bin)
                return -ENOMEM;
        bins[mine] = bin;
        if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, n * sizeof(*bins), bins, NULL) != CL_SUCCESS)
                return -ENODATA;
        *ret_size = sizes[mine];
        *ret = TAKE_PTR(bin);
        return 0;
}

int cl_program_build_cached_full(cl_context ctx, const ClDevice *dev, const char *source, const char *options,
                                 const char *cache_dir, cl_program *ret, char **log, ClProgramCacheInfo *ret_info,
                                 GemmaError *err) {
        _cleanup_free_ char *default_dir = NULL, *path = NULL;
        ClProgramCacheInfo info = { 0 };
        uint8_t key[32] = { 0 };
        cl_program prog = NULL;
        cl_int e;

        if (!ctx || !dev || !source || !ret)
                return gemma_error_set(err, -EINVAL, "building an OpenCL program: missing context, device or source");

        if (!cache_dir && cl_program_cache_dir_default(&default_dir) == 0)
                cache_dir = default_dir;
        if (cache_dir && cache_dir_usable(cache_dir)) {
                char hex[65];
                cache_key_digest(dev, source, options, key);
                to_hex(key, sizeof(key), hex);
                if (asprintf(&path, "%s/%s.bin", cache_dir, hex) < 0)
                        path = NULL;
                info.cache_used = path != NULL;
        }

        if (info.cache_used) {
                _cleanup_free_ uint8_t *bin = NULL;
                size_t size = 0;
                int r = cache_read(path, key, &bin, &size);
                if (r == 0)
                        prog = build_from_binary(ctx, dev, options, bin, size);
                if (prog)
                        info.from_cache = true;
                else if (r != -ENOENT) {
                        /* Corrupt, truncated, foreign or refused by the driver (another device,
                         * an updated compiler): rebuilt below and replaced. */
                        info.discarded = unlink(path) == 0;
                }
        }

        if (!prog) {
                const char *src = source;
                prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &e);
                if (e != CL_SUCCESS || !prog)
                        return gemma_error_set(err, cl_error_to_errno(e), "creating OpenCL program for '%s': %s",
                                               dev->name, cl_error_name(e));
                e = clBuildProgram(prog, 1, &dev->id, options, NULL, NULL);
                if (e != CL_SUCCESS) {
                        _cleanup_free_ char *text = build_log(prog, dev->id);
                        char excerpt[GEMMA_ERROR_MESSAGE_MAX];
                        clReleaseProgram(prog);
                        log_excerpt(text, excerpt, sizeof(excerpt));
                        if (log)
                                *log = TAKE_PTR(text);
                        if (ret_info)
                                *ret_info = info;
                        return gemma_error_set(err, e == CL_BUILD_PROGRAM_FAILURE ? -EINVAL : cl_error_to_errno(e),
                                               "building OpenCL program for '%s' failed (%s)%s%s", dev->name,
                                               cl_error_name(e), excerpt[0] ? ": " : "", excerpt);
                }
                if (info.cache_used) {
                        _cleanup_free_ uint8_t *bin = NULL;
                        size_t size = 0;
                        if (program_binary(prog, dev->id, &bin, &size) == 0 &&
                            cache_write(cache_dir, path, key, bin, size) == 0)
                                info.stored = true;
                }
        }

        if (ret_info)
                *ret_info = info;
        *ret = prog;
        return 0;
}

int cl_program_build_cached(cl_context ctx, const ClDevice *dev, const char *source, const char *options,
                            const char *cache_dir, cl_program *ret, char **log, GemmaError *err) {
        return cl_program_build_cached_full(ctx, dev, source, options, cache_dir, ret, log, NULL, err);
}
