/* org.gemmad.Gemmad1.Manager at /org/gemmad/Gemmad1: methods, properties, the info dictionary. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "bus-errors.h"
#include "bus-internal.h"

static const char *caller(sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        return sender ? sender : "";
}

int bus_append_info(sd_bus_message *m, const Bus *b, const EngineResult *res, const char *reason) {
        double ttft_ms = res->ttft_sec * 1e3;
        /* Prefill speed counts what was computed, not what came from the prefix cache. */
        double prefill_tps = res->prefill_sec > 0 ? (res->n_prompt - res->n_cached) / res->prefill_sec : 0;
        double decode_tps = res->decode_sec > 0 && res->n_generated > 1 ? (res->n_generated - 1) / res->decode_sec : 0;
        const char *slice = b->manager ? manager_active_slice(b->manager) : "full";
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "tokens_prompt", "u", res->n_prompt,
                                  "tokens_cached", "u", res->n_cached,
                                  "tokens_generated", "u", res->n_generated,
                                  "finish_reason", "s", reason ? reason : engine_finish_to_string(res->finish),
                                  "ttft_ms", "d", ttft_ms,
                                  "prefill_tps", "d", prefill_tps,
                                  "decode_tps", "d", decode_tps,
                                  "slice", "s", slice);
        if (r < 0)
                return r;
        if (res->finish == ENGINE_FINISH_ERROR || res->finish == ENGINE_FINISH_OVERFLOW) {
                r = sd_bus_message_append(m, "{sv}{sv}",
                                          "error", "s", res->finish == ENGINE_FINISH_ERROR ? GEMMAD_ERROR_FAILED
                                                                                         : GEMMAD_ERROR_CONTEXT_OVERFLOW,
                                          "message", "s", res->message);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* ---- methods ---- */

static int read_prompt_and_options(sd_bus_message *m, Bus *b, unsigned allowed, const char **ret_prompt,
                                   RequestOptions *o, sd_bus_error *error) {
        int r = sd_bus_message_read(m, "s", ret_prompt);
        if (r < 0)
                return r;
        BusOptionLimits limits = bus_option_limits(b);
        return bus_read_options(m, allowed, &limits, o, NULL, error);
}

static int start_generate(Bus *b, sd_bus_message *m, const char *prompt, RequestOptions *o, int fd,
                          sd_bus_error *error) {
        DaemonError err = {};
        BusCall *c = bus_call_new(b, m);
        if (!c)
                return -ENOMEM;
        if (fd >= 0 && fd_stream_new(sd_bus_get_event(b->bus), fd, b->config->slow_consumer_bytes, &c->fd, &err) < 0) {
                bus_call_free(c);
                return bus_error_set_daemon(error, &err);
        }
        RequestSink sink = bus_call_sink_template;
        sink.userdata = c;
        bus_identify_caller(m, o);
        if (manager_generate(b->manager, caller(m), prompt, o, &sink, &c->request, &err) < 0) {
                bus_call_free(c);
                return bus_error_set_daemon(error, &err);
        }
        return 1;   /* the reply comes when the request ends */
}

static int method_generate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        const char *prompt;
        int r = read_prompt_and_options(m, b, BUS_OPTS_GENERATE, &prompt, &o, error);
        if (r < 0)
                return r;
        r = bus_wait_ready(b, m, method_generate, b, o.no_wait, error);
        if (r <= 0)
                return r;
        return start_generate(b, m, prompt, &o, -1, error);
}

static int method_generate_to_fd(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        const char *prompt;
        int fd;
        int r = sd_bus_message_read(m, "h", &fd);
        if (r < 0)
                return r;
        r = read_prompt_and_options(m, b, BUS_OPTS_GENERATE, &prompt, &o, error);
        if (r < 0)
                return r;
        r = bus_wait_ready(b, m, method_generate_to_fd, b, o.no_wait, error);
        if (r <= 0)
                return r;
        return start_generate(b, m, prompt, &o, fd, error);
}

static int method_create_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        BusOptionLimits limits = bus_option_limits(b);
        DaemonError err = {};
        Session *s;
        int r = bus_read_options(m, BUS_OPTS_CREATE_SESSION, &limits, &o, NULL, error);
        if (r < 0)
                return r;
        r = bus_wait_ready(b, m, method_create_session, b, o.no_wait, error);
        if (r <= 0)
                return r;
        if (o.system && o.has_raw && o.raw)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option 'system' cannot be combined with 'raw' (raw text has no template).");
        bus_identify_caller(m, &o);
        if (session_new(b->manager, caller(m), &o, &s, &err) < 0)
                return bus_error_set_daemon(error, &err);
        r = bus_session_create(b, s, m, error);
        if (r < 0) {
                session_free(s);
                return r;
        }
        return sd_bus_reply_method_return(m, "o", s->path);
}

