/* UPower and power-profiles-daemon client (see bus-upower.h). Each service is followed by owner:
 * GetNameOwner first, then NameOwnerChanged; properties are asked of the unique name (so nothing
 * gets activated and an old owner's late answers are dropped with its call slots), and every
 * PropertiesChanged match is scoped by sender and exact path, then checked against the owner. */
#include "bus-upower.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "log.h"

#define DBUS_NAME "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

typedef enum Service {
        SERVICE_UPOWER,
        SERVICE_PPD,
        SERVICE_PPD_LEGACY,
        _SERVICE_MAX,
} Service;

static const struct {
        const char *name, *path, *interface;
} service_info[_SERVICE_MAX] = {
        [SERVICE_UPOWER] = { UPOWER_BUS_NAME, UPOWER_PATH, UPOWER_INTERFACE },
        [SERVICE_PPD] = { PPD_BUS_NAME, PPD_PATH, PPD_BUS_NAME },
        [SERVICE_PPD_LEGACY] = { PPD_LEGACY_BUS_NAME, PPD_LEGACY_PATH, PPD_LEGACY_BUS_NAME },
};

/* The userdata of everything that concerns one service. */
typedef struct Watch {
        BusUPower *u;
        Service s;
} Watch;

struct BusUPower {
        sd_bus *bus;
        bool own_bus;
        BusUPowerChanged changed;
        void *userdata;
        Watch watch[_SERVICE_MAX];

        sd_bus_slot *match_owner[_SERVICE_MAX], *match_props[_SERVICE_MAX], *match_display, *match_local;
        sd_bus_slot *owner_call[_SERVICE_MAX], *props_call[_SERVICE_MAX];
        sd_bus_slot *display_path_call, *display_props_call;
        char *owner[_SERVICE_MAX];              /* unique name; NULL: not on the bus */
        char *display_path;                     /* from GetDisplayDevice */
        bool settled, connected;

        /* What the services said. */
        bool on_battery_known, on_battery;
        bool present_known, present;
        bool percentage_known;
        double percentage;
        bool warning_known;
        uint32_t warning;
        bool profile_known[_SERVICE_MAX];
        PowerProfile profile[_SERVICE_MAX];

        PowerInputs reported;                   /* what the callback was last told about */
};

static bool pending_calls(const BusUPower *u) {
        for (Service s = 0; s < _SERVICE_MAX; s++)
                if (u->owner_call[s] || u->props_call[s])
                        return true;
        return u->display_path_call || u->display_props_call;
}

static bool inputs_equal(const PowerInputs *a, const PowerInputs *b) {
        return a->on_battery_known == b->on_battery_known && (!a->on_battery_known || a->on_battery == b->on_battery) &&
               a->percentage_known == b->percentage_known &&
               (!a->percentage_known || a->percentage == b->percentage) &&
               a->warning_level_known == b->warning_level_known &&
               (!a->warning_level_known || a->warning_level == b->warning_level) &&
               a->profile_known == b->profile_known && (!a->profile_known || a->profile == b->profile);
}

/* Tells the owner about changed inputs and about settling (or anything, with force); call at
 * the end of every handler. */
static void notify_full(BusUPower *u, bool force) {
        PowerInputs now = { 0 };
        bool tell = force;

        bus_upower_get_inputs(u, &now);
        if (!inputs_equal(&now, &u->reported)) {
                u->reported = now;
                tell = true;
        }
        if (!u->settled && !pending_calls(u)) {
                u->settled = true;
                tell = true;
        }
        if (tell && u->changed)
                u->changed(u->userdata);
}

static void notify(BusUPower *u) {
        notify_full(u, false);
}

static void service_forget(BusUPower *u, Service s) {
        u->owner_call[s] = sd_bus_slot_unref(u->owner_call[s]);
        u->props_call[s] = sd_bus_slot_unref(u->props_call[s]);
        u->profile_known[s] = false;
        if (s == SERVICE_UPOWER) {
                u->display_path_call = sd_bus_slot_unref(u->display_path_call);
                u->display_props_call = sd_bus_slot_unref(u->display_props_call);
                u->on_battery_known = u->present_known = u->percentage_known = u->warning_known = false;
        }
}

