/* uuid (core/): random (version 4) UUIDs for model cards, jobs and records.
 *
 * Text form only, lower-case, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (y in 8..b), written into a
 * caller buffer of FS_UUID_BUF bytes. Randomness comes from the kernel (getrandom), so ids from
 * several processes or machines do not collide in practice. */
#ifndef FAKESCOPE_UUID_H
#define FAKESCOPE_UUID_H

#include "fakescope/core.h"

#define FS_UUID_LEN 36
#define FS_UUID_BUF (FS_UUID_LEN + 1)

/* Fills out with a new UUID v4; FS_ERR_INTERNAL if the kernel gives no randomness. */
fs_err fs_uuid_v4(char out[FS_UUID_BUF], fs_msg *msg);
/* 1 when s is a UUID in text form (any version, either case), else 0. */
int fs_uuid_valid(const char *s);

#endif
