#include "cflowsentry_socket.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

int fs_socket_unacknowledged_bytes(int fd, int *bytes) { return ioctl(fd, SIOCOUTQ, bytes); }
