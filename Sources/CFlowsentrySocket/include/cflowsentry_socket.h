#ifndef CFLOWSENTRY_SOCKET_H
#define CFLOWSENTRY_SOCKET_H

/* ioctl(2) is variadic, which Swift cannot call; these wrap the one request flowsentry needs. */

/* Bytes written to a TCP socket that its peer has not acknowledged yet (sent or not): SIOCOUTQ.
 * Returns 0 and sets *bytes, or -1 with errno set. */
int fs_socket_unacknowledged_bytes(int fd, int *bytes);

#endif
