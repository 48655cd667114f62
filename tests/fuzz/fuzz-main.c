/* Replays inputs through a fuzz target without libFuzzer, so the corpus runs in the normal test
 * suite. Arguments are files or directories (every regular file inside, in name order). Prints
 * one line per input; exits 0 unless an input cannot be read. A crash is the target's failure. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file into a block of exactly its size, so ASan sees reads past its end. */
static int run_file(const char *path) {
        FILE *fp = fopen(path, "rb");
        struct stat st;
        if (!fp || fstat(fileno(fp), &st) < 0) {
                fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
                if (fp)
                        fclose(fp);
                return -1;
        }
        size_t size = (size_t) st.st_size;
        uint8_t *data = malloc(size ? size : 1);
        if (!data || fread(data, 1, size, fp) != size) {
                fprintf(stderr, "%s: cannot read %zu bytes\n", path, size);
                free(data);
                fclose(fp);
                return -1;
        }
        fclose(fp);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        printf("%s: %zu bytes: ok\n", path, size);
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int run_dir(const char *dir) {
        DIR *d = opendir(dir);
        char **paths = NULL;
        size_t n = 0;
        int failed = 0;

        if (!d) {
                fprintf(stderr, "%s: cannot open directory: %s\n", dir, strerror(errno));
                return 1;
        }
        for (struct dirent *e; (e = readdir(d));) {
                char *path;
                struct stat st;
                if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
                        abort();
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(path);
                        continue;
                }
                char **p = realloc(paths, (n + 1) * sizeof(*paths));
                if (!p)
                        abort();
                paths = p;
                paths[n++] = path;
        }
        closedir(d);
        if (n)
                qsort(paths, n, sizeof(*paths), cmp_names);
        for (size_t i = 0; i < n; i++) {
                if (run_file(paths[i]) < 0)
                        failed++;
                free(paths[i]);
        }
        free(paths);
        if (n == 0)
                printf("%s: no inputs\n", dir);
        return failed;
}

int main(int argc, char *argv[]) {
        int failed = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                        failed += run_dir(argv[i]);
                else if (run_file(argv[i]) < 0)
                        failed++;
        }
        return failed ? 1 : 0;
}
