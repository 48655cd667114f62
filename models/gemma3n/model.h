/* Gemma3nModel: the mapped file, its hyperparameters and its bound weights. Immutable after
 * load, so every sequence and thread may share one. */
#pragma once

#include "base/error.h"
#include "gguf/gguf.h"
#include "hparams.h"
#include "weights.h"

typedef struct Gemma3nModel {
        GgufFile *file;
        Gemma3nHParams hp;
        Gemma3nWeights w;
} Gemma3nModel;

int gemma3n_model_load(const char *path, Gemma3nModel **ret, GemmaError *err);
Gemma3nModel *gemma3n_model_free(Gemma3nModel *m);

static inline void gemma3n_model_freep(Gemma3nModel **m) {
        if (*m)
                gemma3n_model_free(*m);
}
