/* The D-Bus binding of gemmad: the Manager object, the session objects and their signals.
 * Created before the Manager (whose observer it provides), attached to it afterwards. */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

#define GEMMAD_BUS_NAME "org.gemmad.Gemmad1"
#define GEMMAD_MANAGER_PATH "/org/gemmad/Gemmad1"
#define GEMMAD_MANAGER_INTERFACE "org.gemmad.Gemmad1.Manager"
#define GEMMAD_SESSION_PREFIX "/org/gemmad/Gemmad1/session"
#define GEMMAD_SESSION_INTERFACE "org.gemmad.Gemmad1.Session"

typedef struct Bus Bus;

/* Registers the objects on bus (the name is requested by the caller). */
int bus_new(sd_bus *bus, const Config *config, const char *version, Bus **ret);
Bus *bus_free(Bus *b);

static inline void bus_freep(Bus **b) {
        if (*b)
                bus_free(*b);
}

/* The observer to give manager_new(); then bus_attach() the manager it made. */
ManagerObserver bus_observer(Bus *b);
void bus_attach(Bus *b, Manager *m);

/* Called when the manager has stopped (shutdown): replies to every call still waiting. */
void bus_on_stopped(Bus *b);
