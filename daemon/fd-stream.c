/* FdStream: non-blocking text output to a client's fd (see fd-stream.h). */
#include "fd-stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/macro.h"

typedef enum FdKind {
        FD_KIND_FILE,
        FD_KIND_STREAM,               /* pipe, FIFO or character device, reopened non-blocking */
        FD_KIND_SOCKET,
} FdKind;

struct FdStream {
        sd_event *event;
        int fd;
        FdKind kind;
        size_t limit;
        char *buf;
        size_t len, cap;
        FdStreamStatus status;
        sd_event_source *io, *timer;
        void (*done)(FdStream *s, FdStreamStatus st, void *userdata);
        void *userdata;
};

int fd_stream_new(sd_event *event, int fd, size_t limit_bytes, FdStream **ret, DaemonError *err) {
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "The output is not an open file descriptor.");
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "The output file descriptor is not open for writing.");

        FdKind kind;
        int own = -1;
        if (S_ISREG(st.st_mode)) {
                kind = FD_KIND_FILE;
                own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        } else if (S_ISSOCK(st.st_mode)) {
                kind = FD_KIND_SOCKET;
                own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
                char path[64];
                kind = FD_KIND_STREAM;
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        } else {
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS,
                                        "The output must be a pipe, a socket, a terminal or a regular file.");
        }
        if (own < 0)
                return daemon_error_set(err, DAEMON_ERROR_INVALID_ARGS, "Cannot open the output for writing: %s",
                                        strerror(errno));

        FdStream *s = calloc(1, sizeof(*s));
        if (!s) {
                close(own);
                return daemon_error_set(err, DAEMON_ERROR_NO_MEMORY, "out of memory");
        }
        s->event = sd_event_ref(event);
        s->fd = own;
        s->kind = kind;
        s->limit = limit_bytes;
        *ret = s;
        return 0;
}

FdStream *fd_stream_free(FdStream *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        if (s->fd >= 0)
                close(s->fd);
        free(s->buf);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

FdStreamStatus fd_stream_status(const FdStream *s) {
        return s->status;
}

static void finish_drain(FdStream *s) {
        if (!s->done)
                return;
        void (*done)(FdStream *, FdStreamStatus, void *) = s->done;
        s->done = NULL;
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        done(s, s->status, s->userdata);
}

/* Writes as much of the buffer as the fd takes now. */
static void flush(FdStream *s) {
        while (s->len > 0 && s->status != FD_STREAM_CLOSED) {
                ssize_t n;
                if (s->kind == FD_KIND_SOCKET)
                        n = send(s->fd, s->buf, s->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                else
                        n = write(s->fd, s->buf, s->len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        s->status = FD_STREAM_CLOSED;
                        s->len = 0;
                        break;
                }
                memmove(s->buf, s->buf + n, s->len - (size_t) n);
                s->len -= (size_t) n;
        }
}

static int on_writable(sd_event_source *source, int fd, uint32_t revents, void *userdata);

static void watch(FdStream *s) {
        if (s->len == 0 || s->status == FD_STREAM_CLOSED) {
                if (s->io)
                        (void) sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
                return;
        }
        if (s->io) {
                (void) sd_event_source_set_enabled(s->io, SD_EVENT_ON);
                return;
        }
        if (sd_event_add_io(s->event, &s->io, s->fd, EPOLLOUT, on_writable, s) < 0)
                s->status = FD_STREAM_CLOSED;   /* cannot wait for it: treat as gone */
}

static int on_writable(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        FdStream *s = userdata;
        if (revents & (EPOLLERR | EPOLLHUP) && !(revents & EPOLLOUT))
                s->status = FD_STREAM_CLOSED;
        flush(s);
        if (s->status == FD_STREAM_SLOW && s->len <= s->limit)
                s->status = FD_STREAM_OK;
        watch(s);
        if (s->done && (s->len == 0 || s->status == FD_STREAM_CLOSED))
                finish_drain(s);
        return 0;
}

FdStreamStatus fd_stream_write(FdStream *s, const char *text, size_t len) {
        if (s->status == FD_STREAM_CLOSED || len == 0)
                return s->status;
        if (s->len + len > s->cap) {
                size_t cap = MAX(MAX(s->cap * 2, s->len + len), (size_t) 4096);
                char *p = realloc(s->buf, cap);
                if (!p) {
                        s->status = FD_STREAM_CLOSED;
                        return s->status;
                }
                s->buf = p;
                s->cap = cap;
        }
        memcpy(s->buf + s->len, text, len);
        s->len += len;
        flush(s);
        if (s->status != FD_STREAM_CLOSED && s->len > s->limit)
                s->status = FD_STREAM_SLOW;
        watch(s);
        return s->status;
}

static int on_drain_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        FdStream *s = userdata;
        if (s->status == FD_STREAM_OK)
                s->status = FD_STREAM_SLOW;
        finish_drain(s);
        return 0;
}

int fd_stream_drain(FdStream *s, uint64_t timeout_usec, void (*done)(FdStream *s, FdStreamStatus st, void *userdata),
                    void *userdata) {
        s->done = done;
        s->userdata = userdata;
        flush(s);
        if (s->len == 0 || s->status == FD_STREAM_CLOSED) {
                finish_drain(s);
                return 0;
        }
        watch(s);
        int r = sd_event_add_time_relative(s->event, &s->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_drain_timeout, s);
        if (r < 0) {
                s->status = FD_STREAM_SLOW;
                finish_drain(s);
        }
        return 0;
}
