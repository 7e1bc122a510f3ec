/* cli: the fakescope command line. Each subcommand lives in its own file and is listed in
 * main.c's table. Contract (see DESIGN.md): exit 0 on success, 1 when some input failed,
 * 2 on a usage error. Every subcommand accepts --help. */
#ifndef FS_CLI_H
#define FS_CLI_H

#include <stddef.h>

#define FS_EXIT_OK 0
#define FS_EXIT_INPUT 1
#define FS_EXIT_USAGE 2

typedef struct fs_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} fs_cli_command;

/* Subcommands, one file each in src/cli/. */
int fs_cli_scan(int argc, char **argv);
int fs_cli_models(int argc, char **argv); /* models.c */
int fs_cli_bench(int argc, char **argv);
int fs_cli_faces(int argc, char **argv);
int fs_cli_serve(int argc, char **argv); /* serve.c */
int fs_cli_keys(int argc, char **argv);  /* keys.c */
int fs_cli_faces(int argc, char **argv); /* faces.c */
int fs_cli_train(int argc, char **argv);  /* train.c */
int fs_cli_train_bench(int argc, char **argv); /* train.c */
int fs_cli_eval(int argc, char **argv);        /* eval.c */
int fs_cli_provenance(int argc, char **argv);  /* provenance.c */

/* The data directory when neither --data nor FAKESCOPE_DATA is given:
 * $HOME/.local/share/fakescope (serve.c). Writes into buf and returns it. */
const char *fs_cli_default_data_dir(char *buf, size_t cap);
int fs_cli_bench(int argc, char **argv);
int fs_cli_predict(int argc, char **argv);
int fs_cli_models(int argc, char **argv); /* models.c */

#endif
