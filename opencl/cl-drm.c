/* Render nodes from libdrm, their match to OpenCL devices, and sysfs files found through them. */
#include "cl-drm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>

#include "base/alloc.h"

/* More DRM devices than this in one machine is not a configuration we serve. */
#define DRM_DEVICES_MAX 64

int cl_drm_nodes_list(ClDrmNode **ret, size_t *ret_n) {
        drmDevicePtr devs[DRM_DEVICES_MAX];
        _cleanup_free_ ClDrmNode *nodes = NULL;
        size_t n_nodes = 0;

        /* Without /dev/dri libdrm answers -ENOENT rather than 0: any count <= 0 means none. */
        int n = drmGetDevices2(0, devs, DRM_DEVICES_MAX);
        if (n <= 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        /* libdrm counts every device but fills (and hands over) at most the array's size. */
        n = MIN(n, DRM_DEVICES_MAX);
        nodes = new0(ClDrmNode, (size_t) n);
        if (!nodes) {
                drmFreeDevices(devs, n);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                const drmDevicePtr d = devs[i];
                ClDrmNode *node = &nodes[n_nodes];

                if (!(d->available_nodes & (1 << DRM_NODE_RENDER)) || !d->nodes[DRM_NODE_RENDER])
                        continue;
                if (strlen(d->nodes[DRM_NODE_RENDER]) >= sizeof(node->render_node))
                        continue;
                strcpy(node->render_node, d->nodes[DRM_NODE_RENDER]);
                if (d->bustype == DRM_BUS_PCI && d->businfo.pci) {
                        node->is_pci = true;
                        node->pci_domain = d->businfo.pci->domain;
                        node->pci_bus = d->businfo.pci->bus;
                        node->pci_device = d->businfo.pci->dev;
                        node->pci_function = d->businfo.pci->func;
                        if (d->deviceinfo.pci)
                                node->vendor_id = d->deviceinfo.pci->vendor_id;
                }
                n_nodes++;
        }
        drmFreeDevices(devs, n);
        if (n_nodes == 0) {
                free(nodes);
                nodes = NULL;
        }
        *ret = TAKE_PTR(nodes);
        *ret_n = n_nodes;
        return 0;
}

void cl_drm_match(ClDevice *devs, size_t n_devs, const ClDrmNode *nodes, size_t n_nodes) {
        for (size_t i = 0; i < n_devs; i++) {
                ClDevice *d = &devs[i];
                const ClDrmNode *found = NULL;

                d->drm_node[0] = '\0';
                if (d->is_cpu)
                        continue;
                if (d->has_pci) {
                        for (size_t j = 0; j < n_nodes && !found; j++)
                                if (nodes[j].is_pci && nodes[j].pci_domain == d->pci_domain &&
                                    nodes[j].pci_bus == d->pci_bus && nodes[j].pci_device == d->pci_device &&
                                    nodes[j].pci_function == d->pci_function)
                                        found = &nodes[j];
                } else if (d->vendor_id != 0) {
                        size_t n_same = 0;
                        for (size_t j = 0; j < n_nodes; j++)
                                if (nodes[j].is_pci && nodes[j].vendor_id == d->vendor_id) {
                                        found = &nodes[j];
                                        n_same++;
                                }
                        if (n_same != 1)
                                found = NULL;
                }
                if (found)
                        snprintf(d->drm_node, sizeof(d->drm_node), "%s", found->render_node);
        }
}

/* "renderD128" from "/dev/dri/renderD128"; NULL for anything else, so a node name never walks
 * out of /sys/class/drm. */
static const char *render_node_name(const char *render_node) {
        static const char prefix[] = "/dev/dri/";
        const char *name;

        if (!render_node || strncmp(render_node, prefix, sizeof(prefix) - 1) != 0)
                return NULL;
        name = render_node + sizeof(prefix) - 1;
        if (strncmp(name, "renderD", 7) != 0 || name[7] == '\0')
                return NULL;
        for (const char *p = name + 7; *p; p++)
                if (*p < '0' || *p > '9')
                        return NULL;
        return name;
}

static int copy_out(const char *s, char *buf, size_t n) {
        if (strlen(s) >= n)
                return -ENAMETOOLONG;
        strcpy(buf, s);
        return 0;
}

int cl_drm_driver_name(const char *sysfs_root, const char *render_node, char *buf, size_t n) {
        const char *name = render_node_name(render_node);
        char path[PATH_MAX], target[PATH_MAX];
        ssize_t len;

        if (!name)
                return -EINVAL;
        if (snprintf(path, sizeof(path), "%s/class/drm/%s/device/driver", sysfs_root, name) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        len = readlink(path, target, sizeof(target) - 1);
        if (len < 0)
                return -errno;
        target[len] = '\0';
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (!*base)
                return -ENOENT;
        return copy_out(base, buf, n);
}

int cl_drm_driver_name_ioctl(const char *render_node, char *buf, size_t n) {
        drmVersionPtr v;
        int fd, r;

        if (!render_node_name(render_node))
                return -EINVAL;
        fd = open(render_node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        v = drmGetVersion(fd);
        close(fd);
        if (!v)
                return -ENOENT;
        r = v->name && v->name_len > 0 ? copy_out(v->name, buf, n) : -ENOENT;
        drmFreeVersion(v);
        return r;
}

int cl_drm_hwmon_temp_path(const char *sysfs_root, const char *render_node, char *buf, size_t n) {
        const char *name = render_node_name(render_node);
        char dir_path[PATH_MAX], path[PATH_MAX];
        unsigned long best = ULONG_MAX;
        struct dirent *de;
        DIR *dir;

        if (!name)
                return -ENOENT;
        if (snprintf(dir_path, sizeof(dir_path), "%s/class/drm/%s/device/hwmon", sysfs_root, name) >=
            (int) sizeof(dir_path))
                return -ENAMETOOLONG;
        dir = opendir(dir_path);
        if (!dir)
                return -ENOENT;
        /* readdir order is arbitrary: take the lowest number so the answer is the same each time. */
        while ((de = readdir(dir))) {
                char *end;
                if (strncmp(de->d_name, "hwmon", 5) != 0 || de->d_name[5] < '0' || de->d_name[5] > '9')
                        continue;
                errno = 0;
                unsigned long m = strtoul(de->d_name + 5, &end, 10);
                if (errno || *end || m >= best)
                        continue;
                if (snprintf(path, sizeof(path), "%s/%s/temp1_input", dir_path, de->d_name) >= (int) sizeof(path))
                        continue;
                if (access(path, R_OK) == 0)
                        best = m;
        }
        closedir(dir);
        if (best == ULONG_MAX)
                return -ENOENT;
        if (snprintf(path, sizeof(path), "%s/hwmon%lu/temp1_input", dir_path, best) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        return copy_out(path, buf, n);
}