/* ---- property values ------------------------------------------------------------------------ */

/* Reads a variant of the given one-type signature into ret; returns 1, or 0 (skipped) when the
 * variant holds another type, negative on a malformed message. */
static int read_variant(sd_bus_message *m, const char *type, void *ret) {
        const char *contents;
        char t;

        int r = sd_bus_message_peek_type(m, &t, &contents);
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (t != SD_BUS_TYPE_VARIANT || !contents || strcmp(contents, type) != 0) {
                r = sd_bus_message_skip(m, "v");
                return r < 0 ? r : 0;
        }
        r = sd_bus_message_read(m, "v", type, ret);
        return r < 0 ? r : 1;
}

/* Consumes the value of one property of service s (SERVICE_UPOWER with device: the display
 * device) and remembers what it says. */
static int property_read(BusUPower *u, Service s, bool device, const char *key, sd_bus_message *m) {
        int b, r;

        if (s == SERVICE_UPOWER && !device && strcmp(key, "OnBattery") == 0) {
                r = read_variant(m, "b", &b);
                if (r > 0) {
                        u->on_battery_known = true;
                        u->on_battery = b;
                }
                return r;
        }
        if (s == SERVICE_UPOWER && device && strcmp(key, "IsPresent") == 0) {
                r = read_variant(m, "b", &b);
                if (r > 0) {
                        u->present_known = true;
                        u->present = b;
                }
                return r;
        }
        if (s == SERVICE_UPOWER && device && strcmp(key, "Percentage") == 0) {
                double d;
                r = read_variant(m, "d", &d);
                if (r > 0) {
                        u->percentage_known = d >= 0 && d <= 100; /* false for NaN */
                        u->percentage = u->percentage_known ? d : 0;
                }
                return r;
        }
        if (s == SERVICE_UPOWER && device && strcmp(key, "WarningLevel") == 0) {
                uint32_t v;
                r = read_variant(m, "u", &v);
                if (r > 0) {
                        u->warning_known = v >= POWER_WARNING_NONE && v <= POWER_WARNING_ACTION;
                        u->warning = v;
                }
                return r;
        }
        if (s != SERVICE_UPOWER && strcmp(key, "ActiveProfile") == 0) {
                const char *name;
                r = read_variant(m, "s", &name);
                if (r > 0) {
                        PowerProfile p = power_profile_from_string(name);
                        u->profile_known[s] = p >= 0;
                        u->profile[s] = p;
                        if (p < 0)
                                log_debug("%s: unknown ActiveProfile '%s', ignoring", service_info[s].name, name);
                }
                return r;
        }
        r = sd_bus_message_skip(m, "v");
        return r < 0 ? r : 0;
}

