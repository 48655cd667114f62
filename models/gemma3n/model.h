/* Gemma3nModel: the mapped file, its hyperparameters and its bound weights. Immutable after
 * load, so every sequence and thread may share one — except the optional accelerator, which is
 * attached once right after load and then used only by the thread running forward passes. */
#pragma once

#include "base/error.h"
#include "gguf/gguf.h"
#include "accel.h"
#include "hparams.h"
#include "weights.h"

typedef struct Gemma3nModel {
        GgufFile *file;
        Gemma3nHParams hp;
        Gemma3nWeights w;
        Gemma3nAccel *accel;     /* runs some or all decoder layers; NULL: the CPU runs them */
} Gemma3nModel;

int gemma3n_model_load(const char *path, Gemma3nModel **ret, GemmaError *err);
Gemma3nModel *gemma3n_model_free(Gemma3nModel *m);

/* The model takes ownership of the accelerator (freed with the model, or by attaching NULL). */
void gemma3n_model_attach_accel(Gemma3nModel *m, Gemma3nAccel *accel);

static inline void gemma3n_model_freep(Gemma3nModel **m) {
        if (*m)
                gemma3n_model_free(*m);
}
