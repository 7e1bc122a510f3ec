/* dataset_internal.h: what dataset.c, dataset_manifest.c and dataset_loader.c share. */
#ifndef FS_TRAIN_DATASET_INTERNAL_H
#define FS_TRAIN_DATASET_INTERNAL_H

#include "fakescope/dataset.h"

/* Copies a string into the dataset's pool (lives until fs_dataset_free); NULL when out of memory. */
const char *fs_pool_strdup(fs_dataset *ds, const char *s);
const char *fs_pool_strndup(fs_dataset *ds, const char *s, size_t n);
/* Appends a copy of *item (its strings must already live in ds's pool). */
fs_err fs_dataset_push(fs_dataset *ds, const fs_item *item, fs_msg *msg);
void fs_dataset_sort(fs_dataset *ds);
/* 0 for real, 1 for fake/df/ai (any case), -1 otherwise. */
int fs_class_label(const char *name);
/* Computes the group of items[first ..] (all of one source), whose paths begin with
 * prefix_len bytes of the scanned folder and '/'. */
fs_err fs_dataset_assign_groups(fs_dataset *ds, size_t first, size_t prefix_len, fs_msg *msg);

#endif
