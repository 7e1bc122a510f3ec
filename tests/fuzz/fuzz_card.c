/* fuzz_card: libFuzzer target for the model card JSON parser (fs_card_parse), which reads
 * cards found in model folders and uploaded beside weights. A card that parses must be
 * printable and must parse again from its own JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fs_card c = {0};
    fs_msg msg;
    if (fs_card_parse((const char *)data, size, &c, &msg) != FS_OK) {
        fs_card_free(&c);
        return 0;
    }
    if (fs_card_validate(&c, &msg) != FS_OK) abort(); /* parse and validate share the rules */
    (void)fs_card_p_fake(&c, 0.25);
    char *json = NULL;
    if (fs_card_to_json(&c, &json, &msg) == FS_OK) {
        fs_card again = {0};
        if (fs_card_parse(json, strlen(json), &again, &msg) != FS_OK) abort();
        if (strcmp(again.name, c.name) != 0 || strcmp(again.id, c.id) != 0) abort();
        fs_card_free(&again);
    }
    free(json);
    fs_card_free(&c);
    return 0;
}
