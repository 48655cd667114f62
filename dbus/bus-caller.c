/* Who is calling: the caller's app id and whether it is sandboxed, from its credentials. The
 * desktop starts apps in systemd units whose names carry the app id (systemd's
 * DESKTOP_ENVIRONMENTS.md): app-flatpak-<id>-<n>.scope, snap.<name>.<app>-<uuid>.scope,
 * app-<launcher>-<id>-<n>.scope or app-<launcher>-<id>@<n>.service. A Flatpak sandbox also
 * shows /.flatpak-info in the caller's root. Unknown stays unknown: the caller then gets a
 * cache scope of its own connection when it asks for "app". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-internal.h"

static bool valid_app_id(const char *s, size_t n) {
        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!(c == '.' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                        return false;
        }
        return true;
}

/* "app-flatpak-org.foo.Bar-1234.scope" -> "org.foo.Bar"; "snap.firefox.firefox-….scope" ->
 * "snap.firefox". Returns a new string or NULL; *sandboxed for Flatpak and snap units. */
char *bus_app_id_from_unit(const char *unit, bool *sandboxed) {
        *sandboxed = false;
        if (!unit)
                return NULL;
        if (strncmp(unit, "snap.", 5) == 0) {
                const char *dot = strchr(unit + 5, '.');
                if (!dot || !valid_app_id(unit + 5, (size_t) (dot - unit - 5)))
                        return NULL;
                *sandboxed = true;
                return strndup(unit, (size_t) (dot - unit));
        }
        if (strncmp(unit, "app-", 4) != 0)
                return NULL;
        const char *launcher = unit + 4, *id = strchr(launcher, '-');
        if (!id)
                return NULL;
        id++;
        size_t n = strcspn(id, "-@");
        /* A unit without a launcher part ("app-org.foo.Bar-1.scope"): the id came first. */
        if (id[n] == '\0' || strncmp(id + n, ".scope", 6) == 0 || strncmp(id + n, ".service", 8) == 0) {
                id = launcher;
                n = strcspn(id, "-@");
        }
        if (!valid_app_id(id, n))
                return NULL;
        *sandboxed = strncmp(launcher, "flatpak-", 8) == 0;
        return strndup(id, n);
}

static bool has_flatpak_info(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/root/.flatpak-info", (int) pid);
        return access(path, F_OK) == 0;
}

void bus_identify_caller(sd_bus_message *m, RequestOptions *o) {
        sd_bus_creds *creds = NULL;
        const char *unit = NULL;
        pid_t pid = 0;
        bool sandboxed = false;

        if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_PID | SD_BUS_CREDS_USER_UNIT | SD_BUS_CREDS_AUGMENT, &creds) < 0)
                return;
        (void) sd_bus_creds_get_pid(creds, &pid);
        if (sd_bus_creds_get_user_unit(creds, &unit) >= 0) {
                free(o->caller_app);
                o->caller_app = bus_app_id_from_unit(unit, &sandboxed);
        }
        o->caller_sandboxed = sandboxed || (pid > 0 && has_flatpak_info(pid));
        sd_bus_creds_unref(creds);
}
