/* MatFormer slices on the daemon side: the presets of the loaded model, the policy (auto or a
 * pinned name) and the power level choosing among them, and handing the choice to the engine.
 *
 * Presets come from the engine (models/gemma3n/matformer.h): "full", ffn-75 and ffn-50 for any
 * model, their layer-skipping variants where the model has the MatFormer Lab's skippable block,
 * and the official Mix-n-Match configurations for E4B-shaped models — largest first. Policy
 * auto maps power levels to slices: full -> "full", reduced -> [slice] reduced (auto: the middle
 * preset), minimal -> [slice] minimal (auto: the smallest). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "log.h"
#include "gemma3n/matformer.h"
#include "manager-internal.h"

typedef struct ManagerSlice {
        char name[32];
        Gemma3nSlice slice;
} ManagerSlice;

static char *const full_only[] = { (char *) "full", NULL };

char *const *manager_available_slices(const Manager *m) {
        return m->slice_names ? m->slice_names : full_only;
}

const char *manager_active_slice(const Manager *m) {
        return m->n_slices ? m->slices[m->active_slice].name : "full";
}

void manager_slices_done(Manager *m) {
        free(m->slices);
        m->slices = NULL;
        free(m->slice_names);
        m->slice_names = NULL;
        m->n_slices = m->n_presets = 0;
        m->active_slice = 0;
}

static ssize_t slice_index(const Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_slices; i++)
                if (strcmp(m->slices[i].name, name) == 0)
                        return (ssize_t) i;
        return -1;
}

int manager_slices_init(Manager *m) {
        const Gemma3nModel *model = engine_model(m->engine);
        Gemma3nPreset *presets = NULL;
        size_t n = 0;
        GemmaError err = {};

        manager_slices_done(m);
        if (gemma3n_presets(model, &presets, &n, &err) < 0) {
                log_warning("%s", gemma_error_message(&err));
                return -ENOMEM;
        }
        m->slices = new0(ManagerSlice, n + 1);
        m->slice_names = new0(char *, n + 2);
        if (!m->slices || !m->slice_names) {
                free(presets);
                manager_slices_done(m);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                ManagerSlice *s = &m->slices[m->n_slices];
                snprintf(s->name, sizeof(s->name), "%s", presets[i].name);
                s->slice = presets[i].slice;
                m->slice_names[m->n_slices++] = s->name;
        }
        free(presets);
        m->n_presets = m->n_slices;
        /* A slice of the user's own, from gemmad.conf: checked against this model now. */
        if (m->config->slice_custom) {
                ManagerSlice *s = &m->slices[m->n_slices];
                if (gemma3n_slice_parse(model, m->config->slice_custom, &s->slice, &err) < 0)
                        log_warning("[slice] custom = %s does not fit this model, ignoring: %s", m->config->slice_custom,
                                    gemma_error_message(&err));
                else {
                        snprintf(s->name, sizeof(s->name), "custom");
                        m->slice_names[m->n_slices++] = s->name;
                }
        }
        if (strcmp(m->slice_policy, "auto") != 0 && slice_index(m, m->slice_policy) < 0) {
                log_warning("slice policy '%s' names no slice of this model (%s...); using auto", m->slice_policy,
                            m->slices[0].name);
                char *a = strdup("auto");
                if (a) {
                        free(m->slice_policy);
                        m->slice_policy = a;
                }
        }
        manager_slices_apply(m);
        return 0;
}

/* The slice for a power level under policy auto. */
static size_t slice_for_level(const Manager *m, PowerLevel level) {
        const char *choice = level == POWER_LEVEL_REDUCED ? m->config->slice_reduced
                           : level == POWER_LEVEL_MINIMAL ? m->config->slice_minimal
                                                          : "full";
        if (choice && strcmp(choice, "auto") != 0) {
                ssize_t i = slice_index(m, choice);
                if (i >= 0)
                        return (size_t) i;
        }
        /* auto picks among the presets (largest first), never the custom slice. */
        if (level == POWER_LEVEL_REDUCED)
                return m->n_presets / 2;
        if (level == POWER_LEVEL_MINIMAL)
                return m->n_presets - 1;
        return 0;
}

void manager_slices_apply(Manager *m) {
        if (m->n_slices == 0 || !m->engine)
                return;
        size_t want;
        if (strcmp(m->slice_policy, "auto") != 0) {
                ssize_t i = slice_index(m, m->slice_policy);
                want = i >= 0 ? (size_t) i : 0;
        } else
                want = m->power_known ? slice_for_level(m, m->power_level) : 0;
        if (want == m->active_slice && m->engine_slice_set)
                return;
        GemmaError err = {};
        if (engine_set_slice(m->engine, &m->slices[want].slice, &err) < 0) {
                log_warning("cannot switch to slice '%s': %s", m->slices[want].name, gemma_error_message(&err));
                return;
        }
        if (want != m->active_slice)
                log_info("slice '%s' (%s)", m->slices[want].name, manager_slice_reason(m));
        m->active_slice = want;
        m->engine_slice_set = true;
        manager_notify_state(m);
}

int manager_set_slice_policy(Manager *m, const char *policy, DaemonError *err) {
        bool known = strcmp(policy, "auto") == 0;
        char *const *names = manager_available_slices(m);
        for (size_t i = 0; names[i] && !known; i++)
                known = strcmp(policy, names[i]) == 0;
        if (!known) {
                char list[256] = "";
                for (size_t i = 0; names[i]; i++) {
                        size_t len = strlen(list);
                        snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
                }
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "Unknown slice policy '%s': allowed 'auto' or one of AvailableSlices (%s).",
                                        policy, list);
        }
        char *copy = strdup(policy);
        if (!copy)
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        free(m->slice_policy);
        m->slice_policy = copy;
        manager_slices_apply(m);
        manager_notify_state(m);
        return 0;
}
