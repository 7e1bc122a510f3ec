/* fuzz_cose: libFuzzer target for the COSE_Sign1 reader and verifier (provenance/cose.c): the
 * protected header, the x5chain certificates (OpenSSL's DER parser), the algorithm dispatch,
 * the signature conversion and the time stamp token, over a fixed detached payload. */
#include <stdint.h>
#include <stdlib.h>

#include "provenance/prov_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t claim[] = {0xa1, 0x61, 'a', 0x01};
    prov_cose_result r;
    fs_msg msg;
    fs_err e = prov_cose_verify(data, size, claim, sizeof claim, NULL, &r, &msg);
    if (e == FS_OK && r.trust != -1) abort(); /* no trust list given: trust is not judged */
    if (e == FS_OK && r.verified != 0 && r.verified != 1) abort();
    return 0;
}
