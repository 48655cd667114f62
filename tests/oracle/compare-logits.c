/* compare-logits: checks logits against reference logits the way the oracle cases define
 * agreement: max|ours - ref| <= tol * max|ref| over every position, every value finite, and the
 * same argmax wherever the reference's top-2 gap exceeds the gap threshold. Prints the figures
 * either way, so the test log records the measured error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_floats(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "rbe");
        float *v = NULL;
        long size;
        if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
            size % 4 != 0 || !(v = malloc(size ? (size_t) size : 1)) || fread(v, 1, (size_t) size, f) != (size_t) size) {
                fprintf(stderr, "compare-logits: cannot read %s\n", path);
                exit(2);
        }
        fclose(f);
        *ret_n = (size_t) size / 4;
        return v;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "Usage: compare-logits OURS.f32 REF.f32 N_VOCAB [REL_TOL [GAP]]\n");
                return 2;
        }
        size_t n_ours, n_ref, V = strtoul(argv[3], NULL, 10);
        double tol = argc > 4 ? atof(argv[4]) : 1e-3, gap_min = argc > 5 ? atof(argv[5]) : 1e-3;
        float *ours = read_floats(argv[1], &n_ours), *ref = read_floats(argv[2], &n_ref);
        if (V == 0 || n_ref % V != 0 || n_ours != n_ref) {
                fprintf(stderr, "compare-logits: sizes differ or do not fit: %zu vs %zu values, vocabulary %zu\n", n_ours,
                        n_ref, V);
                free(ours);
                free(ref);
                return 1;
        }
        size_t n_pos = n_ref / V, argmax_checked = 0, argmax_bad = 0, nonfinite = 0;
        double max_diff = 0, max_ref = 0;
        for (size_t p = 0; p < n_pos; p++) {
                const float *o = ours + p * V, *r = ref + p * V;
                size_t best_o = 0, best_r = 0;
                float second_r = -INFINITY;
                for (size_t i = 0; i < V; i++) {
                        if (!isfinite(o[i]))
                                nonfinite++;
                        max_diff = fmax(max_diff, fabs((double) o[i] - r[i]));
                        max_ref = fmax(max_ref, fabs((double) r[i]));
                        if (o[i] > o[best_o])
                                best_o = i;
                        if (r[i] > r[best_r]) {
                                second_r = r[best_r];
                                best_r = i;
                        } else if (i != best_r && r[i] > second_r)
                                second_r = r[i];
                }
                if (r[best_r] - second_r > gap_min) {
                        argmax_checked++;
                        if (best_o != best_r) {
                                argmax_bad++;
                                fprintf(stderr, "position %zu: argmax %zu, reference %zu\n", p, best_o, best_r);
                        }
                }
        }
        double rel = max_ref > 0 ? max_diff / max_ref : max_diff;
        printf("positions %zu, vocabulary %zu: max|ours-ref| %.3g, max|ref| %.4g, relative %.3g (limit %.3g); "
               "argmax agrees at %zu/%zu positions with a top-2 gap > %.3g; non-finite %zu\n",
               n_pos, V, max_diff, max_ref, rel, tol, argmax_checked - argmax_bad, argmax_checked, gap_min, nonfinite);
        free(ours);
        free(ref);
        return (nonfinite == 0 && rel <= tol && argmax_bad == 0) ? 0 : 1;
}
