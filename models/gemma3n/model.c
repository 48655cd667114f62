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
