/* fuzz_replay_main.c: runs a libFuzzer target's LLVMFuzzerTestOneInput on every file named on
 * the command line (a folder: every file in it), in an ordinary build without libFuzzer or
 * sanitizers, so that the corpora can be replayed under valgrind memcheck: valgrind sees
 * inside the uninstrumented libraries (FFmpeg, libjpeg-turbo, libspng, libwebp) where ASan
 * cannot. Used by scripts/fuzz.sh; prints how many inputs ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fakescope/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long ran;

static void run_file(const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    fs_msg msg;
    if (fs_read_file(path, (size_t)64 << 20, &data, &len, &msg) != FS_OK) {
        fprintf(stderr, "replay: %s\n", msg.text);
        return;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    ran++;
}

static void run_path(const char *path) {
    struct stat st;
    if (stat(path, &st)) return;
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (!stat(p, &st) && S_ISREG(st.st_mode)) run_file(p);
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) run_path(argv[i]);
    printf("replayed %ld inputs\n", ran);
    return 0;
}
