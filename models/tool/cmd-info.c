/* gemma-model info: what a model file holds, for people deciding whether it will run. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gemma3n/model.h"
#include "tensor/type-traits.h"
#include "tool.h"

static void help(FILE *out) {
        fputs("Usage: gemma-model info MODEL [--keys] [--tensors]\n"
              "\n"
              "Validate a Gemma 3n GGUF file and describe it: hyperparameters as read from the file,\n"
              "the per-layer plan (FFN width, attention type, KV source, activation sparsity), the\n"
              "tensor types, and how many bytes the per-layer embedding table takes (it stays in host\n"
              "memory) against everything else.\n"
              "\n"
              "Options:\n"
              "  --keys      also list every metadata key with its value\n"
              "  --tensors   also list every tensor with its type, shape and size\n"
              "  -h, --help  show this help\n"
              "\n"
              "Exit status: 0 valid model, 1 invalid or unreadable file, 2 bad command line.\n",
              out);
}

static void print_bytes(const char *label, uint64_t bytes, uint64_t total) {
        printf("  %-28s %12.1f MiB  (%5.1f %%)\n", label, (double) bytes / (1024.0 * 1024.0),
               total ? 100.0 * (double) bytes / (double) total : 0.0);
}

int cmd_info(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "keys", no_argument, NULL, 'k' },
                { "tensors", no_argument, NULL, 't' },
                {},
        };
        _cleanup_(gemma3n_model_freep) Gemma3nModel *m = NULL;
        bool list_keys = false, list_tensors = false;
        GemmaError err = { 0 };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case 'k':
                        list_keys = true;
                        break;
                case 't':
                        list_tensors = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                usage_error("info: expected exactly one MODEL argument");
                return EXIT_USAGE;
        }
        if (gemma3n_model_load(argv[optind], &m, &err) < 0) {
                fprintf(stderr, "gemma-model: %s\n", gemma_error_message(&err));
                return EXIT_FAILED;
        }

        const Gemma3nHParams *hp = &m->hp;
        const GgufFile *f = m->file;
        GgufString name = { "", 0 };
        gguf_get_string(f, "general.name", &name, NULL);
        printf("file:            %s (GGUF v%u, %zu bytes, alignment %u)\n", f->path, f->version, f->size, f->alignment);
        printf("name:            %.*s\n", (int) name.len, name.ptr);
        uint32_t file_type;
        if (gguf_get_u32(f, "general.file_type", &file_type, NULL) == 0)
                printf("file type:       %u (general.file_type)\n", file_type);
        printf("architecture:    gemma3n, %u layers\n", hp->n_layer);
        printf("hidden size:     %u\n", hp->n_embd);
        printf("attention:       %u query heads, %u KV heads, head dim %u, sliding window %u\n", hp->n_head,
               hp->n_head_kv, hp->head_dim, hp->sliding_window);
        printf("RoPE base:       %g global, %g sliding\n", hp->rope_base, hp->rope_base_swa);
        printf("context length:  %u (trained)\n", hp->n_ctx_train);
        printf("vocabulary:      %u tokens (per-layer table %u rows)\n", hp->n_vocab, hp->n_vocab_ple);
        printf("per-layer input: %u per layer (table row %u values)\n", hp->n_embd_ple, hp->n_embd_ple * hp->n_layer);
        printf("AltUp:           %u streams, active %u; LAuReL rank %u\n", hp->n_altup, hp->altup_active, hp->laurel_rank);
        printf("KV sharing:      top %u layers reuse earlier KV\n", hp->n_kv_shared);
        printf("norm eps:        %g; final logit soft-cap %g\n", hp->norm_eps, hp->final_softcap);
        printf("LM head:         %s\n", m->w.has_output ? "output.weight" : "tied to token_embd");
        printf("\nlayer  ffn      attention  kv-source  sparsity\n");
        for (uint32_t l = 0; l < hp->n_layer; l++) {
                char src[16] = "own";
                if (!gemma3n_layer_owns_kv(hp, l))
                        snprintf(src, sizeof(src), "layer %u", hp->kv_source[l]);
                printf("%5u  %-7u  %-9s  %-9s  ", l, hp->n_ff[l], hp->is_swa[l] ? "sliding" : "global", src);
                if (hp->sparsity_k[l] > 0)
                        printf("top-k, std x %.7g\n", hp->sparsity_k[l]);
                else
                        printf("dense\n");
        }

        uint64_t by_type[_GGML_TYPE_MAX] = { 0 }, count_type[_GGML_TYPE_MAX] = { 0 };
        for (size_t i = 0; i < f->n_tensors; i++) {
                by_type[f->tensors[i].type] += f->tensors[i].n_bytes;
                count_type[f->tensors[i].type]++;
        }
        printf("\ntensors:         %zu\n", f->n_tensors);
        for (unsigned t = 0; t < _GGML_TYPE_MAX; t++)
                if (count_type[t])
                        printf("  %-6s %5" PRIu64 " tensors %12.1f MiB\n", type_name(t), count_type[t],
                               (double) by_type[t] / (1024.0 * 1024.0));
        const uint64_t total = m->w.bytes_total;
        printf("\nweight bytes:\n");
        print_bytes("per-layer embeddings (PLE)", m->w.bytes_ple, total);
        print_bytes("token embeddings", m->w.bytes_token_embd, total);
        print_bytes("layers and the rest", total - m->w.bytes_ple - m->w.bytes_token_embd, total);
        print_bytes("total", total, total);

        if (list_keys) {
                printf("\nmetadata (%zu keys):\n", f->n_kvs);
                for (size_t i = 0; i < f->n_kvs; i++) {
                        char buf[128];
                        gguf_value_describe(&f->kvs[i].value, buf, sizeof(buf));
                        printf("  %-48s %s\n", f->kvs[i].key, buf);
                }
        }
        if (list_tensors) {
                printf("\ntensors:\n");
                for (size_t i = 0; i < f->n_tensors; i++) {
                        const GgufTensor *t = &f->tensors[i];
                        printf("  %-40s %-5s [%" PRIu64, t->name, type_name(t->type), t->ne[0]);
                        for (uint32_t d = 1; d < t->n_dims; d++)
                                printf(", %" PRIu64, t->ne[d]);
                        printf("] %" PRIu64 " bytes\n", t->n_bytes);
                }
        }
        return EXIT_OK;
}
