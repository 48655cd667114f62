/* gemmactl: what the subcommands share: exit codes, global options, generation options, the bus
 * connection with its event loop, the streaming of answers, and the printers. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "base/macro.h"

#define GEMMAD_BUS_NAME "org.gemmad.Gemmad1"
#define GEMMAD_MANAGER_PATH "/org/gemmad/Gemmad1"
#define GEMMAD_MANAGER_INTERFACE "org.gemmad.Gemmad1.Manager"
#define GEMMAD_SESSION_INTERFACE "org.gemmad.Gemmad1.Session"

/* Exit codes: the table in --help and gemmactl(1) lists the same. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,        /* the daemon refused or failed the request; an answer ended badly; I/O */
        EXIT_USAGE = 2,         /* bad command line or option value; no bus traffic happened */
        EXIT_UNREACHABLE = 3,   /* no bus, or gemmad is not on it and could not be activated, or left */
        EXIT_NOT_READY = 4,     /* the model is not loaded (NotReady; status: State error or stopped) */
        EXIT_CONTEXT = 5,       /* the text does not fit the context (ContextOverflow, reason "overflow") */
        EXIT_BUSY = 6,          /* the daemon is busy or a limit was reached (Busy, LimitsExceeded) */
        EXIT_SIGNAL_BASE = 128, /* interrupted: 128 + the signal (130 SIGINT, 143 SIGTERM) */
};

/* ---- global options (gemmactl.c) ---- */

extern const char *arg_bus_address; /* NULL: the session bus */
extern bool arg_json;
extern uint64_t arg_timeout_usec; /* UINT64_MAX: not given on the command line */

/* The global options, accepted before and after the command. Subcommands put GLOBAL_OPTIONS into
 * their getopt_long table and pass codes >= OPT_GLOBAL_FIRST to global_option_parse(). */
enum {
        OPT_BUS_ADDRESS = 0x1000,
        OPT_JSON,
        OPT_TIMEOUT,
        OPT_VERSION,
        OPT_GLOBAL_FIRST = OPT_BUS_ADDRESS,
        OPT_GLOBAL_LAST = OPT_VERSION,
};
#define GLOBAL_OPTIONS                                                   \
        { "bus-address", required_argument, NULL, OPT_BUS_ADDRESS },     \
        { "json", no_argument, NULL, OPT_JSON },                         \
        { "timeout", required_argument, NULL, OPT_TIMEOUT },             \
        { "version", no_argument, NULL, OPT_VERSION }

/* Returns 0 when handled, -EINVAL after printing a usage error, 1 when --version was printed
 * (the caller exits 0). */
int global_option_parse(int c, const char *value);
int help_option_hint(const char *command);
/* Option parsing of a command that takes only -h and the global options and no arguments
 * (status, sessions). Returns -1 to go on, else the exit code to return. */
int simple_command_parse(int argc, char **argv, const char *command, void (*help)(FILE *out));

/* The method call timeout for a call that may wait while the model loads (waits = true) or not. */
uint64_t call_timeout_usec(bool waits);

/* ---- subcommands ---- */

