/* FdStream: writes a request's text to a file descriptor a client handed over (GenerateToFd,
 * PromptToFd) without ever blocking the event thread. Pipes and terminals are reopened through
 * /proc/self/fd with O_NONBLOCK (a new open file description, so the client's own end keeps
 * its flags), sockets are written with MSG_DONTWAIT, regular files directly. Text the reader
 * does not take yet is buffered up to a limit; past it the stream is "slow". */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "daemon-error.h"

typedef struct FdStream FdStream;

typedef enum FdStreamStatus {
        FD_STREAM_OK,
        FD_STREAM_SLOW,               /* more than the limit is waiting for the reader */
        FD_STREAM_CLOSED,             /* the reader went away (EPIPE) or a write failed */
} FdStreamStatus;

/* Takes a borrowed fd (from a D-Bus message): checks it is writable and of a kind that can be
 * streamed to, then keeps its own descriptor. INVALID_ARGS otherwise. */
int fd_stream_new(sd_event *event, int fd, size_t limit_bytes, FdStream **ret, DaemonError *err);
FdStream *fd_stream_free(FdStream *s);

/* Queues text and writes what the fd takes now. Returns the stream's status. */
FdStreamStatus fd_stream_write(FdStream *s, const char *text, size_t len);
FdStreamStatus fd_stream_status(const FdStream *s);

/* Calls done once everything queued was written, the stream broke, or timeout_usec passed
 * (then the status is FD_STREAM_SLOW). */
int fd_stream_drain(FdStream *s, uint64_t timeout_usec, void (*done)(FdStream *s, FdStreamStatus st, void *userdata),
                    void *userdata);
