/* report.c: a provenance report's lifetime and its JSON form (include/fakescope/provenance.h).
 * The JSON keeps signed facts (the manifests and their status codes) and unsigned hints in
 * separate members, so no consumer can mistake one for the other. */
#include "fakescope/provenance.h"

#include <stdlib.h>
#include <string.h>

static void free_manifest(fs_prov_manifest *m) {
    free(m->label), free(m->claim_generator), free(m->title), free(m->format), free(m->instance_id);
    free(m->signer), free(m->issuer), free(m->sig_alg), free(m->time);
    for (size_t i = 0; i < m->n_assertions; i++) free(m->assertions[i]);
    free(m->assertions);
    for (size_t i = 0; i < m->n_actions; i++)
        free(m->actions[i].action), free(m->actions[i].digital_source_type), free(m->actions[i].software_agent);
    free(m->actions);
    for (size_t i = 0; i < m->n_ingredients; i++)
        free(m->ingredients[i].title), free(m->ingredients[i].format), free(m->ingredients[i].relationship),
            free(m->ingredients[i].manifest);
    free(m->ingredients);
    for (size_t i = 0; i < m->n_status; i++)
        free(m->status[i].code), free(m->status[i].url), free(m->status[i].explanation);
    free(m->status);
}

void fs_prov_report_free(fs_prov_report *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_manifests; i++) free_manifest(&r->manifests[i]);
    free(r->manifests);
    for (size_t i = 0; i < r->n_hints; i++) free(r->hints[i].source), free(r->hints[i].key), free(r->hints[i].value);
    free(r->hints);
    free(r->store_error);
    memset(r, 0, sizeof *r);
    r->active = -1;
}

const char *fs_prov_state_name(fs_prov_state s) {
    switch (s) {
    case FS_PROV_INVALID: return "invalid";
    case FS_PROV_VALID: return "valid";
    case FS_PROV_TRUSTED: return "trusted";
    default: return "none";
    }
}

int fs_prov_has_status(const fs_prov_report *r, int m, const char *code) {
    if (m < 0) m = r->active;
    if (m < 0 || (size_t)m >= r->n_manifests) return 0;
    const fs_prov_manifest *mf = &r->manifests[m];
    for (size_t i = 0; i < mf->n_status; i++)
        if (!strcmp(mf->status[i].code, code)) return 1;
    return 0;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *manifest_json(const fs_prov_manifest *m) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "label", str_or_null(m->label));
    json_object_set_new(o, "state", json_string(fs_prov_state_name(m->state)));
    json_object_set_new(o, "claim_version", json_integer(m->claim_version));
    json_object_set_new(o, "claim_generator", str_or_null(m->claim_generator));
    json_object_set_new(o, "title", str_or_null(m->title));
    json_object_set_new(o, "format", str_or_null(m->format));
    json_object_set_new(o, "instance_id", str_or_null(m->instance_id));
    json_object_set_new(o, "signer", str_or_null(m->signer));
    json_object_set_new(o, "issuer", str_or_null(m->issuer));
    json_object_set_new(o, "alg", str_or_null(m->sig_alg));
    json_object_set_new(o, "time", str_or_null(m->time));
    json_t *as = json_array();
    for (size_t i = 0; as && i < m->n_assertions; i++) json_array_append_new(as, json_string(m->assertions[i]));
    json_object_set_new(o, "assertions", as ? as : json_null());
    json_t *acts = json_array();
    for (size_t i = 0; acts && i < m->n_actions; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "action", str_or_null(m->actions[i].action));
        if (m->actions[i].digital_source_type)
            json_object_set_new(a, "digitalSourceType", json_string(m->actions[i].digital_source_type));
        if (m->actions[i].software_agent) json_object_set_new(a, "softwareAgent", json_string(m->actions[i].software_agent));
        json_array_append_new(acts, a);
    }
    json_object_set_new(o, "actions", acts ? acts : json_null());
    json_t *ings = json_array();
    for (size_t i = 0; ings && i < m->n_ingredients; i++) {
        const fs_prov_ingredient *g = &m->ingredients[i];
        json_t *a = json_object();
        json_object_set_new(a, "title", str_or_null(g->title));
        json_object_set_new(a, "format", str_or_null(g->format));
        json_object_set_new(a, "relationship", str_or_null(g->relationship));
        json_object_set_new(a, "manifest", str_or_null(g->manifest));
        json_object_set_new(a, "state", g->manifest_found ? json_string(fs_prov_state_name(g->state)) : json_null());
        json_array_append_new(ings, a);
    }
    json_object_set_new(o, "ingredients", ings ? ings : json_null());
    static const char *const kinds[] = {"success", "informational", "failure"};
    json_t *v = json_object();
    for (int k = 0; v && k < 3; k++) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < m->n_status; i++) {
            if ((int)m->status[i].kind != k) continue;
            json_t *s = json_object();
            json_object_set_new(s, "code", json_string(m->status[i].code));
            if (m->status[i].url) json_object_set_new(s, "url", json_string(m->status[i].url));
            if (m->status[i].explanation) json_object_set_new(s, "explanation", json_string(m->status[i].explanation));
            json_array_append_new(arr, s);
        }
        json_object_set_new(v, kinds[k], arr ? arr : json_null());
    }
    json_object_set_new(o, "validation", v ? v : json_null());
    return o;
}

json_t *fs_prov_report_json(const fs_prov_report *r) {
    json_t *o = json_object();
    if (!o) return NULL;
    const fs_prov_manifest *am = r->active >= 0 ? &r->manifests[r->active] : NULL;
    json_object_set_new(o, "format", str_or_null(r->mime));
    json_object_set_new(o, "state", json_string(fs_prov_state_name(r->state)));
    json_object_set_new(o, "active_manifest", str_or_null(am ? am->label : NULL));
    json_object_set_new(o, "claim_generator", str_or_null(am ? am->claim_generator : NULL));
    json_object_set_new(o, "signer", str_or_null(am ? am->signer : NULL));
    json_object_set_new(o, "issuer", str_or_null(am ? am->issuer : NULL));
    json_object_set_new(o, "time", str_or_null(am ? am->time : NULL));
    json_t *ai = json_object();
    if (ai) {
        json_object_set_new(ai, "signed", str_or_null(r->ai_source_type));
        json_object_set_new(ai, "unsigned_hint", str_or_null(r->ai_hint));
    }
    json_object_set_new(o, "ai_generated", ai ? ai : json_null());
    json_t *ms = json_array();
    for (size_t i = 0; ms && i < r->n_manifests; i++) json_array_append_new(ms, manifest_json(&r->manifests[i]));
    json_object_set_new(o, "manifests", ms ? ms : json_null());
    json_t *hs = json_array();
    for (size_t i = 0; hs && i < r->n_hints; i++)
        json_array_append_new(hs, json_pack("{s:s, s:s, s:s, s:b}", "source", r->hints[i].source, "key",
                                            r->hints[i].key, "value", r->hints[i].value, "signed", 0));
    json_object_set_new(o, "hints", hs ? hs : json_null());
    if (r->store_error) json_object_set_new(o, "store_error", json_string(r->store_error));
    return o;
}