int cmd_status(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* ---- argument parsing (options.c) ---- */

/* Each prints "gemmactl: <option>: <why>" on failure and returns -EINVAL. */
int usage_error(const char *fmt, ...) _printf_(1, 2);
int parse_u32(const char *option, const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int parse_u64(const char *option, const char *s, uint64_t *ret);
/* A finite number within [min, max]; min_open excludes min itself. */
int parse_double(const char *option, const char *s, double min, bool min_open, double max, double *ret);
int parse_timeout(const char *option, const char *s, uint64_t *ret_usec);

/* The text of a command: the arguments joined by spaces, or standard input for a single "-" (and
 * for no arguments when standard input is not a terminal). Prints a message and returns an exit
 * code (EXIT_USAGE, EXIT_FAILED) on failure, EXIT_OK with *ret set on success. */
int text_from_args(const char *command, char **args, size_t n_args, bool allow_empty, char **ret);

#define STOPS_MAX 16
#define STOP_BYTES_MAX 256

/* Options of a generation, sent as the a{sv} of CreateSession (the session's defaults). */
typedef struct GenOptions {
        const char *system;
        const char *stops[STOPS_MAX];
        size_t n_stops;
        uint32_t max_tokens, top_k, context;
        double temperature, top_p, min_p, repeat_penalty;
        uint64_t seed;
        bool has_max_tokens, has_top_k, has_context, has_temperature, has_top_p, has_min_p,
                has_repeat_penalty, has_seed;
        bool raw, no_wait;
} GenOptions;

enum {
        OPT_SYSTEM = 0x2000,
        OPT_MAX_TOKENS,
        OPT_TEMPERATURE,
        OPT_TOP_K,
        OPT_TOP_P,
        OPT_MIN_P,
        OPT_REPEAT_PENALTY,
        OPT_SEED,
        OPT_STOP,
        OPT_RAW,
        OPT_CONTEXT,
        OPT_NO_WAIT,
        OPT_GEN_FIRST = OPT_SYSTEM,
        OPT_GEN_LAST = OPT_NO_WAIT,
};
#define GEN_OPTIONS                                                                   \
        { "system", required_argument, NULL, OPT_SYSTEM },                            \
        { "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },                    \
        { "temperature", required_argument, NULL, OPT_TEMPERATURE },                  \
        { "top-k", required_argument, NULL, OPT_TOP_K },                              \
        { "top-p", required_argument, NULL, OPT_TOP_P },                              \
        { "min-p", required_argument, NULL, OPT_MIN_P },                              \
        { "repeat-penalty", required_argument, NULL, OPT_REPEAT_PENALTY },            \
        { "seed", required_argument, NULL, OPT_SEED },                                \
        { "stop", required_argument, NULL, OPT_STOP },                                \
        { "raw", no_argument, NULL, OPT_RAW },                                        \
        { "context", required_argument, NULL, OPT_CONTEXT },                          \
        { "no-wait", no_argument, NULL, OPT_NO_WAIT }

/* The help lines of GEN_OPTIONS, shared by ask and chat. */
extern const char gen_options_help[];

/* Handles one of OPT_GEN_FIRST..OPT_GEN_LAST; 0 or -EINVAL (message printed). */
int gen_option_parse(GenOptions *o, int c, const char *value);
/* The default branch of ask's and chat's option loops: a generation option or a global one.
 * Returns 0 to go on, else the exit code to return. */
int gen_or_global_option(GenOptions *o, int c, const char *value);
/* Cross-option checks after parsing; 0 or -EINVAL (message printed). */
int gen_options_check(const GenOptions *o);

/* ---- the bus (bus-util.c) ---- */

/* Connects to --bus-address or the session bus. Prints why not and returns EXIT_UNREACHABLE. */
int bus_connect(sd_bus **ret);

/* Prints "gemmactl: <message>" for a failed call or a local failure r (negative errno) and returns
 * the exit code it maps to. what: the call in words ("CreateSession"), used when the error has no
 * message of its own. */
int bus_error_report(const sd_bus_error *error, int r, const char *what);
/* The exit code for a D-Bus error name (NULL: EXIT_FAILED). */
int bus_error_exit_code(const char *name);

/* Appends the options as a{sv}. */
int gen_options_append(sd_bus_message *m, const GenOptions *o);

/* Blocks SIGINT and SIGTERM (they arrive through the event loop from then on). */
int signals_block(void);

/* A connection with an event loop that notices SIGINT/SIGTERM, the daemon leaving the bus and a
 * lost connection while it waits for replies and signals. */
typedef struct Client {
        sd_bus *bus;
        sd_event *event;
        sd_event_source *sigint, *sigterm;
        sd_bus_slot *name_owner_slot;
        char *daemon;   /* unique name of the gemmad that answered us, once known */
        int signal;     /* the SIGINT or SIGTERM received since the last reset, else 0 */
        bool daemon_gone;
} Client;

Client *client_free(Client *c);
static inline void client_freep(Client **c) {
        if (*c)
                client_free(*c);
}
/* Connects and sets the loop up; SIGINT and SIGTERM must be blocked already. Returns an exit code. */
int client_new(Client **ret);
/* Calls m and waits for its reply while dispatching signals. Returns 0 with *ret_reply; a negative
 * errno with error set by a failed call; -EINTR when a signal arrived first (c->signal says
 * which); -ECONNRESET when the daemon or the bus went away. */
int client_call(Client *c, sd_bus_message *m, uint64_t timeout_usec, sd_bus_message **ret_reply,
                sd_bus_error *error);
/* Runs the loop once, for at most timeout_usec. */
int client_run_once(Client *c, uint64_t timeout_usec);
/* The exit code for a failed client_call() (its message printed). */
int client_report(Client *c, const sd_bus_error *error, int r, const char *what);

/* ---- streaming answers (stream.c) ---- */

/* One conversation: a session object and the Chunk/Finished subscription on it. */
typedef struct Stream {
        Client *client;
        char *path;
        sd_bus_slot *chunk_slot, *finished_slot;
        GenOptions options;

        /* the request in flight */
        bool in_flight, finished;
        uint64_t request; /* 0 until Prompt replied */
        uint64_t abandoned; /* a request given up on before its Finished arrived */
        char *reason;
        json_object *info;
        FILE *out;         /* where chunks go as they arrive; NULL: collect them into text */
        char *text;        /* collected text (out == NULL) */
        size_t n_text, text_allocated;
        bool wrote_any, ends_with_newline;
        int write_error;
} Stream;

Stream *stream_free(Stream *s);
static inline void stream_freep(Stream **s) {
        if (*s)
                stream_free(*s);
}
/* CreateSession with o and the subscription. Returns an exit code (message printed). */
int stream_open(Client *c, const GenOptions *o, Stream **ret);
/* What ask and chat do first: block SIGINT/SIGTERM (they are read from the loop), connect, and
 * open a stream. On success *ret_client and *ret_stream are set (the caller frees both); returns
 * an exit code (message printed). */
int stream_start(const GenOptions *o, Client **ret_client, Stream **ret_stream);
/* Closes the session (errors ignored) and drops the subscription; the object stays usable for
 * stream_reopen(). */
void stream_close(Stream *s);
/* Closes the session and creates a new one with the same options. Returns an exit code. */
int stream_reopen(Stream *s);

/* Sends one user turn and waits for its Finished, writing chunks to out as they arrive (or
 * collecting them into s->text when out is NULL). A first SIGINT/SIGTERM cancels the answer and
 * waits briefly for its Finished; a second gives up at once. timeout_usec bounds the whole answer
 * (UINT64_MAX: no bound). Returns an exit code: EXIT_OK for "stop" and "length", 128 + signal when
 * interrupted, otherwise the code of the failure, whose message is printed. */
int stream_prompt(Stream *s, const char *text, FILE *out, uint64_t timeout_usec);

/* Reads a property of the session: ContextUsage, ContextWindow (u). Returns an exit code. */
int stream_get_u32(Stream *s, const char *property, uint32_t *ret);

/* ---- output (output.c) ---- */

/* Reads the next complete value of m (any type) as JSON: numbers as numbers (64-bit ones
 * included), strings, arrays, a{..} dictionaries as objects, variants as their content, structs
 * as arrays. Non-finite doubles become null. */
int json_from_message(sd_bus_message *m, json_object **ret);
/* Prints one JSON document (pretty on a terminal, one line otherwise) and a newline. */
int json_print(json_object *o);
/* Typed lookups in a JSON object made by json_from_message; NULL or false when absent. */
const char *json_get_string(json_object *o, const char *key);
bool json_get_uint64(json_object *o, const char *key, uint64_t *ret);
bool json_get_double(json_object *o, const char *key, double *ret);
/* "1.5 GiB", "512 B" */
char *format_bytes(uint64_t bytes, char buf[static 32]);
/* The --stats lines: tokens, time to first token, speeds, finish reason, slice. */
void info_print_stats(FILE *f, json_object *info);
