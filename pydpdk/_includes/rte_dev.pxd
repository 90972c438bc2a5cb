# Declarations of rte_dev.h: device hotplug.
cdef extern from "rte_dev.h" nogil:
    int rte_dev_probe(const char *devargs)
    int rte_eal_hotplug_remove(const char *busname, const char *devname)