static int method_tokenize(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ int32_t *ids = NULL;
        DaemonError err = {};
        const char *text;
        size_t n;
        int r = sd_bus_message_read(m, "s", &text);
        if (r < 0)
                return r;
        r = bus_wait_ready(b, m, method_tokenize, b, false, error);
        if (r <= 0)
                return r;
        if (manager_tokenize(b->manager, text, false, NULL, &ids, &n, &err) < 0)
                return bus_error_set_daemon(error, &err);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        (void) sd_bus_message_sensitive(reply);
        /* Token ids are non-negative int32: the same bits as u. */
        r = sd_bus_message_append_array(reply, 'u', ids, n * sizeof(uint32_t));
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_count_tokens(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(request_options_done) RequestOptions o = {};
        _cleanup_free_ int32_t *ids = NULL;
        BusOptionLimits limits = bus_option_limits(b);
        DaemonError err = {};
        const char *text;
        bool chat;
        size_t n;
        int r = sd_bus_message_read(m, "s", &text);
        if (r < 0)
                return r;
        r = bus_read_options(m, BUS_OPTS_COUNT_TOKENS, &limits, &o, &chat, error);
        if (r < 0)
                return r;
        r = bus_wait_ready(b, m, method_count_tokens, b, o.no_wait, error);
        if (r <= 0)
                return r;
        if (!chat && (o.system || o.has_raw))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Options 'system' and 'raw' only apply with 'chat' = true.");
        if (manager_tokenize(b->manager, text, chat, &o, &ids, &n, &err) < 0)
                return bus_error_set_daemon(error, &err);
        return sd_bus_reply_method_return(m, "u", (uint32_t) n);
}

/* The modality part of Availability: text is always there; image and audio need encoders this
 * daemon does not load yet. */
static int availability_of(char **inputs, const char **state, const char **reason, sd_bus_error *error) {
        for (char **i = inputs; i && *i; i++) {
                if (strcmp(*i, "text") == 0)
                        continue;
                if (strcmp(*i, "image") == 0 || strcmp(*i, "audio") == 0) {
                        *state = "unavailable";
                        *reason = "no-encoder";
                        continue;
                }
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown input '%s': allowed 'text', 'image', 'audio'.", *i);
        }
        return 0;
}

static int method_availability(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        Manager *mgr = b->manager;
        char **inputs = NULL;
        const char *state = "available", *reason = "ready";
        int r = sd_bus_message_read_strv(m, &inputs);
        if (r < 0)
                return r;
        r = availability_of(inputs, &state, &reason, error);
        for (char **i = inputs; i && *i; i++)
                free(*i);
        free(inputs);
        if (r < 0)
                return r;
        if (strcmp(state, "available") == 0 && mgr) {
                switch (mgr->state) {
                case MANAGER_READY:
                        break;
                case MANAGER_LOADING:
                        state = "loading";
                        reason = "loading";
                        break;
                case MANAGER_ERROR:
                        state = "unavailable";
                        reason = strcmp(mgr->state_reason, "no-model") == 0 ? "no-model" : "error";
                        break;
                default:
                        state = "unavailable";
                        reason = "stopped";
                        break;
                }
        }
        return sd_bus_reply_method_return(m, "ss", state, reason);
}

static int method_set_slice_policy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        DaemonError err = {};
        const char *policy;
        int r = sd_bus_message_read(m, "s", &policy);
        if (r < 0)
                return r;
        if (!b->manager)
                return sd_bus_error_set(error, GEMMAD_ERROR_NOT_READY, "gemmad is starting.");
        if (manager_set_slice_policy(b->manager, policy, &err) < 0)
                return bus_error_set_daemon(error, &err);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_list_sessions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_append_owner_sessions(reply, b, caller(m));
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- properties ---- */

#define PROPERTY_GETTER(name)                                                                                    \
        static int name(sd_bus *bus, const char *path, const char *interface, const char *property,             \
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)

PROPERTY_GETTER(get_version) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->version);
}

PROPERTY_GETTER(get_state) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager ? manager_state_to_string(b->manager->state) : "loading");
}

PROPERTY_GETTER(get_state_reason) {
        Bus *b = userdata;
        const Manager *m = b->manager;
        return sd_bus_message_append(reply, "s", m && m->state_reason ? m->state_reason : "starting");
}