/* Reads an a{sv} of properties. */
static int properties_read(BusUPower *u, Service s, bool device, sd_bus_message *m) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = property_read(u, s, device, key, m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* ---- asking --------------------------------------------------------------------------------- */

static int on_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_display_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_display_path(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
static int on_display_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static int service_get_all(BusUPower *u, Service s) {
        u->props_call[s] = sd_bus_slot_unref(u->props_call[s]);
        return sd_bus_call_method_async(u->bus, &u->props_call[s], u->owner[s], service_info[s].path,
                                        PROPERTIES_INTERFACE, "GetAll", on_get_all, &u->watch[s], "s",
                                        service_info[s].interface);
}

static int display_get_all(BusUPower *u) {
        u->display_props_call = sd_bus_slot_unref(u->display_props_call);
        return sd_bus_call_method_async(u->bus, &u->display_props_call, u->owner[SERVICE_UPOWER], u->display_path,
                                        PROPERTIES_INTERFACE, "GetAll", on_display_props, u, "s",
                                        UPOWER_DEVICE_INTERFACE);
}

/* Starts reading everything of a service that has (just) got an owner. */
static int service_read(BusUPower *u, Service s) {
        int r = service_get_all(u, s);
        if (r < 0 || s != SERVICE_UPOWER)
                return r;
        u->display_path_call = sd_bus_slot_unref(u->display_path_call);
        return sd_bus_call_method_async(u->bus, &u->display_path_call, u->owner[s], UPOWER_PATH, UPOWER_INTERFACE,
                                        "GetDisplayDevice", on_display_path, u, "");
}

static int match_add(BusUPower *u, sd_bus_slot **slot, sd_bus_message_handler_t handler, void *userdata,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int match_add(BusUPower *u, sd_bus_slot **slot, sd_bus_message_handler_t handler, void *userdata,
                     const char *fmt, ...) {
        char *match;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&match, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = sd_bus_add_match_async(u->bus, slot, match, handler, NULL, userdata);
        free(match);
        return r;
}

/* ---- answers and signals -------------------------------------------------------------------- */

static const char *error_text(sd_bus_message *m) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        return e && e->message ? e->message : e && e->name ? e->name : "unknown error";
}

static int on_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusUPower *u = w->u;

        u->props_call[w->s] = sd_bus_slot_unref(u->props_call[w->s]);
        if (sd_bus_message_is_method_error(m, NULL))
                log_debug("%s: GetAll failed: %s", service_info[w->s].name, error_text(m));
        else if (properties_read(u, w->s, false, m) < 0)
                log_debug("%s: malformed GetAll reply, ignoring", service_info[w->s].name);
        notify(u);
        return 0;
}

static int on_display_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BusUPower *u = userdata;

        u->display_props_call = sd_bus_slot_unref(u->display_props_call);
        if (sd_bus_message_is_method_error(m, NULL))
                log_debug("%s: display device GetAll failed: %s", UPOWER_BUS_NAME, error_text(m));
        else if (properties_read(u, SERVICE_UPOWER, true, m) < 0)
                log_debug("%s: malformed display device properties, ignoring", UPOWER_BUS_NAME);
        notify(u);
        return 0;
}

static int on_display_path(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BusUPower *u = userdata;
        const char *path;
        int r;

        u->display_path_call = sd_bus_slot_unref(u->display_path_call);
        if (sd_bus_message_is_method_error(m, NULL)) {
                log_debug("%s: GetDisplayDevice failed: %s", UPOWER_BUS_NAME, error_text(m));
                goto finish;
        }
        r = sd_bus_message_read(m, "o", &path);
        if (r < 0) {
                log_debug("%s: malformed GetDisplayDevice reply, ignoring", UPOWER_BUS_NAME);
                goto finish;
        }
        if (!u->display_path || strcmp(u->display_path, path) != 0) {
                char *p = strdup(path);
                if (!p)
                        goto finish;
                free(u->display_path);
                u->display_path = p;
                u->match_display = sd_bus_slot_unref(u->match_display);
                r = match_add(u, &u->match_display, on_display_changed, u,
                              "type='signal',sender='%s',path='%s',interface='%s',member='PropertiesChanged',"
                              "arg0='%s'",
                              UPOWER_BUS_NAME, path, PROPERTIES_INTERFACE, UPOWER_DEVICE_INTERFACE);
                if (r < 0)
                        log_debug("%s: cannot watch '%s': %s", UPOWER_BUS_NAME, path, strerror(-r));
        }
        r = display_get_all(u);
        if (r < 0)
                log_debug("%s: cannot read '%s': %s", UPOWER_BUS_NAME, path, strerror(-r));
finish:
        notify(u);
        return 0;
}

/* PropertiesChanged(s interface, a{sv} changed, as invalidated) from service s. Returns 1 when
 * a property we read was invalidated (to be asked for again). */
