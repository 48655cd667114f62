/* Gemma3nModel: the mapped file, its hyperparameters and its bound weights. Immutable after
 * load, so every sequence and thread may share one — except the optional accelerator, which is
 * attached once right after load and then used only by the thread running forward passes, and
 * the packed copies of the CPU's matrices, which a background thread publishes into the weights'
 * Tensors one by one after gemma3n_model_pack_weights() (each a complete copy of the same values:
 * a forward pass gives the same bits before, during and after). */
#pragma once

#include "base/error.h"
#include "cpu/packed.h"
#include "gguf/gguf.h"
#include "accel.h"
#include "hparams.h"
#include "weights.h"

typedef struct Gemma3nModel {
        GgufFile *file;
        Gemma3nHParams hp;
        Gemma3nWeights w;
        Gemma3nAccel *accel;     /* runs some or all decoder layers; NULL: the CPU runs them */
        WeightPacker *packer;    /* packs the matrices the CPU multiplies; NULL: none */
} Gemma3nModel;

int gemma3n_model_load(const char *path, Gemma3nModel **ret, GemmaError *err);
Gemma3nModel *gemma3n_model_free(Gemma3nModel *m);

/* The model takes ownership of the accelerator (freed with the model, or by attaching NULL). */
void gemma3n_model_attach_accel(Gemma3nModel *m, Gemma3nAccel *accel);

/* Starts packing, in the background, every matrix the CPU multiplies for CPU features `features`
 * (cpu/packed.h): the decoder layers' (but those the attached accelerator runs), the per-layer
 * input projection, AltUp's and the LM head. Call once, after attaching any accelerator (one
 * attached later leaves the copies of its layers unused). Fails as weight_packer_start() does
 * (mostly: not enough memory available); the model then reads the file as before. */
int gemma3n_model_pack_weights(Gemma3nModel *m, uint32_t features, GemmaError *err);

/* What packing has done so far (all zero when it was never started). */
WeightPackerProgress gemma3n_model_pack_progress(const Gemma3nModel *m);

/* Waits until every matrix is packed (returns at once when packing was never started). */
void gemma3n_model_wait_packed(const Gemma3nModel *m);

static inline void gemma3n_model_freep(Gemma3nModel **m) {
        if (*m)
                gemma3n_model_free(*m);
}
