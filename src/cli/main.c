/* main.c: dispatches `fakescope COMMAND ...` to the subcommand table. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "fakescope/media_worker.h"

static const fs_cli_command commands[] = {
    /* one line per subcommand: {"name", "summary", fs_cli_name}, */
    {"predict", "judge image files as fake or real with one network", fs_cli_predict},
    {"bench", "forward-pass throughput of a network, and the FMA peak", fs_cli_bench},
    {"faces", "find faces in images with an OpenCV cascade", fs_cli_faces},
    {"scan", "judge videos and images face by face with one or more models", fs_cli_scan},
    {"serve", "run the HTTP API server", fs_cli_serve},
    {"keys", "create, list and revoke API keys", fs_cli_keys},
    {"models", "list model cards, import the original MesoNet Keras weights", fs_cli_models},
    {"train", "train a MesoNet detector on dataset folders (backward pass in C)", fs_cli_train},
    {"eval", "figures of one network on labelled folders, splits or manifests", fs_cli_eval},
    {"train-bench", "training throughput (images/s) on random data", fs_cli_train_bench},
    {"provenance", "read and verify Content Credentials (C2PA), list generator hints", fs_cli_provenance},
    {NULL, NULL, NULL},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out,
            "fakescope %s: deepfake and synthetic-media detection on the CPU\n\n"
            "usage: fakescope COMMAND [OPTIONS] [ARGS]\n\ncommands:\n",
            FS_VERSION_STRING);
    for (size_t i = 0; i < N_COMMANDS && commands[i].name; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`fakescope COMMAND --help` describes each command.\n"
                 "Exit status: 0 success, 1 some input failed, 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return FS_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("fakescope %s\n", FS_VERSION_STRING);
        return FS_EXIT_OK;
    }
    /* not a user's command: the sandboxed decoder a server starts (jobs/media_worker.h) */
    if (!strcmp(argv[1], "media-worker")) return fs_media_worker_main(argc - 1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS && commands[i].name; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fakescope: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return FS_EXIT_USAGE;
}
