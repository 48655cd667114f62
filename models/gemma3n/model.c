/* Loading a Gemma 3n model: open and validate the file, read hyperparameters, bind weights. */
#include "model.h"

#include <errno.h>
#include <stdlib.h>

#include "base/alloc.h"

int gemma3n_model_load(const char *path, Gemma3nModel **ret, GemmaError *err) {
        Gemma3nModel *m = new0(Gemma3nModel, 1);
        int k;

        if (!m)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        if ((k = gguf_open(path, &m->file, err)) < 0 || (k = gemma3n_hparams_load(m->file, &m->hp, err)) < 0 ||
            (k = gemma3n_weights_bind(m->file, &m->hp, &m->w, err)) < 0) {
                gemma3n_model_free(m);
                return k;
        }
        *ret = m;
        return 0;
}

Gemma3nModel *gemma3n_model_free(Gemma3nModel *m) {
        if (!m)
                return NULL;
        weight_packer_free(m->packer);
        gemma3n_accel_free(m->accel);
        gemma3n_weights_done(&m->w);
        gguf_close(m->file);
        free(m);
        return NULL;
}

void gemma3n_model_attach_accel(Gemma3nModel *m, Gemma3nAccel *accel) {
        if (m->accel != accel)
                gemma3n_accel_free(m->accel);
        m->accel = accel;
}

/* The matrices matmul() reads on the host, the layers first (the order they are packed in). */
static size_t host_matrices(Gemma3nModel *m, Tensor **out) {
        const Gemma3nHParams *hp = &m->hp;
        Gemma3nWeights *w = &m->w;
        size_t n = 0;
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                if (m->accel && m->accel->runs_layer(m->accel, l))
                        continue;
                Gemma3nLayerWeights *lw = &w->layers[l];
                out[n++] = &lw->laurel_l;
                out[n++] = &lw->attn_q;
                if (gemma3n_layer_owns_kv(hp, l)) {
                        out[n++] = &lw->attn_k;
                        out[n++] = &lw->attn_v;
                }
                out[n++] = &lw->attn_output;
                out[n++] = &lw->laurel_r;
                out[n++] = &lw->ffn_gate;
                out[n++] = &lw->ffn_up;
                out[n++] = &lw->ffn_down;
                out[n++] = &lw->inp_gate;
                out[n++] = &lw->proj;
        }
        out[n++] = &w->per_layer_model_proj;
        for (uint32_t j = 0; j + 1 < hp->n_altup; j++) {
                out[n++] = &w->altup_proj[j];
                out[n++] = &w->altup_unembd_proj[j];
        }
        out[n++] = w->has_output ? &w->output : &w->token_embd;
        return n;
}

/* Per layer at most 11 matrices; then the per-layer projection, AltUp's and the head. */
#define HOST_MATRICES_MAX(hp) ((size_t) (hp)->n_layer * 11 + 2 * 15 + 2)

int gemma3n_model_pack_weights(Gemma3nModel *m, uint32_t features, GemmaError *err) {
        if (m->packer)
                return 0;
        Tensor **list = new0(Tensor *, HOST_MATRICES_MAX(&m->hp));
        if (!list)
                return gemma_error_set(err, -ENOMEM, "out of memory");
        const size_t n = host_matrices(m, list);
        /* the file's pages may be let go only when they are a mapping of the file */
        const WeightPackerOptions opts = { .features = features, .release_source = m->file->mapped };
        int k = weight_packer_start(list, n, &opts, &m->packer, err);
        free(list);
        return k;
}

WeightPackerProgress gemma3n_model_pack_progress(const Gemma3nModel *m) {
        return m->packer ? weight_packer_progress(m->packer) : (WeightPackerProgress) {};
}

void gemma3n_model_wait_packed(const Gemma3nModel *m) {
        if (m->packer)
                weight_packer_wait(m->packer);
}
