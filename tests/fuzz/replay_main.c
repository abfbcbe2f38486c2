/* replay_main.c — runs a fuzz target over saved inputs without libFuzzer.
 *
 * Lets every build (gcc, no fuzzer runtime) replay the seed corpus and any
 * crash file as an ordinary ctest, so a fixed fuzz finding stays fixed.
 * Usage: fuzz_X_replay PATH...   (a PATH is a file or a directory of files;
 * names starting with '.' are skipped). Exits 1 if a path cannot be read
 * or no input was found; a finding makes the target itself abort. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one file to the target. 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || st.st_size < 0) {
        fclose(fp);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len > 0 ? len : 1);
    size_t got = buf ? fread(buf, 1, len, fp) : 0;
    fclose(fp);
    if (buf == NULL || got != len) {
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf,
                           len); /* exactly len bytes: ASan sees overreads */
    free(buf);
    return 0;
}

/* Feeds every regular file in dir. Count of inputs, or -1. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count >= 0) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        count = replay_file(path) == 0 ? count + 1 : -1;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n = -1;
        if (stat(argv[i], &st) == 0)
            n = S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                    : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 1;
        }
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replay: %d inputs, no findings\n", total);
    return 0;
}
