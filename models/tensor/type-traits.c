/* The one table of tensor type traits, indexed by GGUF type number. */
#include "type-traits.h"

#include <errno.h>
#include <strings.h>

#include "../base/macro.h"

static const TypeTraits traits_table[_GGML_TYPE_MAX] = {
        [GGML_TYPE_F32] = { "f32", 1, 4, dequant_row_f32, quantize_row_f32 },
        [GGML_TYPE_F16] = { "f16", 1, 2, dequant_row_f16, quantize_row_f16 },
        [GGML_TYPE_BF16] = { "bf16", 1, 2, dequant_row_bf16, quantize_row_bf16 },
        [GGML_TYPE_Q4_0] = { "q4_0", 32, 18, dequant_row_q4_0, quantize_row_q4_0 },
        [GGML_TYPE_Q4_1] = { "q4_1", 32, 20, dequant_row_q4_1, NULL },
        [GGML_TYPE_Q5_0] = { "q5_0", 32, 22, dequant_row_q5_0, NULL },
        [GGML_TYPE_Q5_1] = { "q5_1", 32, 24, dequant_row_q5_1, NULL },
        [GGML_TYPE_Q8_0] = { "q8_0", 32, 34, dequant_row_q8_0, quantize_row_q8_0 },
        /* Known to exist in files, but no published Gemma 3n file uses them: the loader names
         * them in its error instead of calling them unknown. */
        [GGML_TYPE_Q8_1] = { "q8_1", 32, 36, NULL, NULL },
        [GGML_TYPE_Q2_K] = { "q2_k", 256, 84, NULL, NULL },
        [GGML_TYPE_Q3_K] = { "q3_k", 256, 110, NULL, NULL },
        [GGML_TYPE_Q4_K] = { "q4_k", 256, 144, dequant_row_q4_k, NULL },
        [GGML_TYPE_Q5_K] = { "q5_k", 256, 176, dequant_row_q5_k, NULL },
        [GGML_TYPE_Q6_K] = { "q6_k", 256, 210, dequant_row_q6_k, NULL },
        [GGML_TYPE_Q8_K] = { "q8_k", 256, 292, dequant_row_q8_k, NULL },
};

const TypeTraits *type_traits(uint32_t type) {
        if (type >= _GGML_TYPE_MAX || !traits_table[type].name)
                return NULL;
        return &traits_table[type];
}

const char *type_name(uint32_t type) {
        const TypeTraits *t = type_traits(type);
        return t ? t->name : "unknown";
}

int type_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(traits_table); i++)
                if (traits_table[i].name && strcasecmp(traits_table[i].name, name) == 0)
                        return (int) i;
        return -EINVAL;
}

bool type_row_bytes(uint32_t type, uint64_t n, uint64_t *ret_bytes) {
        const TypeTraits *t = type_traits(type);
        uint64_t bytes;

        if (!t || n % t->block_elems != 0)
                return false;
        if (__builtin_mul_overflow(n / t->block_elems, (uint64_t) t->block_bytes, &bytes))
                return false;
        *ret_bytes = bytes;
        return true;
}
