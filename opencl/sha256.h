/* SHA-256 (FIPS 180-4): the key and the integrity check of the program cache. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

typedef struct Sha256 {
        uint32_t state[8];
        uint64_t n_bytes;          /* message length so far */
        uint8_t block[64];         /* the partial block not yet compressed */
        size_t n_block;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t ret[SHA256_DIGEST_SIZE]);

/* The digest of one buffer. */
void sha256(const void *data, size_t n, uint8_t ret[SHA256_DIGEST_SIZE]);
