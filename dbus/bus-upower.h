/* Client of UPower and power-profiles-daemon on the system bus: OnBattery, the display device's
 * Percentage and WarningLevel, and ActiveProfile (org.freedesktop.UPower.PowerProfiles, else the
 * older net.hadess.PowerProfiles). Asynchronous on the sd-event loop; follows the services as they
 * come and go (NameOwnerChanged) and never activates them. A service that is absent leaves its
 * inputs unknown. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "power/power-policy.h"

#define UPOWER_BUS_NAME "org.freedesktop.UPower"
#define UPOWER_PATH "/org/freedesktop/UPower"
#define UPOWER_INTERFACE "org.freedesktop.UPower"
#define UPOWER_DEVICE_INTERFACE "org.freedesktop.UPower.Device"
#define PPD_BUS_NAME "org.freedesktop.UPower.PowerProfiles"
#define PPD_PATH "/org/freedesktop/UPower/PowerProfiles"
#define PPD_LEGACY_BUS_NAME "net.hadess.PowerProfiles"
#define PPD_LEGACY_PATH "/net/hadess/PowerProfiles"

typedef struct BusUPower BusUPower;

/* Runs on the event loop whenever an input bus_upower_get_inputs() reports changes, when the
 * first answers are all in (bus_upower_settled() turns true), and when the connection is lost. */
typedef void (*BusUPowerChanged)(void *userdata);

/* Starts watching. bus NULL: opens the system bus with sd_bus_open_system() (which honours
 * DBUS_SYSTEM_BUS_ADDRESS) and attaches it to event; otherwise takes a reference to bus, which
 * the caller has attached to event. Only sends messages here; every answer comes later through
 * the loop. Returns 0 and sets *ret; -ENOMEM, or the error of opening, attaching or sending
 * (*ret untouched). */
int bus_upower_new(sd_event *event, sd_bus *bus, BusUPowerChanged changed, void *userdata, BusUPower **ret);

/* Cancels every call and match; closes the bus if it opened it. Takes NULL, returns NULL. */
BusUPower *bus_upower_free(BusUPower *u);

static inline void bus_upower_freep(BusUPower **u) {
        if (*u)
                bus_upower_free(*u);
}

/* Writes on_battery, percentage (only while the display device is present), warning_level (1..5)
 * and profile into in, with their *_known flags; leaves the other fields of in alone. */
void bus_upower_get_inputs(const BusUPower *u, PowerInputs *in);

/* Whether every first question (who owns each name, then their properties) has been answered. */
bool bus_upower_settled(const BusUPower *u);

/* False once the bus connection was lost (all inputs are then unknown); free and create anew
 * to reconnect. */
bool bus_upower_connected(const BusUPower *u);
