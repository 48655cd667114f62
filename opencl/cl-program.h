/* Program builds with an on-disk cache of device binaries: a kernel source is compiled once per
 * device and driver, later runs load the binary (POCL: 1.4-2.4 s cold against 0.07 s warm).
 *
 * Cache files live in $XDG_CACHE_HOME/gemmad/opencl (else $HOME/.cache/gemmad/opencl), one per
 * key, named <sha256 hex of the key>.bin. The key covers the platform name and version, device
 * name and vendor, driver and device versions, build options and source. The cache is an
 * optimisation only: a directory that cannot be made or is not ours (owned by another user,
 * writable by group or others: a binary there would be run as our code) means building without
 * it; a file that fails any check, or that the driver refuses, is deleted and rebuilt from source.
 *
 * File format (host byte order: the cache never leaves the machine that wrote it):
 *   offset  size  field
 *        0     8  magic "GMDCLBIN"
 *        8     4  format version (1)
 *       12     4  reserved, 0
 *       16    32  SHA-256 of the key: must equal the key of the build asked for
 *       48     8  payload size in bytes (1 .. CL_PROGRAM_CACHE_PAYLOAD_MAX), equal to the rest
 *               of the file
 *       56    32  SHA-256 of the payload
 *       88     …  payload: the driver's program binary (CL_PROGRAM_BINARIES) for the device
 * Files are written under a temporary name and renamed into place, so a reader sees a whole file
 * or none; a file torn by a crash fails the payload hash and is rebuilt. */
#pragma once

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "cl-common.h"
#include "cl-device.h"

#define CL_PROGRAM_CACHE_MAGIC "GMDCLBIN"
#define CL_PROGRAM_CACHE_VERSION 1
/* Larger binaries are neither stored nor read: real kernel sets are a few MiB at most. */
#define CL_PROGRAM_CACHE_PAYLOAD_MAX (64u << 20)

typedef struct ClProgramCacheHeader {
        char magic[8];
        uint32_t version;
        uint32_t reserved;
        uint8_t key_sha256[32];
        uint64_t payload_size;
        uint8_t payload_sha256[32];
} ClProgramCacheHeader;
static_assert(sizeof(ClProgramCacheHeader) == 88, "the cache header layout is part of the file format");

/* What a build did with the cache, for logs and tests. */
typedef struct ClProgramCacheInfo {
        bool cache_used;           /* a cache directory was usable */
        bool from_cache;           /* the program came from a cached binary */
        bool stored;               /* a fresh binary was written to the cache */
        bool discarded;            /* a cached file was unusable and was deleted */
} ClProgramCacheInfo;

/* Builds source for dev (which ctx must hold) with options (NULL: none), through the cache in
 * cache_dir (NULL: the default above). Returns 0 and sets *ret to the built program (release it
 * with clReleaseProgram). On failure returns a negative errno (-EINVAL: the source does not
 * compile, the message then quoting the first lines of the build log; -ENOMEM; -EIO for other
 * driver failures) and, when log is given, sets *log to the whole build log (malloced; NULL when
 * the driver gave none). *ret is untouched on failure and *log on success. Cache problems are
 * never errors. */
int cl_program_build_cached(cl_context ctx, const ClDevice *dev, const char *source, const char *options,
                            const char *cache_dir, cl_program *ret, char **log, GemmaError *err);

/* The same, also reporting into *ret_info (when given) what happened with the cache. */
int cl_program_build_cached_full(cl_context ctx, const ClDevice *dev, const char *source, const char *options,
                                 const char *cache_dir, cl_program *ret, char **log, ClProgramCacheInfo *ret_info,
                                 GemmaError *err);

/* The hex SHA-256 of the cache key of (dev, source, options): the file name without ".bin".
 * ret must hold 65 bytes. */
void cl_program_cache_key(const ClDevice *dev, const char *source, const char *options, char ret[65]);

/* The default cache directory (malloced in *ret), or -ENOENT when neither XDG_CACHE_HOME nor HOME
 * is set to an absolute path; -ENOMEM. */
int cl_program_cache_dir_default(char **ret);
