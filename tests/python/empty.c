/* A translation unit for the ctypes test library: everything comes from the static propel. */