PROPERTY_GETTER(get_state_message) {
        Bus *b = userdata;
        const Manager *m = b->manager;
        return sd_bus_message_append(reply, "s", m && m->state == MANAGER_ERROR && m->error_message ? m->error_message : "");
}

PROPERTY_GETTER(get_load_progress) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "d", b->manager ? b->manager->load_progress : 0.0);
}

PROPERTY_GETTER(get_model_path) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager && b->manager->model_path ? b->manager->model_path : "");
}

static const ModelSummary *ready_model(const Bus *b) {
        return b->manager && b->manager->state == MANAGER_READY ? &b->manager->model : NULL;
}

PROPERTY_GETTER(get_model_info) {
        Bus *b = userdata;
        const ModelSummary *model = ready_model(b);
        if (!model)
                return sd_bus_message_append(reply, "a{sv}", 0);
        return sd_bus_message_append(reply, "a{sv}", 8,
                                     "architecture", "s", "gemma3n",
                                     "name", "s", model->name ? model->name : "",
                                     "layers", "u", model->n_layer,
                                     "embedding_length", "u", model->n_embd,
                                     "vocab_size", "u", model->n_vocab,
                                     "context_length", "u", model->n_ctx_train,
                                     "file_bytes", "t", model->file_bytes,
                                     "threads", "u", model->n_threads);
}

PROPERTY_GETTER(get_modalities) {
        return sd_bus_message_append(reply, "as", 1, "text");
}

PROPERTY_GETTER(get_context_length) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "u", ready_model(b) ? b->manager->n_ctx : 0);
}

PROPERTY_GETTER(get_backend) {
        Bus *b = userdata;
        const ModelSummary *model = ready_model(b);
        return sd_bus_message_append(reply, "s", model ? model->backend : "cpu");
}

PROPERTY_GETTER(get_device_bytes) {
        Bus *b = userdata;
        const ModelSummary *model = ready_model(b);
        return sd_bus_message_append(reply, "t", model ? model->device_bytes : (uint64_t) 0);
}

PROPERTY_GETTER(get_host_bytes) {
        Bus *b = userdata;
        const ModelSummary *model = ready_model(b);
        return sd_bus_message_append(reply, "t", model ? model->host_bytes : (uint64_t) 0);
}

PROPERTY_GETTER(get_active_slice) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager ? manager_active_slice(b->manager) : "full");
}

PROPERTY_GETTER(get_available_slices) {
        Bus *b = userdata;
        static char *const full_only[] = { (char *) "full", NULL };
        return sd_bus_message_append_strv(reply, (char **) (b->manager ? manager_available_slices(b->manager)
                                                                        : full_only));
}

PROPERTY_GETTER(get_slice_policy) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager ? b->manager->slice_policy : "auto");
}

PROPERTY_GETTER(get_slice_reason) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager ? manager_slice_reason(b->manager) : "no-sensors");
}

PROPERTY_GETTER(get_slice_inputs) {
        Bus *b = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; b->manager && i < b->manager->n_power_inputs && r >= 0; i++) {
                const PowerInputEntry *e = &b->manager->power_inputs[i];
                switch (e->type) {
                case 'b':
                        r = sd_bus_message_append(reply, "{sv}", e->key, "b", (int) e->b);
                        break;
                case 'd':
                        r = sd_bus_message_append(reply, "{sv}", e->key, "d", e->d);
                        break;
                case 'u':
                        r = sd_bus_message_append(reply, "{sv}", e->key, "u", e->u);
                        break;
                case 's':
                        r = sd_bus_message_append(reply, "{sv}", e->key, "s", e->s);
                        break;
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

PROPERTY_GETTER(get_sessions) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "u", b->manager ? b->manager->n_sessions : 0);
}

PROPERTY_GETTER(get_active_requests) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "u", b->manager ? manager_n_active_requests(b->manager) : 0);
}

PROPERTY_GETTER(get_queued_requests) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "u", b->n_pending);
}

PROPERTY_GETTER(get_packed_bytes) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "t", ready_model(b) ? engine_packed_bytes(b->manager->engine) : (uint64_t) 0);
}

PROPERTY_GETTER(get_kv_cache_bytes) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "t", b->manager && b->manager->engine ? engine_kv_bytes(b->manager->engine)
                                                                                   : (uint64_t) 0);
}

PROPERTY_GETTER(get_kv_cache_limit) {
        Bus *b = userdata;
        return sd_bus_message_append(reply, "t", (uint64_t) b->config->kv_cache_mib << 20);
}

