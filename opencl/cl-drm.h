/* The DRM side of device discovery: render nodes from libdrm, matching them to OpenCL devices,
 * and the sysfs files found through a node (kernel driver, hwmon temperature). The matching is a
 * pure function and the sysfs root a parameter, so tests run them on made-up nodes and trees;
 * machines without /dev/dri simply have no nodes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl-device.h"

typedef struct ClDrmNode {
        bool is_pci;
        uint32_t pci_domain, pci_bus, pci_device, pci_function;
        uint32_t vendor_id;        /* PCI vendor id; 0 for non-PCI devices */
        char render_node[64];      /* "/dev/dri/renderD128" */
} ClDrmNode;

/* The DRM devices that have a render node, in libdrm's order. Returns 0 with *ret = NULL and
 * *ret_n = 0 when there are none (libdrm answers -ENOENT without /dev/dri); -ENOMEM. */
int cl_drm_nodes_list(ClDrmNode **ret, size_t *ret_n);

/* Sets drm_node of every non-CPU device that matches a node, and clears it for the others:
 * devices with PCI bus info match the node at the same address; devices without it match on
 * the PCI vendor id, but only when exactly one node has that vendor (one GPU of that make in the
 * machine), since guessing between two cards would point the thermal policy at the wrong one.
 * drm_driver is left to cl_drm_driver_name(). */
void cl_drm_match(ClDevice *devs, size_t n_devs, const ClDrmNode *nodes, size_t n_nodes);

/* The kernel driver behind render node (a /dev/dri/renderDN path): the last component of the
 * <sysfs_root>/class/drm/renderDN/device/driver link. Returns 0, -ENOENT, -EINVAL for a node
 * path that is not /dev/dri/renderDN, -ENAMETOOLONG when buf is too small. */
int cl_drm_driver_name(const char *sysfs_root, const char *render_node, char *buf, size_t n);

/* The same through the DRM_IOCTL_VERSION of the node itself (drmGetVersion), for kernels or
 * containers where the sysfs link is missing; needs permission to open the node. */
int cl_drm_driver_name_ioctl(const char *render_node, char *buf, size_t n);

/* <sysfs_root>/class/drm/renderDN/device/hwmon/hwmonM/temp1_input for the lowest M that has it
 * (see cl_device_hwmon_temp_path()). */
int cl_drm_hwmon_temp_path(const char *sysfs_root, const char *render_node, char *buf, size_t n);
