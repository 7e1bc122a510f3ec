/* fuzz_xmp: libFuzzer target for the unsigned-hint readers of provenance/hints.c: the XMP
 * property scanner (attributes, simple elements, rdf:li values, entity decoding) and the EXIF
 * IFD0 ASCII tag reader. Values written must be NUL-terminated inside the output buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provenance/prov_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"Iptc4xmpExt:DigitalSourceType", "xmp:CreatorTool", "dc:creator",
                                        "tiff:Software"};
    char out[64];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        memset(out, 'x', sizeof out);
        if (prov_xmp_get(data, size, names[i], out, sizeof out) && !memchr(out, 0, sizeof out)) abort();
    }
    memset(out, 'x', sizeof out);
    if (prov_exif_ascii(data, size, 0x0131, out, sizeof out) && !memchr(out, 0, sizeof out)) abort();
    return 0;
}
