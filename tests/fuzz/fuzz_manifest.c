/* fuzz_manifest: libFuzzer target for the dataset manifest reader (fs_manifest_read), which
 * takes a path, so each input is written to a temporary file. A manifest whose digest line
 * does not match is refused before any CSV is parsed, so unless the first input byte is 'R'
 * (raw: the whole input as the file) the input is the body and the target writes the correct
 * `# fakescope-manifest v1 sha256=` line in front of it; the CSV parser is then reached. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakescope/dataset.h"
#include "fakescope/sha256.h"

#define MAGIC "# fakescope-manifest v1 sha256="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[PATH_MAX];

static void cleanup(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/fs-fuzz-manifest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0) abort();
        close(fd);
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && data[0] == 'R') {
        fwrite(data + 1, 1, size - 1, f);
    } else {
        char hex[FS_SHA256_HEX];
        if (fs_sha256_hex(data, size, hex) != FS_OK) abort();
        fprintf(f, "%s%s\n", MAGIC, hex);
        fwrite(data, 1, size, f);
    }
    fclose(f);
    fs_dataset ds;
    char digest[65];
    fs_msg msg;
    const char *root = (size & 1) ? "/data/sets" : NULL;
    if (fs_manifest_read(&ds, path, root, digest, &msg) == FS_OK) {
        for (size_t i = 0; i < ds.count; i++) {
            const fs_item *it = &ds.items[i];
            if (!it->path || !it->source || !it->group) abort();
            if (it->label != 0 && it->label != 1) abort();
            if (i && strcmp(ds.items[i - 1].path, it->path) > 0) abort(); /* sorted */
        }
        fs_dataset_stats st;
        (void)fs_dataset_stats_get(&ds, &st, &msg);
        /* What was read must write back to text and read the same. */
        char *text = NULL;
        size_t len = 0;
        if (fs_manifest_format(&ds, root, &text, &len, NULL, &msg) == FS_OK) {
            f = fopen(path, "wb");
            if (!f) abort();
            fwrite(text, 1, len, f);
            fclose(f);
            fs_dataset back;
            if (fs_manifest_read(&back, path, root, NULL, &msg) != FS_OK) abort();
            if (back.count != ds.count) abort();
            fs_dataset_free(&back);
        }
        free(text);
        fs_dataset_free(&ds);
    }
    return 0;
}