static int changed_read(BusUPower *u, Service s, bool device, const char *interface, sd_bus_message *m) {
        const char *iface, *name;
        bool again = false;

        int r = sd_bus_message_read(m, "s", &iface);
        if (r < 0)
                return r;
        if (strcmp(iface, interface) != 0)
                return 0;
        r = properties_read(u, s, device, m);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "s", &name)) > 0)
                if (strcmp(name, "OnBattery") == 0 || strcmp(name, "Percentage") == 0 ||
                    strcmp(name, "WarningLevel") == 0 || strcmp(name, "IsPresent") == 0 ||
                    strcmp(name, "ActiveProfile") == 0)
                        again = true;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : again;
}

/* Whether m comes from the current owner of s (matches by well-known sender cannot be checked by
 * sd-bus itself). */
static bool from_owner(const BusUPower *u, Service s, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);
        return u->owner[s] && sender && strcmp(sender, u->owner[s]) == 0;
}

static bool path_is(sd_bus_message *m, const char *path) {
        const char *p = sd_bus_message_get_path(m);
        return p && strcmp(p, path) == 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusUPower *u = w->u;

        if (!from_owner(u, w->s, m) || !path_is(m, service_info[w->s].path))
                return 0;
        int r = changed_read(u, w->s, false, service_info[w->s].interface, m);
        if (r < 0)
                log_debug("%s: malformed PropertiesChanged, ignoring", service_info[w->s].name);
        else if (r > 0 && (r = service_get_all(u, w->s)) < 0)
                log_debug("%s: cannot read properties: %s", service_info[w->s].name, strerror(-r));
        notify(u);
        return 0;
}

static int on_display_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BusUPower *u = userdata;

        if (!from_owner(u, SERVICE_UPOWER, m) || !u->display_path ||
            !path_is(m, u->display_path))
                return 0;
        int r = changed_read(u, SERVICE_UPOWER, true, UPOWER_DEVICE_INTERFACE, m);
        if (r < 0)
                log_debug("%s: malformed display device PropertiesChanged, ignoring", UPOWER_BUS_NAME);
        else if (r > 0 && (r = display_get_all(u)) < 0)
                log_debug("%s: cannot read display device: %s", UPOWER_BUS_NAME, strerror(-r));
        notify(u);
        return 0;
}

/* A new owner (or none) for s. */
static void service_set_owner(BusUPower *u, Service s, const char *owner) {
        if (owner && !*owner)
                owner = NULL;
        if (!owner && !u->owner[s])
                return;
        if (owner && u->owner[s] && strcmp(owner, u->owner[s]) == 0)
                return;
        service_forget(u, s);
        free(u->owner[s]);
        u->owner[s] = owner ? strdup(owner) : NULL;
        if (owner && !u->owner[s])
                return;
        log_debug("%s: %s", service_info[s].name, owner ? "appeared" : "gone");
        if (owner) {
                int r = service_read(u, s);
                if (r < 0)
                        log_debug("%s: cannot read properties: %s", service_info[s].name, strerror(-r));
        }
}

static int on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusUPower *u = w->u;
        const char *owner;

        u->owner_call[w->s] = sd_bus_slot_unref(u->owner_call[w->s]);
        if (sd_bus_message_is_method_error(m, NULL)) {
                if (!sd_bus_message_is_method_error(m, "org.freedesktop.DBus.Error.NameHasNoOwner"))
                        log_debug("%s: GetNameOwner failed: %s", service_info[w->s].name, error_text(m));
        } else if (sd_bus_message_read(m, "s", &owner) >= 0)
                service_set_owner(u, w->s, owner);
        notify(u);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        BusUPower *u = w->u;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            strcmp(name, service_info[w->s].name) != 0)
                return 0;
        /* This supersedes a GetNameOwner still under way. */
        u->owner_call[w->s] = sd_bus_slot_unref(u->owner_call[w->s]);
        service_set_owner(u, w->s, new_owner);
        notify(u);
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BusUPower *u = userdata;

        log_debug("system bus connection lost");
        u->connected = false;
        for (Service s = 0; s < _SERVICE_MAX; s++) {
                service_forget(u, s);
                free(u->owner[s]);
                u->owner[s] = NULL;
        }
        notify_full(u, true);
        return 0;
}