PROPERTY_GETTER(get_stats) {
        Bus *b = userdata;
        ManagerStats st = b->manager ? manager_stats(b->manager) : (ManagerStats) {};
        return sd_bus_message_append(reply, "a{sv}", 8,
                                     "requests", "t", st.requests,
                                     "cancelled", "t", st.cancelled,
                                     "prefill_tokens", "t", st.prefill_tokens,
                                     "decoded_tokens", "t", st.decoded_tokens,
                                     "cached_tokens", "t", st.cached_tokens,
                                     "cache_hits", "t", st.cache_hits,
                                     "cache_misses", "t", st.cache_misses,
                                     "evictions", "t", st.evictions);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Generate", SD_BUS_ARGS("s", prompt, "a{sv}", options),
                                SD_BUS_RESULT("s", text, "a{sv}", info), method_generate, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("GenerateToFd", SD_BUS_ARGS("h", output, "s", prompt, "a{sv}", options),
                                SD_BUS_RESULT("a{sv}", info), method_generate_to_fd, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("CreateSession", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", session),
                                method_create_session, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Tokenize", SD_BUS_ARGS("s", text), SD_BUS_RESULT("au", tokens), method_tokenize,
                                SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("CountTokens", SD_BUS_ARGS("s", text, "a{sv}", options), SD_BUS_RESULT("u", n),
                                method_count_tokens, SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Availability", SD_BUS_ARGS("as", inputs), SD_BUS_RESULT("s", state, "s", reason),
                                method_availability, 0),
        SD_BUS_METHOD_WITH_ARGS("SetSlicePolicy", SD_BUS_ARGS("s", policy), SD_BUS_NO_RESULT, method_set_slice_policy,
                                0),
        SD_BUS_METHOD_WITH_ARGS("ListSessions", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", sessions), method_list_sessions, 0),
        SD_BUS_PROPERTY("Version", "s", get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", get_state, 0, EMITS),
        SD_BUS_PROPERTY("StateReason", "s", get_state_reason, 0, EMITS),
        SD_BUS_PROPERTY("StateMessage", "s", get_state_message, 0, EMITS),
        SD_BUS_PROPERTY("LoadProgress", "d", get_load_progress, 0, EMITS),
        SD_BUS_PROPERTY("ModelPath", "s", get_model_path, 0, EMITS),
        SD_BUS_PROPERTY("ModelInfo", "a{sv}", get_model_info, 0, EMITS),
        SD_BUS_PROPERTY("Modalities", "as", get_modalities, 0, EMITS),
        SD_BUS_PROPERTY("ContextLength", "u", get_context_length, 0, EMITS),
        SD_BUS_PROPERTY("Backend", "s", get_backend, 0, EMITS),
        SD_BUS_PROPERTY("DeviceBytes", "t", get_device_bytes, 0, EMITS),
        SD_BUS_PROPERTY("HostBytes", "t", get_host_bytes, 0, EMITS),
        /* becomes non-zero in the background after ready, announced by no signal: read it again */
        SD_BUS_PROPERTY("PackedBytes", "t", get_packed_bytes, 0, 0),
        SD_BUS_PROPERTY("ActiveSlice", "s", get_active_slice, 0, EMITS),
        SD_BUS_PROPERTY("AvailableSlices", "as", get_available_slices, 0, EMITS),
        SD_BUS_PROPERTY("SlicePolicy", "s", get_slice_policy, 0, EMITS),
        SD_BUS_PROPERTY("SliceReason", "s", get_slice_reason, 0, EMITS),
        SD_BUS_PROPERTY("SliceInputs", "a{sv}", get_slice_inputs, 0, EMITS),
        SD_BUS_PROPERTY("Sessions", "u", get_sessions, 0, EMITS),
        SD_BUS_PROPERTY("ActiveRequests", "u", get_active_requests, 0, EMITS),
        SD_BUS_PROPERTY("QueuedRequests", "u", get_queued_requests, 0, EMITS),
        SD_BUS_PROPERTY("KvCacheBytes", "t", get_kv_cache_bytes, 0, EMITS),
        SD_BUS_PROPERTY("KvCacheLimit", "t", get_kv_cache_limit, 0, EMITS),
        SD_BUS_PROPERTY("Stats", "a{sv}", get_stats, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_VTABLE_END,
};

int bus_manager_setup(Bus *b) {
        return sd_bus_add_object_vtable(b->bus, &b->manager_slot, GEMMAD_MANAGER_PATH, GEMMAD_MANAGER_INTERFACE,
                                        manager_vtable, b);
}
