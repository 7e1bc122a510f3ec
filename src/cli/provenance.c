/* provenance.c: `fakescope provenance`, the Content Credentials (C2PA) of image files and the
 * unsigned generator hints beside them (include/fakescope/provenance.h), as text or one JSON
 * object per line. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fakescope/json.h"
#include "fakescope/provenance.h"

static void prov_usage(FILE *out) {
    fprintf(out,
            "usage: fakescope provenance [OPTIONS] FILE...\n\n"
            "Reads the Content Credentials (C2PA manifest store) of JPEG, PNG and WebP files and\n"
            "validates them: claim signature (COSE; ES256/384/512, PS256/384/512, Ed25519), the\n"
            "signer's certificate chain against a trust list, time stamp, assertion hashes and the\n"
            "data hash binding to the file's bytes. Also lists unsigned hints (XMP/IPTC\n"
            "DigitalSourceType, EXIF Software, PNG text chunks of image generators). Nothing is\n"
            "fetched from the network.\n\n"
            "options:\n"
            "  --c2pa-trust FILE.pem  trust anchors (CA or allowed signer certificates); may be\n"
            "                         repeated (default: $FAKESCOPE_C2PA_TRUST, else trust is not\n"
            "                         judged and a good manifest is \"valid\", never \"trusted\")\n"
            "  --json                 one JSON object per file: {\"file\", \"provenance\": {\"state\",\n"
            "                         \"active_manifest\", \"signer\", \"claim_generator\", \"time\",\n"
            "                         \"ai_generated\", \"manifests\", \"hints\"}} or {\"file\", \"error\"}\n"
            "  -h, --help             this text\n\n"
            "States: none (no Content Credentials), invalid (a failure code), valid, trusted.\n"
            "Exit status: 0 success (whatever the states), 1 some file could not be read,\n"
            "2 usage error.\n");
}

static void print_text(const char *file, const fs_prov_report *r) {
    printf("%s: %s", file, fs_prov_state_name(r->state));
    if (r->store_error) printf(" (%s)", r->store_error);
    printf("\n");
    for (size_t i = 0; i < r->n_manifests; i++) {
        const fs_prov_manifest *m = &r->manifests[i];
        printf("  %s manifest %s: %s\n", (int)i == r->active ? "active" : "other", m->label ? m->label : "?",
               fs_prov_state_name(m->state));
        if (m->claim_generator) printf("    generator: %s\n", m->claim_generator);
        if (m->signer) printf("    signer: %s (issuer: %s, %s)\n", m->signer, m->issuer ? m->issuer : "?", m->sig_alg ? m->sig_alg : "?");
        if (m->time) printf("    signed at: %s\n", m->time);
        for (size_t a = 0; a < m->n_actions; a++)
            printf("    action: %s%s%s\n", m->actions[a].action ? m->actions[a].action : "?",
                   m->actions[a].digital_source_type ? " " : "",
                   m->actions[a].digital_source_type ? m->actions[a].digital_source_type : "");
        for (size_t g = 0; g < m->n_ingredients; g++) {
            const fs_prov_ingredient *ing = &m->ingredients[g];
            printf("    ingredient: %s (%s)%s%s%s\n", ing->title ? ing->title : "?",
                   ing->relationship ? ing->relationship : "?", ing->manifest ? " manifest " : "",
                   ing->manifest ? ing->manifest : "",
                   ing->manifest && ing->manifest_found ? (ing->state == FS_PROV_INVALID ? " [invalid]" : "") : (ing->manifest ? " [missing]" : ""));
        }
        for (size_t s = 0; s < m->n_status; s++)
            if (m->status[s].kind != FS_PROV_SUCCESS)
                printf("    %s: %s%s%s\n", m->status[s].kind == FS_PROV_FAILURE ? "failure" : "info", m->status[s].code,
                       m->status[s].explanation ? ": " : "", m->status[s].explanation ? m->status[s].explanation : "");
    }
    if (r->ai_source_type) printf("  signed AI statement: %s\n", r->ai_source_type);
    for (size_t i = 0; i < r->n_hints; i++) {
        const char *v = r->hints[i].value;
        int cut = strlen(v) > 100;
        printf("  unsigned hint (%s) %s: %.100s%s\n", r->hints[i].source, r->hints[i].key, v, cut ? "..." : "");
    }
}

static void print_json_line(json_t *o) {
    char *s = o ? fs_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(o);
}

int fs_cli_provenance(int argc, char **argv) {
    static const struct option opts[] = {{"c2pa-trust", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, c;
    fs_prov_trust *trust = NULL;
    fs_msg msg;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (fs_prov_trust_load(optarg, &trust, &msg)) {
                fprintf(stderr, "fakescope provenance: %s\n", msg.text);
                fs_prov_trust_free(trust);
                return FS_EXIT_USAGE;
            }
            break;
        case 'j': json = 1; break;
        case 'h':
            prov_usage(stdout);
            fs_prov_trust_free(trust);
            return FS_EXIT_OK;
        default:
            prov_usage(stderr);
            fs_prov_trust_free(trust);
            return FS_EXIT_USAGE;
        }
    }
    const char *env = getenv("FAKESCOPE_C2PA_TRUST");
    if (!trust && env && *env && fs_prov_trust_load(env, &trust, &msg)) {
        fprintf(stderr, "fakescope provenance: FAKESCOPE_C2PA_TRUST: %s\n", msg.text);
        return FS_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "fakescope provenance: no FILE given\n\n");
        prov_usage(stderr);
        fs_prov_trust_free(trust);
        return FS_EXIT_USAGE;
    }
    int status = FS_EXIT_OK;
    fs_prov_options po = {.trust = trust};
    for (int i = optind; i < argc; i++) {
        fs_prov_report r;
        if (fs_prov_read_file(argv[i], &po, &r, &msg)) {
            status = FS_EXIT_INPUT;
            if (json) print_json_line(json_pack("{s:s, s:s}", "file", argv[i], "error", msg.text));
            else fprintf(stderr, "fakescope provenance: %s: %s\n", argv[i], msg.text);
            continue;
        }
        if (json) {
            json_t *o = json_object();
            if (o) {
                json_object_set_new(o, "file", json_string(argv[i]));
                json_object_set_new(o, "provenance", fs_prov_report_json(&r));
            }
            print_json_line(o);
        } else {
            print_text(argv[i], &r);
        }
        fs_prov_report_free(&r);
    }
    fs_prov_trust_free(trust);
    return status;
}
