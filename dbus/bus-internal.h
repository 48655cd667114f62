/* What the files of the D-Bus binding share. Not for use outside dbus/. */
#pragma once

#include <stdbool.h>

#include "bus-options.h"
#include "bus.h"
#include "fd-stream.h"

/* Generated text held for a client (a Generate reply, Chunks not yet sent): grown without
 * realloc so that no copy of it is left behind, and wiped when cleared or freed. */
typedef struct SensitiveText {
        char *buf;                    /* NUL-terminated while non-empty */
        size_t len, cap;
} SensitiveText;

/* Appends text; -ENOMEM (the text is unchanged). */
int sensitive_text_append(SensitiveText *t, const char *text, size_t len);
/* Wipes the text and keeps the buffer; _done also frees it. */
void sensitive_text_clear(SensitiveText *t);
void sensitive_text_done(SensitiveText *t);

/* A method call waiting for the model to finish loading. */
typedef struct PendingCall {
        sd_bus_message *message;
        sd_bus_message_handler_t handler;
        void *userdata;
        struct PendingCall *next;
} PendingCall;

struct Bus {
        sd_bus *bus;
        const Config *config;
        char *version;
        Manager *manager;
        sd_bus_slot *manager_slot, *session_slot, *session_enum_slot;
        PendingCall *pending;
        uint32_t n_pending;
        struct BusCall *calls;        /* one-shot calls with a request running */
        void (*stopped_hook)(void *userdata);
        void *stopped_userdata;
};

/* A one-shot call (Generate, GenerateToFd, PromptToFd) whose reply comes at the end. */
typedef struct BusCall {
        Bus *b;
        sd_bus_message *message;
        sd_bus_track *track;          /* the caller: its departure cancels the request */
        Request *request;
        SensitiveText text;           /* Generate: the answer so far */
        FdStream *fd;                 /* *ToFd: where the answer goes */
        EngineResult result;
        bool slow;                    /* ended because the reader did not keep up */
        bool append;                  /* Session.Append: an empty reply */
        struct BusSession *session;   /* PromptToFd */
        struct BusCall *next;
} BusCall;

/* Per session: owner tracking, Chunk coalescing. */
typedef struct BusSession {
        Bus *b;
        Session *s;
        sd_bus_track *track;
        uint64_t request_id;          /* the request whose text is pending */
        SensitiveText pending;        /* text not yet sent as a Chunk */
        sd_event_source *flush_timer;
        bool slow;                    /* the request is being ended: slow consumer */
        BusCall *fd_call;             /* PromptToFd or Append in progress: replied to at its end */
} BusSession;

/* Defers a call until the model is loaded (or answers NotReady). Returns 1 when the caller
 * may go on now, 0 when deferred (the handler runs again later), negative with error set. */
int bus_wait_ready(Bus *b, sd_bus_message *m, sd_bus_message_handler_t handler, void *userdata, bool no_wait,
                   sd_bus_error *error);
/* Re-runs or fails the deferred calls after a state change. */
void bus_dispatch_pending(Bus *b);

BusOptionLimits bus_option_limits(const Bus *b);
/* info a{sv} of a finished request; reason NULL: from r->finish. */
int bus_append_info(sd_bus_message *m, const Bus *b, const EngineResult *r, const char *reason);

/* BusCall helpers shared by GenerateToFd and PromptToFd. */
BusCall *bus_call_new(Bus *b, sd_bus_message *m);
void bus_call_free(BusCall *c);
extern const RequestSink bus_call_sink_template;

int bus_session_setup(Bus *b);
int bus_manager_setup(Bus *b);
void bus_session_on_freed(Bus *b, Session *s);
int bus_session_create(Bus *b, Session *s, sd_bus_message *m, sd_bus_error *error);
/* bus-caller.c: fills o->caller_app and o->caller_sandboxed from the message's sender. */
void bus_identify_caller(sd_bus_message *m, RequestOptions *o);
char *bus_app_id_from_unit(const char *unit, bool *sandboxed);

/* Appends the caller's session paths as "ao". */
int bus_append_owner_sessions(sd_bus_message *reply, Bus *b, const char *owner);
