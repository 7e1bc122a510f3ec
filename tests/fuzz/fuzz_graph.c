/* fuzz_graph: libFuzzer target for the stored-graph description (nn/graph_io.c), the text a
 * face-detector file (`--face-model FILE`) carries in its "graph" metadata. The input is that
 * text, with two small tensors beside it so conv and dense lines can get that far. A graph that
 * loads is planned for one item (a size past memory is an error, not a crash), run once on
 * zeros, and saved again: its own description must load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fs_weights w = {0};
    fs_msg msg;
    const float ones[27] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t s4[4] = {1, 3, 3, 3}, s1[1] = {1};
    if (fs_weights_set_meta(&w, "graph", text, &msg) || fs_weights_add(&w, "n1.weight", 4, s4, ones, &msg) ||
        fs_weights_add(&w, "n1.bias", 1, s1, ones, &msg))
        abort();
    free(text);
    fs_graph *g = NULL;
    if (fs_graph_load(&w, &g, &msg) == FS_OK) {
        fs_graph_node_info in;
        fs_graph_node(g, 0, &in);
        /* only small inputs are run: the point is the description, not the kernels' speed */
        const size_t n = (size_t)in.h * in.w * in.c;
        size_t total = 0;
        for (int i = 0; i < fs_graph_nodes(g); i++) {
            fs_graph_node_info ni;
            fs_graph_node(g, i, &ni);
            total += (size_t)ni.h * ni.w * ni.c;
        }
        if (total < (1u << 20) && fs_graph_plan(g, 1, &msg) == FS_OK) {
            float *x = calloc(n ? n : 1, sizeof(float));
            if (x && fs_graph_forward(g, x, 1, NULL, &msg) != FS_OK) abort();
            free(x);
        }
        fs_weights again = {0};
        if (fs_graph_save(g, &again, &msg) != FS_OK) abort();
        fs_graph *h = NULL;
        if (fs_graph_load(&again, &h, &msg) != FS_OK) abort();
        if (fs_graph_nodes(h) != fs_graph_nodes(g)) abort();
        fs_graph_free(h);
        fs_weights_free(&again);
        fs_graph_free(g);
    }
    fs_weights_free(&w);
    return 0;
}
