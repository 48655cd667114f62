/* --backend for the gemma-model commands that run the model. */
#include "tool-backend.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "accel-select.h"
#include "tool.h"

void tool_backend_init(ToolBackend *b) {
        *b = (ToolBackend) { .spec = { .kind = BACKEND_CPU } };
}

int tool_backend_option(ToolBackend *b, int opt, const char *arg) {
        GemmaError err = { 0 };
        uint32_t mib;
        int k;
        switch (opt) {
        case TOOL_OPT_BACKEND:
                if (backend_spec_parse(arg, &b->spec, &err) < 0) {
                        usage_error("--backend: %s", err.message);
                        return -EINVAL;
                }
                return 1;
        case TOOL_OPT_OPENCL_MAX_MIB:
                if ((k = parse_u32("--opencl-max-device-mib", arg, 1, 1u << 24, &mib)) < 0)
                        return k;
                b->max_device_bytes = (uint64_t) mib << 20;
                return 1;
        case TOOL_OPT_NO_PACK:
                b->no_pack = true;
                return 1;
        default:
                return 0;
        }
}

void tool_backend_attach(Gemma3nModel *m, const ToolBackend *b, uint32_t cpu_features, AccelReport *report) {
        const AccelSelectOptions o = { .max_device_bytes = b->max_device_bytes };
        AccelReport r;
        accel_select(m, &b->spec, &o, &r);
        if (b->spec.kind != BACKEND_CPU)
                fprintf(stderr, "gemma-model: %s\n", r.message);
        if (report)
                *report = r;
        GemmaError err = {};
        if (!b->no_pack && gemma3n_model_pack_weights(m, cpu_features, &err) < 0)
                fprintf(stderr, "gemma-model: %s; reading the weights from the file\n", err.message);
}