/* ---- object --------------------------------------------------------------------------------- */

BusUPower *bus_upower_free(BusUPower *u) {
        if (!u)
                return NULL;
        for (Service s = 0; s < _SERVICE_MAX; s++) {
                service_forget(u, s);
                sd_bus_slot_unref(u->match_owner[s]);
                sd_bus_slot_unref(u->match_props[s]);
                free(u->owner[s]);
        }
        sd_bus_slot_unref(u->match_display);
        sd_bus_slot_unref(u->match_local);
        free(u->display_path);
        if (u->own_bus) {
                sd_bus_detach_event(u->bus);
                sd_bus_flush_close_unref(u->bus);
        } else
                sd_bus_unref(u->bus);
        free(u);
        return NULL;
}

int bus_upower_new(sd_event *event, sd_bus *bus, BusUPowerChanged changed, void *userdata, BusUPower **ret) {
        _cleanup_(bus_upower_freep) BusUPower *u = NULL;
        int r;

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->changed = changed;
        u->userdata = userdata;
        u->connected = true;
        for (Service s = 0; s < _SERVICE_MAX; s++)
                u->watch[s] = (Watch) { u, s };

        if (bus)
                u->bus = sd_bus_ref(bus);
        else {
                r = sd_bus_open_system(&u->bus);
                if (r < 0)
                        return r;
                u->own_bus = true;
                (void) sd_bus_set_exit_on_disconnect(u->bus, false);
                r = sd_bus_attach_event(u->bus, event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0)
                        return r;
        }

        r = sd_bus_match_signal(u->bus, &u->match_local, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, u);
        if (r < 0)
                return r;
        for (Service s = 0; s < _SERVICE_MAX; s++) {
                /* Matches first: the bus delivers in order, so nothing is missed between the
                 * GetNameOwner answer and the first signal. */
                r = match_add(u, &u->match_owner[s], on_name_owner_changed, &u->watch[s],
                              "type='signal',sender='" DBUS_NAME "',path='" DBUS_PATH "',interface='" DBUS_NAME
                              "',member='NameOwnerChanged',arg0='%s'",
                              service_info[s].name);
                if (r < 0)
                        return r;
                r = match_add(u, &u->match_props[s], on_properties_changed, &u->watch[s],
                              "type='signal',sender='%s',path='%s',interface='" PROPERTIES_INTERFACE
                              "',member='PropertiesChanged',arg0='%s'",
                              service_info[s].name, service_info[s].path, service_info[s].interface);
                if (r < 0)
                        return r;
                r = sd_bus_call_method_async(u->bus, &u->owner_call[s], DBUS_NAME, DBUS_PATH, DBUS_NAME,
                                             "GetNameOwner", on_name_owner, &u->watch[s], "s", service_info[s].name);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(u);
        return 0;
}

void bus_upower_get_inputs(const BusUPower *u, PowerInputs *in) {
        in->on_battery_known = u->on_battery_known;
        in->on_battery = u->on_battery_known && u->on_battery;
        in->percentage_known = u->present_known && u->present && u->percentage_known;
        in->percentage = in->percentage_known ? u->percentage : 0;
        in->warning_level_known = u->warning_known;
        in->warning_level = u->warning_known ? u->warning : POWER_WARNING_UNKNOWN;
        /* The current name first, the legacy one when that is all there is. */
        in->profile_known = false;
        in->profile = POWER_PROFILE_BALANCED;
        for (Service s = SERVICE_PPD; s <= SERVICE_PPD_LEGACY; s++)
                if (u->profile_known[s]) {
                        in->profile_known = true;
                        in->profile = u->profile[s];
                        break;
                }
}

bool bus_upower_settled(const BusUPower *u) {
        return u->settled;
}

bool bus_upower_connected(const BusUPower *u) {
        return u->connected;
}
